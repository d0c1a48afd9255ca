"""``train.py`` logic: build data, module, logger and trainer from the Hydra config; fit, test, export."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf, open_dict
from pytorch_lightning.callbacks import LearningRateMonitor, ModelCheckpoint
from pytorch_lightning.loggers import CSVLogger, Logger, TensorBoardLogger, WandbLogger

from deepprune.data.io import atomic_write_json
from deepprune.report.loggers import wandb_group, wandb_mode
from deepprune.training.backbones import make_tiny_qwen3, resolve_model_path
from deepprune.training.datamodule import JudgeDataModule
from deepprune.training.export import export_judge
from deepprune.training.module import JudgeModule

log = logging.getLogger(__name__)

# Keys of conf/trainer/*.yaml that are ours, not pl.Trainer arguments.
_OWN_TRAINER_KEYS = ("threads", "process_group_backend")


def prepare_judge(cfg: DictConfig, run_dir: Path) -> None:
    """Fail fast on missing weights; create the tiny Qwen3 of ``judge=tiny_qwen3`` (sets ``judge.path``)."""
    judge = cfg.judge
    if judge.get("backbone") not in ("encoder", "decoder"):
        raise ValueError(
            f"judge={judge.get('name')!r} is not trainable: train.py needs judge.backbone=encoder|decoder "
            "(judge=minilm, qwen3_4b or tiny_qwen3)"
        )
    if judge.get("tiny"):
        with open_dict(judge):
            judge.path = judge.path or make_tiny_qwen3(
                run_dir / "tiny_qwen3", seed=int(cfg.seed), hidden_size=int(judge.tiny.hidden_size),
                num_layers=int(judge.tiny.num_layers),
            )
    resolve_model_path(judge.get("path"))


def build_logger(cfg: DictConfig, run_dir: Path) -> Logger | bool:
    """``logger.name``: none | csv | tensorboard | wandb (offline unless WANDB_API_KEY is set, mode auto)."""
    name = cfg.logger.name
    if name == "none":
        return False
    if name == "csv":
        return CSVLogger(save_dir=str(run_dir), name="csv")
    if name == "tensorboard":
        return TensorBoardLogger(save_dir=str(run_dir), name="tensorboard")
    if name == "wandb":
        mode = cfg.logger.get("mode", "auto")
        if mode not in ("auto", "online", "offline"):
            raise ValueError(f"logger.mode must be auto, online or offline, got {mode!r}")
        return WandbLogger(
            project=cfg.logger.project,
            entity=cfg.logger.get("entity"),
            group=wandb_group(cfg),
            tags=list(cfg.logger.get("tags") or []),
            save_dir=str(run_dir),
            offline=wandb_mode(mode) == "offline",
            config=OmegaConf.to_container(cfg, resolve=True),
        )
    raise ValueError(f"unknown logger.name={name!r}: expected none, csv, tensorboard or wandb")


def build_trainer(cfg: DictConfig, run_dir: Path, logger: Logger | bool) -> tuple[pl.Trainer, ModelCheckpoint]:
    """``pl.Trainer`` from ``conf/trainer`` with best/last checkpoints by ``val/auroc``."""
    options = {k: v for k, v in OmegaConf.to_container(cfg.trainer, resolve=True).items() if k not in _OWN_TRAINER_KEYS}
    if cfg.trainer.get("threads"):
        torch.set_num_threads(int(cfg.trainer.threads))
    if cfg.trainer.get("process_group_backend"):
        from pytorch_lightning.strategies import DDPStrategy

        if options.get("strategy") != "ddp":
            raise ValueError("trainer.process_group_backend needs trainer.strategy=ddp")
        options["strategy"] = DDPStrategy(process_group_backend=cfg.trainer.process_group_backend)
    checkpoint = ModelCheckpoint(
        dirpath=str(run_dir / "checkpoints"),
        filename="best-epoch{epoch}-step{step}",
        auto_insert_metric_name=False,  # "val/auroc" would otherwise become a sub-directory
        monitor="val/auroc",
        mode="max",
        save_top_k=1,
        save_last=True,
    )
    callbacks: list[pl.Callback] = [checkpoint]
    if logger:
        callbacks.append(LearningRateMonitor(logging_interval="step"))
    trainer = pl.Trainer(logger=logger, callbacks=callbacks, default_root_dir=str(run_dir), **options)
    return trainer, checkpoint


def train(cfg: DictConfig, run_dir: str | Path) -> dict[str, Any]:
    """Fit a judge, validate the best checkpoint, test it when there is a test split, export it.

    Returns (and writes to ``run_dir/metrics.json`` on rank 0) the headline metrics.
    """
    run_dir = Path(run_dir)
    started = time.perf_counter()
    prepare_judge(cfg, run_dir)
    pl.seed_everything(int(cfg.seed), workers=True)
    logger = build_logger(cfg, run_dir)
    trainer, checkpoint = build_trainer(cfg, run_dir, logger)
    groups = ("judge", "loss", "optimizer", "scheduler")
    module = JudgeModule({key: OmegaConf.to_container(cfg[key], resolve=True) for key in groups}, str(run_dir))
    collate = module.backbone.collator()
    datamodule = JudgeDataModule(cfg.data, cfg.truncation, cfg.benchmark.answer, collate, cfg.sampler)
    # Checkpoints hold tensors and plain containers only: never unpickle arbitrary objects.
    trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"), weights_only=True)
    # Evaluate and export the best checkpoint by val/auroc (the last one when none was saved).
    best = "best" if checkpoint.best_model_path else None
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
        "best_checkpoint": checkpoint.best_model_path or None,
        "global_step": trainer.global_step,
        "world_size": trainer.world_size,
        "all": results,
    }
    if trainer.is_global_zero:
        metrics["export"] = str(export_judge(module.backbone, cfg.judge, cfg.truncation, run_dir, results))
        metrics["seconds"] = round(time.perf_counter() - started, 1)
        atomic_write_json(run_dir / "metrics.json", metrics)
        if isinstance(logger, WandbLogger):
            roc = run_dir / "roc_test.png"
            if roc.exists():
                logger.log_image("test/roc_curve", [str(roc)])
            logger.experiment.summary.update({k: v for k, v in metrics.items() if isinstance(v, int | float)})
            # Close the run so the offline files (summary, history) are complete for `wandb sync`.
            logger.experiment.finish()
        log.info("metrics: %s", {k: v for k, v in metrics.items() if k != "all"})
    return metrics
