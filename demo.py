"""``python demo.py ARGS`` is ``deepprune demo ARGS`` for a checkout run without installing the console script.

The command lives in deepprune/commands/demo.py.
"""

from deepprune.commands.demo import main

if __name__ == "__main__":
    main()
