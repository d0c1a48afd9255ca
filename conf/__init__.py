"""The Hydra configs (one config group per folder), shipped in the package as ``deepprune.conf``."""

from pathlib import Path

# For code that composes a config itself (hydra.initialize_config_dir) rather than through a command.
CONFIG_DIR = Path(__file__).parent
