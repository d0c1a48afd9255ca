"""The method interface: run one problem against an engine (and optionally a judge)."""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from deepprune.config_checks import check_int
from deepprune.data.answers import AnswerChecker
from deepprune.engines.base import Engine, ProblemSpec, TraceHandle
from deepprune.judges.base import Judge


@dataclass
class MethodOutcome:
    """What a method decided for one problem; tokens are summed from ``traces`` by the runner."""

    predicted: str | None
    traces: list[TraceHandle]
    judge_calls: int = 0
    judge_tokens: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def tokens(self) -> int:
        """All tokens the engine generated for this problem: prefixes of stopped traces, full finished ones."""
        return sum(t.num_tokens for t in self.traces)


class Method(ABC):
    """A pruning/voting strategy. ``n`` is the trace budget per problem (None: every stored trace).

    Built from ``conf/method/*.yaml`` (``_target_``); each constructor argument is kept as the attribute of
    the same name, which :meth:`params` reports.
    """

    name: str = "method"
    needs_judge: bool = False

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

    def bind(self, judge: Judge | None) -> None:
        """Settle parameters that depend on the run's judge, before the first problem (default: none do)."""

    @abstractmethod
    def run(
        self, problem: ProblemSpec, engine: Engine, checker: AnswerChecker, judge: Judge | None = None, seed: int = 0
    ) -> MethodOutcome:
        """Start traces, prune/stop them as the method dictates, and vote."""
