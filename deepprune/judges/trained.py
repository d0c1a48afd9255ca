"""A judge trained by ``train.py``: loads ``RUN_DIR/judge`` (``judge=trained judge.path=...``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from deepprune.judges.base import Judge, PrefixPair
from deepprune.training.export import load_judge


class TrainedJudge(Judge):
    """Batched scoring with an exported judge (cross-encoder or LoRA decoder).

    It reads both prefixes of every pair (no per-prefix cache: a cross-encoder sees them jointly), so
    ``tokens_read`` grows by both prefixes' token counts per pair.
    """

    name = "trained"

    def __init__(self, path: str, batch_size: int = 64, device: str = "cpu") -> None:
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"judge.batch_size must be >= 1, got {batch_size}")
        self.backbone, self.meta = load_judge(path, device)
        self.collate = self.backbone.collator()
        self.batch_size, self.device = batch_size, torch.device(device)
        # Settings the judge was trained with (prefix truncation); callers can check theirs match.
        self.truncation = self.meta.get("truncation")

    @torch.inference_mode()
    def _score(self, pairs: Sequence[PrefixPair]) -> np.ndarray:
        # Length-sorted batches pad less; results go back to the callers' order.
        order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0].text) + len(pairs[i][1].text))
        scores = np.empty(len(pairs), dtype=np.float64)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            batch = self.collate([(pairs[i][0].text, pairs[i][1].text, -1) for i in chunk])
            batch = {k: v.to(self.device) for k, v in batch.items()}
            scores[chunk] = torch.sigmoid(self.backbone(batch).float()).cpu().numpy()
        self.tokens_read += sum(a.num_tokens + b.num_tokens for a, b in pairs)
        return scores
