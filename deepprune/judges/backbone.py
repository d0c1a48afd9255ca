"""Shared scoring loop for judges built on a training backbone (trained cross-encoders, zero-shot LLMs)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from deepprune.judges.base import Judge, PrefixPair


class BackboneJudge(Judge):
    """Scores pairs in length-sorted batches with ``self.backbone`` (logit of "same answer").

    Subclasses set ``backbone``, ``collate``, ``batch_size`` and ``device``.
    """

    backbone: torch.nn.Module
    batch_size: int
    device: torch.device

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
