"""``python generate.py ARGS`` is ``deepprune generate ARGS`` for a checkout run without installing the console script.

The command lives in deepprune/commands/generate.py.
"""

from deepprune.commands.generate import main

if __name__ == "__main__":
    main()
