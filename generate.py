"""Sample a trace dataset with vLLM: ``python generate.py model=... benchmark=... n=512 [out=FILE]``.

See docs/vllm.md; the work happens in :func:`deepprune.generation.run_generation`.
"""

import hydra
from omegaconf import DictConfig

from deepprune.generation import run_generation


@hydra.main(config_path="conf", config_name="generate", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run_generation(cfg)


if __name__ == "__main__":
    main()
