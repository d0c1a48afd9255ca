"""The method interface: run one problem against an engine (and optionally a judge)."""

from __future__ import annotations

import inspect
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from deepprune.config_checks import check_int
from deepprune.data.answers import AnswerChecker
from deepprune.engines.base import Engine, ProblemSpec, StopRule, TraceHandle
from deepprune.judges.base import Judge


@dataclass
class MethodOutcome:
    """What a method decided for one problem; tokens are summed from ``traces`` by the runner.

    ``judge_seconds``: time inside the judge's calls (prepare and scoring); ``generation_seconds``: time inside the
    engine's calls (producing traces live, or replaying stored ones). What the method does in between (clustering
    bookkeeping, voting) counts in neither.
    """

    predicted: str | None
    traces: list[TraceHandle]
    judge_calls: int = 0
    judge_tokens: int = 0
    judge_seconds: float = 0.0
    generation_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def tokens(self) -> int:
        """All tokens the engine generated for this problem: prefixes of stopped traces, full finished ones."""
        return sum(t.num_tokens for t in self.traces)


class Stopwatch:
    """Seconds spent inside ``with stopwatch:`` blocks, summed (``time.perf_counter``)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0

    def __enter__(self) -> Stopwatch:
        self._started = time.perf_counter()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.seconds += time.perf_counter() - self._started


class TimedEngine(Engine):
    """``engine`` with its start/advance/stop calls timed: ``seconds`` is the generation time of one method run.

    Methods wrap the engine they are handed in one, so the time is measured where generation happens, for every
    engine, apart from the judge's time.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.name = engine.name
        self.clock = Stopwatch()

    @property
    def seconds(self) -> float:
        return self.clock.seconds

    def problems(self) -> Iterator[ProblemSpec]:
        return self.engine.problems()

    def pool_size(self, problem: ProblemSpec) -> int | None:
        return self.engine.pool_size(problem)

    def start(self, problem: ProblemSpec, n: int | None, seed: int = 0) -> list[TraceHandle]:
        with self.clock:
            return self.engine.start(problem, n, seed)

    def advance(self, traces: Sequence[TraceHandle], until: StopRule) -> None:
        with self.clock:
            self.engine.advance(traces, until)

    def stop(self, traces: Sequence[TraceHandle]) -> None:
        with self.clock:
            self.engine.stop(traces)


class Method(ABC):
    """A pruning/voting strategy. ``n`` is the trace budget per problem (None: every stored trace).

    Built from ``conf/method/*.yaml`` (``_target_``); each constructor argument is kept as the attribute of
    the same name, which :meth:`params` reports.
    """

    name: str = "method"
    needs_judge: bool = False
    # The runner also accumulates the exact cons@n curve over each problem's whole pool (cons: method.curve=true).
    curve: bool = False

    def __init__(self, n: int | None) -> None:
        self.n = None if n is None else check_int("method.n", n)

    def params(self) -> dict[str, Any]:
        """The constructor arguments this method runs with (metrics.json records what was used, not the config)."""
        values = {}
        for name in inspect.signature(type(self).__init__).parameters:
            if name != "self":
                value = getattr(self, name)
                values[name] = value.describe() if hasattr(value, "describe") else value
        return values

    def summarize(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        """This method's own run-level figures for metrics.json, from its per-problem records (default: none)."""
        return {}

    def bind(self, judge: Judge | None) -> None:
        """Settle parameters that depend on the run's judge, before the first problem (default: none do)."""

    @abstractmethod
    def run(
        self, problem: ProblemSpec, engine: Engine, checker: AnswerChecker, judge: Judge | None = None, seed: int = 0
    ) -> MethodOutcome:
        """Start traces, prune/stop them as the method dictates, and vote."""
