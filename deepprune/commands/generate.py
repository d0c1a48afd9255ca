"""``deepprune generate``: sample a trace dataset with vLLM.

    deepprune generate model=... benchmark=... n=512 [out=FILE]

See docs/vllm.md; the work happens in :func:`deepprune.generation.run_generation`.
"""

from omegaconf import DictConfig

from deepprune.commands.entry import entry
from deepprune.generation import run_generation


@entry("generate")
def main(cfg: DictConfig) -> None:
    run_generation(cfg)


if __name__ == "__main__":
    main()
