"""cons@N: sample N full traces and take the (equivalence-grouped) majority answer."""

from __future__ import annotations

from deepprune.data.answers import AnswerChecker
from deepprune.engines.base import End, Engine, ProblemSpec
from deepprune.judges.base import Judge
from deepprune.methods.base import Method, MethodOutcome


class ConsMethod(Method):
    name = "cons"

    def run(
        self, problem: ProblemSpec, engine: Engine, checker: AnswerChecker, judge: Judge | None = None, seed: int = 0
    ) -> MethodOutcome:
        traces = engine.start(problem, self.n, seed)
        engine.advance(traces, End())
        return MethodOutcome(predicted=checker.vote([t.answer for t in traces]), traces=traces)
