"""Training progress in logs: when output is not a terminal (a batch job, a redirected log), Lightning's bar is
one ever-growing line of carriage returns; this callback logs a line every ``every_percent`` of the steps."""

from __future__ import annotations

import logging
import sys
import time

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback

from deepprune.config_checks import check_range

log = logging.getLogger(__name__)


class ProgressLog(Callback):
    """Log ``step i/N (p%), loss, elapsed, eta`` every ``every_percent`` of ``trainer.estimated_stepping_batches``.

    Args:
        every_percent: how often, in percent of the run's steps.
        only_without_terminal: stay quiet when stderr is a terminal (the progress bar shows it there).
    """

    def __init__(self, every_percent: float = 10.0, only_without_terminal: bool = True) -> None:
        self.every = check_range("callbacks.progress_log.every_percent", every_percent, 0, 100, low_open=True)
        self.only_without_terminal = only_without_terminal
        self._next = self.every
        self._started = 0.0

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._started = time.perf_counter()
        done = 100.0 * trainer.global_step / max(trainer.estimated_stepping_batches, 1)
        self._next = (done // self.every + 1) * self.every  # a resumed run continues from its step

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: object) -> None:
        if not trainer.is_global_zero or (self.only_without_terminal and sys.stderr.isatty()):
            return
        total = max(int(trainer.estimated_stepping_batches), 1)
        percent = 100.0 * trainer.global_step / total
        if percent + 1e-9 < self._next and trainer.global_step < total:
            return
        self._next = (percent // self.every + 1) * self.every
        elapsed = time.perf_counter() - self._started
        loss = trainer.callback_metrics.get("train/loss")
        eta = elapsed * (total - trainer.global_step) / max(trainer.global_step, 1)
        log.info(
            "step %d/%d (%.0f%%)%s, %.0f s elapsed, ~%.0f s left",
            trainer.global_step,
            total,
            percent,
            f", train/loss {float(loss):.4f}" if loss is not None else "",
            elapsed,
            eta,
        )
