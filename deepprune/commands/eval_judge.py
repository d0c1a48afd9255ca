"""``deepprune eval-judge``: measure a judge on labelled prefix pairs.

    deepprune eval-judge judge=sbert data.test=FILE

The work happens in :func:`deepprune.runner.run_eval_judge`.
"""

from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from deepprune.commands.entry import entry
from deepprune.runner import run_eval_judge


@entry("eval_judge")
def main(cfg: DictConfig) -> None:
    run_eval_judge(cfg, Path(HydraConfig.get().runtime.output_dir))


if __name__ == "__main__":
    main()
