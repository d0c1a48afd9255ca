"""Training progress when output is not a terminal: one log line every 10% of the steps (a real Lightning run)."""

from __future__ import annotations

import logging

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from deepprune.training.progress import ProgressLog


class Linear(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.layer(x), y)
        self.log("train/loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_a_line_every_ten_percent_of_the_steps(tmp_path, caplog):
    data = DataLoader(TensorDataset(torch.randn(40, 2), torch.randn(40, 1)), batch_size=2)  # 20 steps
    trainer = pl.Trainer(
        max_epochs=1, callbacks=[ProgressLog(every_percent=10, only_without_terminal=False)], logger=False,
        enable_checkpointing=False, enable_progress_bar=False, default_root_dir=tmp_path, accelerator="cpu",
    )  # fmt: skip
    with caplog.at_level(logging.INFO, logger="deepprune.training.progress"):
        trainer.fit(Linear(), data)
    lines = [r.getMessage() for r in caplog.records if r.name == "deepprune.training.progress"]
    assert [line.split(" (")[0] for line in lines] == [f"step {s}/20" for s in range(2, 21, 2)]
    assert lines[-1].startswith("step 20/20 (100%), train/loss ")
