"""Measure a judge on labelled prefix pairs: ``python eval_judge.py judge=sbert data.test=FILE``.

The work happens in :func:`deepprune.runner.run_eval_judge`.
"""

from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from deepprune.runner import run_eval_judge


@hydra.main(config_path="conf", config_name="eval_judge", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run_eval_judge(cfg, Path(HydraConfig.get().runtime.output_dir))


if __name__ == "__main__":
    main()
