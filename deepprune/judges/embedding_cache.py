"""Scoring with a trained bi-encoder (``train.py judge=bi_encoder``, loaded by ``judge=trained``).

Each prefix of a problem is embedded once, in length-sorted batches, and every pair is scored by the
model's head alone: N prefixes cost N encoder passes however many pairs clustering asks for.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from deepprune.judges.base import Prefix, PrefixPair
from deepprune.judges.networks import BiEncoderJudgeModel


class PrefixEmbeddings:
    """A bi-encoder's embeddings of the prefixes seen since the last :meth:`clear` (the judge's ``reset``).

    Keyed by the prefix text, as the SBERT judge's cache: the embedding is a function of the text alone,
    and ``Prefix.key`` is None where pairs come without trace ids (``eval_judge.py``). Two traces with the
    same prefix are therefore embedded, and their tokens counted, once.
    """

    def __init__(self, model: BiEncoderJudgeModel, batch_size: int, device: torch.device) -> None:
        self.model, self.batch_size, self.device = model, batch_size, device
        self.collate = model.collator()
        self._cache: dict[str, torch.Tensor] = {}

    def clear(self) -> None:
        self._cache.clear()

    @torch.inference_mode()
    def add(self, prefixes: Sequence[Prefix]) -> int:
        """Embed the prefixes not cached yet; return the tokens that read (each new prefix once)."""
        missing = {p.text: p.num_tokens for p in prefixes if p.text not in self._cache}
        # Length-sorted batches pad less.
        texts = sorted(missing, key=len)
        for start in range(0, len(texts), self.batch_size):
            chunk = texts[start : start + self.batch_size]
            batch = {k: v.to(self.device) for k, v in self.collate.encode(chunk).items()}
            self._cache.update(zip(chunk, self.model.embed(batch), strict=True))
        return sum(missing.values())

    @torch.inference_mode()
    def score(self, pairs: Sequence[PrefixPair]) -> tuple[np.ndarray, int]:
        """P(same final answer) per pair, and the tokens read embedding prefixes not cached yet."""
        tokens = self.add([p for pair in pairs for p in pair])
        scores = np.empty(len(pairs), dtype=np.float64)
        for start in range(0, len(pairs), self.batch_size):
            chunk = pairs[start : start + self.batch_size]
            u = torch.stack([self._cache[a.text] for a, _ in chunk])
            v = torch.stack([self._cache[b.text] for _, b in chunk])
            scores[start : start + len(chunk)] = torch.sigmoid(self.model.pair_logits(u, v)).cpu().numpy()
        return scores, tokens
