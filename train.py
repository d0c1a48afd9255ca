"""``python train.py ARGS`` is ``deepprune train ARGS`` for a checkout run without installing the console script.

The command lives in deepprune/commands/train.py.
"""

from deepprune.commands.train import main

if __name__ == "__main__":
    main()
