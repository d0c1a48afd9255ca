"""Evaluate a pruning method: ``python prune.py method=deepprune judge=sbert data.traces=FILE``.

See README.md for the CLI contract; the work happens in :func:`deepprune.runner.run_prune`.
"""

from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from deepprune.runner import run_prune


@hydra.main(config_path="conf", config_name="prune", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run_prune(cfg, Path(HydraConfig.get().runtime.output_dir))


if __name__ == "__main__":
    main()
