"""``python eval_judge.py ARGS`` is ``deepprune eval-judge ARGS``, for a checkout run without the console script.

The command lives in deepprune/commands/eval_judge.py.
"""

from deepprune.commands.eval_judge import main

if __name__ == "__main__":
    main()
