"""``deepprune train``: train a DeepPrune judge on trace-prefix pairs.

    deepprune train data.train=TRACES.jsonl [data.test=... | data.test_fraction=0.2] [judge=minilm|tiny_qwen3|qwen3_4b]
        [loss=focal|bce|weighted_bce] [sampler=oversample|none] [trainer=cpu|gpu|ddp|ddp_cpu]
        [logger=none|csv|tensorboard|wandb] [truncation=first_tokens truncation.k=64] [ckpt_path=...]

Writes checkpoints/, judge/ (exported judge for judge=trained) and metrics.json to the Hydra run dir.
"""

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from deepprune.commands.entry import entry


@entry("train")
def main(cfg: DictConfig) -> None:
    from deepprune.training.export import check_checkpoint
    from deepprune.training.run import train

    if cfg.get("ckpt_path"):
        check_checkpoint(str(cfg.ckpt_path))
    train(cfg, HydraConfig.get().runtime.output_dir)


if __name__ == "__main__":
    main()
