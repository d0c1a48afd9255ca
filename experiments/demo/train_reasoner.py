"""Train the demo's tiny reasoner from scratch and export the selected checkpoint.

python -m experiments.demo.train_reasoner                      # writes deepprune/assets/tiny_reasoner
python -m experiments.demo.train_reasoner trainer.max_steps=3 output_dir=/tmp/reasoner
"""

from __future__ import annotations

import hydra
import pytorch_lightning as pl
import torch
from hydra.utils import instantiate, to_absolute_path
from omegaconf import DictConfig

from experiments.demo.reasoner import ReasonerModule, build_tokenizer, save_reasoner


@hydra.main(config_path="conf", config_name="reasoner", version_base=None)
def main(cfg: DictConfig) -> None:
    pl.seed_everything(cfg.seed, workers=True)
    if cfg.torch_threads:
        # On a shared CPU one intra-op thread is ~3x faster per step than two that wait on each other.
        torch.set_num_threads(cfg.torch_threads)
    tokenizer = build_tokenizer()
    datamodule = instantiate(cfg.data, tokenizer=tokenizer)
    module = instantiate(cfg.module, tokenizer=tokenizer)
    checkpoint = instantiate(cfg.checkpoint)
    trainer = instantiate(cfg.trainer, callbacks=[checkpoint])
    # ckpt_path resumes a run (weights, optimizer, schedule position, step count) to a larger max_steps.
    trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.ckpt_path)
    # Without any validation (very short runs) there is nothing to rank: export the final weights.
    if checkpoint.best_model_path:
        module = ReasonerModule.load_from_checkpoint(checkpoint.best_model_path, tokenizer=tokenizer)
        print(f"selected {checkpoint.best_model_path} (target gap {checkpoint.best_model_score:.3f})")
    out = save_reasoner(module.model, tokenizer, to_absolute_path(cfg.output_dir))
    print(f"saved reasoner to {out}")


if __name__ == "__main__":
    main()
