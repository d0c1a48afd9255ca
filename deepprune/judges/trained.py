"""A judge trained by ``train.py``: loads ``RUN_DIR/judge`` (``judge=trained judge.path=...``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from deepprune.config_checks import check_device, check_int
from deepprune.judges.backbone import BackboneJudge
from deepprune.judges.base import Prefix, PrefixPair
from deepprune.judges.embedding_cache import PrefixEmbeddings
from deepprune.judges.exported import load_exported
from deepprune.judges.networks import BiEncoderJudgeModel


class TrainedJudge(BackboneJudge):
    """Batched scoring with an exported judge (cross-encoder, bi-encoder or LoRA decoder).

    A cross-encoder or decoder reads both prefixes of every pair (they are seen jointly), so ``tokens_read``
    grows by both prefixes' token counts per pair. A bi-encoder embeds each prefix once per problem (until
    ``reset``; :class:`~deepprune.judges.embedding_cache.PrefixEmbeddings`) and counts its tokens once.
    ``truncation`` is the rule the judge was trained on (None for an export that did not record one):
    callers compare it with theirs by ``==``.
    The defaults are conf/judge/trained.yaml's, for callers that build the judge in code.
    """

    name = "trained"

    def __init__(self, path: str, batch_size: int = 64, device: str = "cpu", trust_remote_code: bool = False) -> None:
        super().__init__()
        self.batch_size = check_int("judge.batch_size", batch_size)
        device = check_device("judge.device", device)
        # Only the caller (judge.trust_remote_code) may allow the judge's model code to run, never judge.json.
        self.backbone, self.meta, self.truncation = load_exported(path, device, trust_remote_code)
        self.collate = self.backbone.collator()
        self.device = torch.device(device)
        # A bi-encoder's pairs are scored by its head over cached per-prefix embeddings.
        self.embeddings: PrefixEmbeddings | None = None
        if isinstance(self.backbone, BiEncoderJudgeModel):
            self.embeddings = PrefixEmbeddings(self.backbone, self.batch_size, self.device)

    def reset(self) -> None:
        if self.embeddings is not None:
            self.embeddings.clear()

    def prepare(self, prefixes: Sequence[Prefix]) -> None:
        if self.embeddings is not None:
            self.tokens_read += self.embeddings.add(prefixes)

    def _score(self, pairs: Sequence[PrefixPair]) -> np.ndarray:
        if self.embeddings is None:
            return super()._score(pairs)
        scores, tokens = self.embeddings.score(pairs)
        self.tokens_read += tokens
        return scores
