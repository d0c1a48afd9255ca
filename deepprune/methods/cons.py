"""cons@N: sample N full traces and take the (equivalence-grouped) majority answer."""

from __future__ import annotations

from deepprune.data.answers import AnswerChecker
from deepprune.engines.base import End, Engine, ProblemSpec
from deepprune.judges.base import Judge
from deepprune.methods.base import Method, MethodOutcome, TimedEngine


class ConsMethod(Method):
    """Majority vote over ``n`` full traces.

    Args:
        n: traces per problem (None: every stored trace, replay only).
        curve: also report the cons@n curve (n = 1, 2, 4, ... and the pool) in ``metrics.json``: the runner
            votes subsets of each problem's full pool (the stored traces in replay, the ``n`` generated ones
            live) in the same pass, so one run gives the baseline every method is compared with at equal
            token budget (:mod:`deepprune.report.budget`).
    """

    name = "cons"

    def __init__(self, n: int | None, curve: bool = False) -> None:
        super().__init__(n)
        if not isinstance(curve, bool):
            raise ValueError(f"method.curve must be true or false, got {curve!r}")
        self.curve = curve

    def run(
        self, problem: ProblemSpec, engine: Engine, checker: AnswerChecker, judge: Judge | None = None, seed: int = 0
    ) -> MethodOutcome:
        engine = TimedEngine(engine)
        traces = engine.start(problem, self.n, seed)
        engine.advance(traces, End())
        return MethodOutcome(
            predicted=checker.vote([t.answer for t in traces]), traces=traces, generation_seconds=engine.seconds
        )
