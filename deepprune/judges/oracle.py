"""The oracle judge: compares the traces' true final answers (upper bound for any learned judge).

Two traces are "the same" only when both state equivalent answers; a pair with an unanswered trace scores 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from deepprune.data.answers import AnswerChecker
from deepprune.judges.base import Judge, PrefixPair


class OracleJudge(Judge):
    name = "oracle"
    needs_final_answers = True

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
            # A trace without an answer never has "the same answer" as another, even another unanswered
            # one: scoring such pairs 1 formed a cluster of unanswered traces that could win the vote.
            scores.append(float(self.checker.equivalent(a.final_answer, b.final_answer)))
        return np.asarray(scores)
