"""Recipes: how the shipped assets were made (``demo/``), run from the repository root with ``python -m``."""
