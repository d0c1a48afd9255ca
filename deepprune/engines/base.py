"""The engine interface that keeps pruning methods engine-agnostic.

A method starts N traces for a problem, advances subsets of them to a stopping point, stops some and
continues others. In replay, "advancing" moves a cursor over stored tokens; in vLLM it generates.
Token accounting lives here: ``TraceHandle.num_tokens`` is what the engine generated for that trace.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from deepprune.data.truncation import FirstTokens, ReasoningWords
from deepprune.judges.base import Prefix


@dataclass(frozen=True)
class ConfidenceBelow:
    """DeepConf's online stop: end the trace once the mean token confidence over the last ``window``
    tokens drops below ``threshold`` (checked only once ``window`` tokens exist, as in the reference)."""

    threshold: float
    window: int = 2048


def window_means(confs: Sequence[float], window: int) -> np.ndarray:
    """Sliding-window means of token confidences (one mean when the trace is shorter than the window).

    Prefix sums keep this O(tokens) whatever the window (a convolution costs tokens x window).
    """
    values = np.asarray(confs, dtype=np.float64)
    if values.size == 0:
        return np.zeros(1)
    if values.size < window:
        return np.array([values.mean()])
    sums = np.concatenate(([0.0], np.cumsum(values)))
    return (sums[window:] - sums[:-window]) / window


@dataclass(frozen=True)
class End:
    """Generate to the natural end of the trace (EOS or the token budget)."""


StopRule = FirstTokens | ReasoningWords | ConfidenceBelow | End


@dataclass
class ProblemSpec:
    """A problem as methods see it; ``payload`` is the engine's own record (stored traces, prompt...)."""

    id: str
    question: str
    gold: str
    payload: Any = None


@dataclass
class TraceHandle:
    """One trace of one problem, as far as it has been generated.

    ``finished``: reached its natural end (``answer`` is then set, possibly None); ``stopped``: cut by a
    method (the engine generates nothing more for it). ``final_answer`` is known only in replay, and so is
    ``trace_id`` (the stored trace's problem id and position).
    """

    index: int
    text: str = ""
    num_tokens: int = 0
    confs: list[float] | None = None
    finished: bool = False
    stopped: bool = False
    finish_reason: str | None = None
    answer: str | None = None
    final_answer: str | None = None
    final_known: bool = False
    trace_id: str | None = None
    state: Any = field(default=None, repr=False)

    @property
    def active(self) -> bool:
        return not (self.finished or self.stopped)

    def prefix(self) -> Prefix:
        """The trace as generated so far, in the form judges read."""
        return Prefix(
            text=self.text,
            num_tokens=self.num_tokens,
            final_answer=self.final_answer,
            final_known=self.final_known,
            key=self.index,
            trace_id=self.trace_id,
        )


class Engine(ABC):
    """Source of traces for one problem at a time."""

    name: str = "engine"
    # Whether a trace's final answer is known before it is generated (stored traces): what judge=oracle reads.
    knows_final_answers: bool = False

    @property
    def replayed_file(self) -> str | None:
        """The trace file this engine serves (replay; recorded in metrics.json), None for a live engine."""
        return None

    @abstractmethod
    def problems(self) -> Iterator[ProblemSpec]:
        """The problems to run (a trace file for replay, a benchmark for live engines), streamed."""

    @abstractmethod
    def start(self, problem: ProblemSpec, n: int | None, seed: int = 0) -> list[TraceHandle]:
        """Create ``n`` traces for ``problem`` (nothing generated yet); ``None`` means every stored trace
        (replay only; live engines require a number)."""

    def pool_size(self, problem: ProblemSpec) -> int | None:
        """Traces available for ``problem`` when they are stored (replay), else None."""
        return None

    @abstractmethod
    def advance(self, traces: Sequence[TraceHandle], until: StopRule) -> None:
        """Generate each active trace until ``until`` fires or the trace ends.

        A trace that ends on its own becomes ``finished`` with its ``answer``; one cut by
        :class:`ConfidenceBelow` becomes ``stopped`` with ``finish_reason="confidence"``.
        """

    def stop(self, traces: Sequence[TraceHandle]) -> None:
        """Generate nothing more for these traces."""
        for trace in traces:
            if trace.active:
                trace.stopped = True
                trace.finish_reason = trace.finish_reason or "pruned"

    def close(self) -> None:
        """Release resources (engines holding a model override this)."""

    def describe(self) -> dict[str, Any]:
        """Fields recorded in metrics.json (``engine``, ``model``...)."""
        return {"engine": self.name}
