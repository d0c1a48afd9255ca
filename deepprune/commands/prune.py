"""``deepprune prune``: evaluate a pruning method on a trace file (replay) or live (``engine=vllm|vllm_cpu``).

    deepprune prune data.traces=FILE method=deepprune judge=sbert [truncation.k=64] [benchmark=...]

See README.md for the CLI contract; the work happens in :func:`deepprune.runner.run_prune`.
"""

from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from deepprune.commands.entry import entry
from deepprune.runner import run_prune


@entry("prune")
def main(cfg: DictConfig) -> None:
    run_prune(cfg, Path(HydraConfig.get().runtime.output_dir))


if __name__ == "__main__":
    main()
