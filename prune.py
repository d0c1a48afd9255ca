"""Evaluate a pruning method: ``python prune.py method=deepprune judge=sbert data.traces=FILE``.

See README.md for the CLI contract; the work happens in :func:`deepprune.runner.run_prune`.
"""

from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from deepprune.cli import entry
from deepprune.runner import run_prune


@entry("prune")
def main(cfg: DictConfig) -> None:
    run_prune(cfg, Path(HydraConfig.get().runtime.output_dir))


if __name__ == "__main__":
    main()
