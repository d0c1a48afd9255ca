"""``python prune.py ARGS`` is ``deepprune prune ARGS`` for a checkout run without installing the console script.

The command lives in deepprune/commands/prune.py.
"""

from deepprune.commands.prune import main

if __name__ == "__main__":
    main()
