"""The oracle judge: compares the traces' true final answers (upper bound for any learned judge)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from deepprune.data.answers import AnswerChecker
from deepprune.judges.base import Judge, PrefixPair


class OracleJudge(Judge):
    name = "oracle"

    def __init__(self, checker: AnswerChecker) -> None:
        super().__init__()
        self.checker = checker

    def _score(self, pairs: Sequence[PrefixPair]) -> np.ndarray:
        scores = []
        for a, b in pairs:
            if not (a.final_known and b.final_known):
                raise RuntimeError(
                    "judge=oracle needs the traces' final answers, which only stored traces have "
                    "(engine=replay); use a learned judge with engine=vllm"
                )
            if a.final_answer is None and b.final_answer is None:
                # Neither trace will vote: pruning one of them loses nothing.
                scores.append(1.0)
            else:
                scores.append(float(self.checker.equivalent(a.final_answer, b.final_answer)))
        return np.asarray(scores)
