"""``train.py`` logic: build the judge, loss, data, loggers, callbacks and trainer from their ``_target_``
configs; fit, test, export."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.loggers import WandbLogger

from deepprune.build import build_callbacks, build_loggers, build_trainer
from deepprune.config_checks import check_entry_config
from deepprune.data.io import atomic_write_json
from deepprune.instantiate import build
from deepprune.judges.networks import JudgeModel
from deepprune.report.loggers import wandb_group, wandb_mode
from deepprune.training.datamodule import JudgeDataModule
from deepprune.training.export import claim_judge_dir, export_judge
from deepprune.training.module import JudgeModule

log = logging.getLogger(__name__)


def wandb_logger(
    project: str, entity: str | None, group: str | None, tags: list[str], mode: str, save_dir: str
) -> WandbLogger:
    """``logger=wandb``: offline unless an API key is available (``mode: auto``); a multirun's jobs share a group."""
    if mode not in ("auto", "online", "offline"):
        raise ValueError(f"logger.mode must be auto, online or offline, got {mode!r}")
    return WandbLogger(
        project=project,
        entity=entity,
        group=wandb_group(group),
        tags=list(tags),
        save_dir=save_dir,
        offline=wandb_mode(mode) == "offline",
    )


def train(cfg: DictConfig, run_dir: str | Path) -> dict[str, Any]:
    """Fit a judge, validate the best checkpoint, test it when there is a test split, export it.

    Returns (and writes to ``run_dir/metrics.json`` on rank 0) the headline metrics.
    """
    check_entry_config(cfg)
    run_dir = Path(run_dir)
    started = time.perf_counter()
    cfg = cfg.copy()
    with open_dict(cfg):
        cfg.output_dir = str(run_dir)  # what ${output_dir} (checkpoints, generated models) resolves to
    claim_judge_dir(run_dir)  # a judge/ this project did not write fails now, not at export after training
    # Built first: missing weights fail before anything else starts.
    net = build(cfg.judge)
    if not isinstance(net, JudgeModel):
        raise ValueError(
            f"judge={cfg.judge.get('_target_')} is not trainable: train.py needs a judge model "
            "(judge=minilm, bi_encoder, qwen3_4b or tiny_qwen3)"
        )
    truncation, checker = build(cfg.truncation), build(cfg.benchmark.answer)
    pl.seed_everything(int(cfg.seed), workers=True)
    loggers = build_loggers(cfg, run_dir)
    callbacks = build_callbacks(cfg, loggers)
    trainer = build_trainer(cfg, run_dir, loggers, callbacks)
    optimizer = OmegaConf.masked_copy(cfg.optimizer, [k for k in cfg.optimizer if k != "head_lr"])
    groups = ("judge", "truncation", "loss", "sampler", "optimizer", "scheduler")
    module = JudgeModule(
        net,
        build(cfg.loss),
        instantiate(optimizer),
        instantiate(cfg.scheduler),
        head_lr=cfg.optimizer.head_lr,
        hparams={key: OmegaConf.to_container(cfg[key], resolve=True) for key in groups},
        plot_dir=str(run_dir),
    )
    sampler = instantiate(cfg.sampler) if "_target_" in cfg.sampler else None
    datamodule = JudgeDataModule(cfg.data, truncation, checker, net.collator(), sampler)
    # Checkpoints hold tensors and plain containers only: never unpickle arbitrary objects.
    trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.ckpt_path, weights_only=True)
    # Evaluate and export the best checkpoint by val/auroc (the last one when none was saved).
    checkpoint = trainer.checkpoint_callback
    best = "best" if isinstance(checkpoint, ModelCheckpoint) and checkpoint.best_model_path else None
    trainer.validate(module, datamodule=datamodule, ckpt_path=best, verbose=False, weights_only=True)
    if datamodule.has_test:
        trainer.test(module, datamodule=datamodule, ckpt_path=None, verbose=False)
    results = dict(module.results)
    metrics: dict[str, Any] = {
        "val/auroc": results.get("val/auroc"),
        "test/auroc": results.get("test/auroc"),
        "test/ap": results.get("test/ap"),
        "test/tnr@fnr0.2": results.get("test/tnr@fnr0.2"),
        "test/threshold@fnr0.2": results.get("test/threshold@fnr0.2"),
        "train_pairs": len(datamodule.examples["train"]),
        "val_pairs": len(datamodule.examples["val"]),
        "test_pairs": len(datamodule.examples["test"]),
        "problems": datamodule.num_problems,
        # data.on_error=skip: what was left out of the splits, and why.
        "skipped_records": datamodule.read_stats.skipped,
        "skipped_errors": datamodule.read_stats.errors,
        "best_checkpoint": (checkpoint.best_model_path or None) if isinstance(checkpoint, ModelCheckpoint) else None,
        "global_step": trainer.global_step,
        "world_size": trainer.world_size,
        "all": results,
    }
    if trainer.is_global_zero:
        judge_cfg = OmegaConf.to_container(cfg.judge, resolve=True)
        metrics["export"] = str(export_judge(net, judge_cfg, truncation, run_dir, results))
        metrics["seconds"] = round(time.perf_counter() - started, 1)
        atomic_write_json(run_dir / "metrics.json", metrics)
        for logger in loggers:
            if isinstance(logger, WandbLogger):
                roc = run_dir / "roc_test.png"
                if roc.exists():
                    logger.log_image("test/roc_curve", [str(roc)])
                logger.experiment.summary.update({k: v for k, v in metrics.items() if isinstance(v, int | float)})
                # Close the run so the offline files (summary, history) are complete for `wandb sync`.
                logger.experiment.finish()
        log.info("metrics: %s", {k: v for k, v in metrics.items() if k != "all"})
    return metrics
