"""Replay engine: "generation" reads stored traces (from ``generate.py`` or any trace file).

Advancing to a truncation rule cuts the stored text with the configured tokenizer; a DeepConf stop
finds the first window of stored ``confs`` below the threshold. A trace's ``num_tokens`` is what the
live engine would have generated up to that point, so token accounting matches online runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from deepprune.data.io import ReadStats, read_problems
from deepprune.data.schema import Problem, Trace
from deepprune.data.tokenizer import TokenCounter
from deepprune.data.truncation import FirstTokens, ReasoningWords, Truncator
from deepprune.engines.base import ConfidenceBelow, End, Engine, ProblemSpec, StopRule, TraceHandle


def first_window_below(confs: Sequence[float], threshold: float, window: int) -> int | None:
    """Index of the token at which DeepConf stops the trace, or None if it never does.

    The window ending at token ``i`` (``i >= window - 1``) is checked when token ``i`` is decoded; the
    first one whose mean is below ``threshold`` makes the engine emit EOS at ``i``, so the trace keeps
    ``i + 1`` tokens.
    """
    if len(confs) < window:
        return None
    values = np.asarray(confs, dtype=np.float64)
    sums = np.convolve(values, np.ones(window), mode="valid")  # sums[j] = confs[j : j + window]
    below = np.flatnonzero(sums / window < threshold)
    return int(below[0]) + window - 1 if below.size else None


class ReplayEngine(Engine):
    """Serves stored traces; ``start`` picks ``n`` of them (all, in stored order, when ``n`` covers the pool)."""

    name = "replay"

    def __init__(
        self,
        traces: str,
        counter: TokenCounter,
        on_error: str = "raise",
        extract_answer: Callable[[str], str | None] | None = None,
    ) -> None:
        self.traces, self.counter, self.on_error, self.extract_answer = traces, counter, on_error, extract_answer
        self.read_stats = ReadStats()

    def problems(self) -> Iterator[ProblemSpec]:
        """Stream the trace file; skipped malformed records are counted in ``read_stats``."""
        for problem in read_problems(self.traces, self.on_error, self.read_stats, self.extract_answer):
            yield ProblemSpec(id=problem.id, question=problem.question, gold=problem.gold, payload=problem)

    def describe(self) -> dict[str, Any]:
        return {"engine": self.name, "traces": str(self.traces)}

    def pool_size(self, problem: ProblemSpec) -> int:
        return len(problem.payload.traces)

    def start(self, problem: ProblemSpec, n: int | None, seed: int = 0) -> list[TraceHandle]:
        stored: Problem = problem.payload
        pool = len(stored.traces)
        n = pool if n is None else n
        if n > pool:
            raise ValueError(f"problem {problem.id}: method.n={n} but the file has only {pool} traces")
        order = range(n) if n == pool else np.random.default_rng(seed).choice(pool, size=n, replace=False)
        return [
            TraceHandle(
                index=i,
                final_answer=stored.traces[j].answer,
                final_known=True,
                state=stored.traces[int(j)],
            )
            for i, j in enumerate(order)
        ]

    def total_tokens(self, trace: Trace) -> int:
        if trace.num_tokens is None:
            trace.num_tokens = self.counter.count(trace.text)
        return trace.num_tokens

    def advance(self, traces: Sequence[TraceHandle], until: StopRule) -> None:
        for handle in traces:
            if handle.active:
                self._advance_one(handle, until)

    def _advance_one(self, handle: TraceHandle, until: StopRule) -> None:
        trace: Trace = handle.state
        if isinstance(until, FirstTokens | ReasoningWords):
            text, tokens = Truncator(until, self.counter).apply(trace.text)
            if text != trace.text:
                # Never move backwards: a trace already longer than the prefix keeps what it has.
                if tokens > handle.num_tokens:
                    handle.text, handle.num_tokens = text, tokens
                    handle.confs = trace.confs[:tokens] if trace.confs is not None else None
                return
        elif isinstance(until, ConfidenceBelow):
            if trace.confs is None:
                raise ValueError("DeepConf needs per-token confidences ('confs') in the trace file")
            stop_at = first_window_below(trace.confs, until.threshold, until.window)
            if stop_at is not None and stop_at + 1 < self.total_tokens(trace):
                handle.num_tokens = stop_at + 1
                handle.confs = trace.confs[: stop_at + 1]
                # Token positions map to text only through the model's tokenizer; keep the text cut
                # proportional so judges/inspection see roughly what was generated.
                handle.text = trace.text[: int(len(trace.text) * (stop_at + 1) / max(len(trace.confs), 1))]
                handle.stopped, handle.finish_reason = True, "confidence"
                return
        elif not isinstance(until, End):
            raise TypeError(f"replay engine cannot stop at {until!r}")
        handle.text, handle.num_tokens, handle.confs = trace.text, self.total_tokens(trace), trace.confs
        handle.finished, handle.finish_reason, handle.answer = True, trace.finish_reason or "stop", trace.answer
