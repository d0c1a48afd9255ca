"""LightningModule for judge training: judge model + loss + optimizer/scheduler + pair metrics."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn
from torchmetrics.classification import (
    BinaryAccuracy,
    BinaryAUROC,
    BinaryAveragePrecision,
    BinaryF1Score,
    BinaryROC,
)

from deepprune.judges.networks import JudgeModel
from deepprune.report.judge_metrics import plot_roc, tnr_at_fnr

log = logging.getLogger(__name__)


class PairMetrics(nn.Module):
    """AUROC, AP, TNR@FNR=0.2 (+ threshold), accuracy and F1 at 0.5; synced across DDP ranks."""

    def __init__(self) -> None:
        super().__init__()
        self.auroc, self.ap, self.roc = BinaryAUROC(), BinaryAveragePrecision(), BinaryROC()
        self.accuracy, self.f1 = BinaryAccuracy(threshold=0.5), BinaryF1Score(threshold=0.5)

    def update(self, probabilities: torch.Tensor, labels: torch.Tensor) -> None:
        targets = labels.long()
        for metric in (self.auroc, self.ap, self.roc, self.accuracy, self.f1):
            metric.update(probabilities, targets)

    def compute(self) -> tuple[dict[str, float], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        fpr, tpr, thresholds = self.roc.compute()
        tnr, threshold = tnr_at_fnr(fpr, tpr, thresholds)
        values = {
            "auroc": float(self.auroc.compute()),
            "ap": float(self.ap.compute()),
            "tnr@fnr0.2": tnr,
            "threshold@fnr0.2": threshold,
            "acc@0.5": float(self.accuracy.compute()),
            "f1@0.5": float(self.f1.compute()),
        }
        return values, (fpr, tpr, thresholds)

    def reset(self) -> None:
        for metric in (self.auroc, self.ap, self.roc, self.accuracy, self.f1):
            metric.reset()


def warmup_schedule(
    optimizer: torch.optim.Optimizer, num_training_steps: int, name: str, warmup_ratio: float
) -> torch.optim.lr_scheduler.LRScheduler:
    """``transformers.get_scheduler(name)``, ``warmup_ratio`` of the steps as warmup (``conf/scheduler``)."""
    from transformers import get_scheduler

    warmup = int(round(warmup_ratio * num_training_steps))
    return get_scheduler(name, optimizer, num_warmup_steps=warmup, num_training_steps=num_training_steps)


class JudgeModule(pl.LightningModule):
    """Trains a judge model on prefix pairs (the network passed in, lightning-hydra-template style).

    Args:
        net: the judge model (:class:`deepprune.judges.networks.JudgeModel`).
        loss: loss on (logits, labels) (``conf/loss``).
        optimizer: ``params -> Optimizer`` (``conf/optimizer``, ``_partial_``).
        scheduler: ``(optimizer, num_training_steps) -> LRScheduler`` (``conf/scheduler``, ``_partial_``).
        head_lr: learning rate of the head's parameter group; None = the optimizer's.
        hparams: the run's config as plain containers, saved in checkpoints (which load with weights_only).
        plot_dir: where the test ROC curve PNG goes (none when null).
    """

    def __init__(
        self,
        net: JudgeModel,
        loss: nn.Module,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., torch.optim.lr_scheduler.LRScheduler],
        head_lr: float | None,
        hparams: dict[str, Any],
        plot_dir: str | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(hparams)
        self.net, self.loss_fn = net, loss
        self.optimizer_factory, self.scheduler_factory, self.head_lr = optimizer, scheduler, head_lr
        self.val_metrics, self.test_metrics = PairMetrics(), PairMetrics()
        self.plot_dir = Path(plot_dir) if plot_dir else None
        self.results: dict[str, float] = {}
        # LoRA checkpoints hold only the trained weights (adapter + head), so resuming loads non-strictly.
        self.strict_loading = not self.net.uses_lora
        # from_pretrained returns eval-mode modules and Lightning keeps module modes: enable dropout.
        self.train()
        trainable = sum(p.numel() for p in self.parameters() if p.requires_grad)
        total = sum(p.numel() for p in self.parameters())
        log.info("judge %s: %d trainable / %d parameters", type(net).__name__, trainable, total)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.net(batch)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        logits = self(batch)
        loss = self.loss_fn(logits, batch["labels"])
        self.log("train/loss", loss, prog_bar=True, batch_size=len(logits))
        return loss

    def _eval_step(self, batch: dict[str, torch.Tensor], metrics: PairMetrics, stage: str) -> None:
        logits = self(batch)
        self.log(f"{stage}/loss", self.loss_fn(logits, batch["labels"]), batch_size=len(logits), sync_dist=True)
        metrics.update(torch.sigmoid(logits.float()), batch["labels"])

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._eval_step(batch, self.val_metrics, "val")

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._eval_step(batch, self.test_metrics, "test")

    def _log_epoch(self, metrics: PairMetrics, stage: str) -> tuple[dict[str, float], Any]:
        values, curve = metrics.compute()  # already gathered over ranks by torchmetrics
        metrics.reset()
        for name, value in values.items():
            self.log(f"{stage}/{name}", value, prog_bar=name == "auroc", sync_dist=True)
        self.results.update({f"{stage}/{k}": v for k, v in values.items()})
        return values, curve

    def on_validation_epoch_end(self) -> None:
        self._log_epoch(self.val_metrics, "val")

    def on_test_epoch_end(self) -> None:
        values, (fpr, tpr, _) = self._log_epoch(self.test_metrics, "test")
        if self.plot_dir is not None and self.trainer.is_global_zero:
            plot_roc(fpr, tpr, values["auroc"], values["tnr@fnr0.2"], self.plot_dir / "roc_test.png", "test ROC")

    def configure_optimizers(self) -> dict[str, Any]:
        head_params = list(self.net.head.parameters()) if self.net.head is not None else []
        head_ids = {id(p) for p in head_params}
        body = [p for p in self.parameters() if p.requires_grad and id(p) not in head_ids]
        # The head starts from random init; LoRA runs may want it faster than the adapter (optimizer.head_lr).
        head_group: dict[str, Any] = {"params": head_params}
        if self.head_lr is not None:
            head_group["lr"] = float(self.head_lr)
        optimizer = self.optimizer_factory(params=[g for g in ({"params": body}, head_group) if g["params"]])
        scheduler = self.scheduler_factory(optimizer, num_training_steps=int(self.trainer.estimated_stepping_batches))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if self.net.uses_lora:
            # A Qwen3-4B base is 8 GB: keep the adapter and head only, the base is reloaded from judge.path.
            trainable = {name for name, p in self.named_parameters() if p.requires_grad}
            checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if k in trainable}
