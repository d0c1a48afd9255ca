"""``python -m deepprune COMMAND ...`` is the ``deepprune`` console script."""

from deepprune.commands import main

main()
