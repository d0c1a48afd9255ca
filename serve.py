"""``python serve.py ARGS`` is ``deepprune serve ARGS`` for a checkout run without installing the console script.

The command lives in deepprune/serving/server.py.
"""

from deepprune.serving.server import main

if __name__ == "__main__":
    main()
