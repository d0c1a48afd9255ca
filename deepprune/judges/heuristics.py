"""Prefix heuristics as judges: what a judge must beat, scored like any other judge (``judge=difflib``).

Neither reads a model: ``identical_prefix`` says "same answer" only for two identical prefixes (a trace that
copies another's opening), ``difflib`` scores the character-level similarity of the two prefixes
(``difflib.SequenceMatcher.ratio``, in [0, 1]). ``tokens_read`` counts both prefixes of every pair.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

import numpy as np

from deepprune.judges.base import Judge, PrefixPair


class IdenticalPrefixJudge(Judge):
    name = "identical_prefix"

    def _score(self, pairs: Sequence[PrefixPair]) -> np.ndarray:
        self.tokens_read += sum(a.num_tokens + b.num_tokens for a, b in pairs)
        return np.array([float(a.text == b.text) for a, b in pairs])


class DifflibJudge(Judge):
    name = "difflib"

    def _score(self, pairs: Sequence[PrefixPair]) -> np.ndarray:
        self.tokens_read += sum(a.num_tokens + b.num_tokens for a, b in pairs)
        return np.array([difflib.SequenceMatcher(None, a.text, b.text).ratio() for a, b in pairs])


def heuristic_judges() -> dict[str, Judge]:
    """The prefix heuristics a trained judge is compared with, by the name tools report them under."""
    from deepprune.judges.sbert import SbertJudge

    return {"identical": IdenticalPrefixJudge(), "difflib": DifflibJudge(), "sbert": SbertJudge()}
