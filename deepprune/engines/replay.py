"""Replay engine: "generation" reads stored traces (from ``generate.py`` or any trace file).

Advancing to a truncation rule cuts the stored text with the counting tokenizer; a DeepConf stop finds
the first window of stored ``confs`` below the threshold. A trace's ``num_tokens`` is what the live engine
would have generated up to that point, so token accounting matches online runs.

One unit per trace: prefixes and full traces are counted with the same tokenizer. The stored
``num_tokens`` are used only when the record names the tokenizer that counted them and it is the counting
one (``data.tokenizer``, or by default the recorded one); otherwise every length is recounted (logged).
A stopped trace never costs more than its full length.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from deepprune.config_checks import check_int
from deepprune.data.io import ReadStats, read_problems
from deepprune.data.schema import Problem, Trace
from deepprune.data.tokenizer import TokenUnit, resolve_token_unit
from deepprune.data.truncation import FirstTokens, ReasoningWords, Truncator
from deepprune.engines.base import (
    ConfidenceBelow,
    End,
    Engine,
    ProblemSpec,
    StopRule,
    TraceHandle,
    window_means,
)

log = logging.getLogger(__name__)


def first_window_below(confs: Sequence[float], threshold: float, window: int, start: int = 0) -> int | None:
    """Index of the token at which DeepConf stops the trace, or None if it never does.

    The window ending at token ``i`` (``i >= window - 1``) is checked when token ``i`` is decoded; the
    first one whose mean is below ``threshold`` makes the engine emit EOS at ``i``, so the trace keeps
    ``i + 1`` tokens. ``start``: tokens generated before the stop applied (a trace continued from its prefix):
    only tokens decoded from then on are checked, as the live engine checks them.
    """
    if len(confs) < window:
        return None
    below = np.flatnonzero(window_means(confs, window) < threshold)  # mean j covers confs[j : j + window]
    below = below[below + window - 1 >= start]
    return int(below[0]) + window - 1 if below.size else None


@dataclass
class _Stored:
    """A handle's state: the stored trace and the unit its tokens are counted in."""

    trace: Trace
    unit: TokenUnit


class ReplayEngine(Engine):
    """Serves stored traces; ``start`` picks ``n`` of them (all, in stored order, when ``n`` covers the pool).

    Built from ``conf/engine/replay.yaml`` (the ``data`` fields; ``extract_answer`` at run time).

    Args:
        traces: the trace file.
        tokenizer: ``data.tokenizer``; None counts with the tokenizer each record names (else MiniLM).
        on_error: ``raise`` | ``skip`` for malformed records.
        extract_answer: for traces stored without an ``answer`` key.
        trust_remote_code: passed to tokenizer loading.
        limit: ``data.limit``; serve only the first ``limit`` problems of the file (null: all of them).
    """

    name = "replay"
    knows_final_answers = True

    def __init__(
        self,
        traces: str,
        tokenizer: str | None = None,
        on_error: str = "raise",
        extract_answer: Callable[[str], str | None] | None = None,
        trust_remote_code: bool = False,
        limit: int | None = None,
    ) -> None:
        if not traces:
            raise ValueError("engine=replay needs data.traces=FILE (a trace file in the project's format)")
        self.limit = None if limit is None else check_int("data.limit", limit)
        self.traces, self.tokenizer, self.on_error = traces, tokenizer, on_error
        self.extract_answer, self.trust_remote_code = extract_answer, trust_remote_code
        self.read_stats = ReadStats()
        self._units: dict[str | None, TokenUnit] = {}
        self.recounted_problems = 0  # problems whose stored num_tokens were in another unit (files without: 0)
        self._warned: set[str | None] = set()

    def problems(self) -> Iterator[ProblemSpec]:
        """Stream the trace file (its first ``limit`` problems); skipped malformed records count in ``read_stats``."""
        records = read_problems(self.traces, self.on_error, self.read_stats, self.extract_answer)
        for served, problem in enumerate(records, start=1):
            unit = self.unit_for(problem.tokenizer)
            if not unit.use_stored_counts and any(t.num_tokens is not None for t in problem.traces):
                # Stored counts are in another (or an unknown) unit: full lengths are recounted on use.
                if problem.tokenizer not in self._warned:
                    self._warned.add(problem.tokenizer)
                    log.warning(
                        "%s: stored num_tokens were counted by %s, not by the counting tokenizer %s: "
                        "recounting prefixes and full traces with it",
                        self.traces,
                        problem.tokenizer or "an unknown tokenizer",
                        unit.name,
                    )
                for trace in problem.traces:
                    trace.num_tokens = None
                self.recounted_problems += 1
            yield ProblemSpec(id=problem.id, question=problem.question, gold=problem.gold, payload=problem)
            if served == self.limit:
                return  # the rest of the file is not read (not even the next line)

    def unit_for(self, recorded: str | None) -> TokenUnit:
        """The token unit for records that name ``recorded`` as their counting tokenizer (cached)."""
        if recorded not in self._units:
            self._units[recorded] = resolve_token_unit(self.tokenizer, recorded, self.trust_remote_code)
        return self._units[recorded]

    def describe(self) -> dict[str, Any]:
        units = sorted({u.name for u in self._units.values()})
        return {
            "engine": self.name,
            "traces": str(self.traces),
            "token_unit": units[0] if len(units) == 1 else units,
            "recounted_problems": self.recounted_problems,
        }

    @property
    def replayed_file(self) -> str | None:
        return str(self.traces)

    def pool_size(self, problem: ProblemSpec) -> int:
        return len(problem.payload.traces)

    def start(self, problem: ProblemSpec, n: int | None, seed: int = 0) -> list[TraceHandle]:
        stored: Problem = problem.payload
        unit = self.unit_for(stored.tokenizer)
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
                trace_id=f"{problem.id}/{int(j)}",
                state=_Stored(stored.traces[int(j)], unit),
            )
            for i, j in enumerate(order)
        ]

    def advance(self, traces: Sequence[TraceHandle], until: StopRule) -> None:
        for handle in traces:
            if handle.active:
                self._advance_one(handle, until)

    def _advance_one(self, handle: TraceHandle, until: StopRule) -> None:
        stored: _Stored = handle.state
        trace, full = stored.trace, _full_tokens(stored)
        if isinstance(until, FirstTokens | ReasoningWords):
            text, tokens = Truncator(until, stored.unit.counter).apply(trace.text)
            if text != trace.text:
                # Never move backwards: a trace already longer than the prefix keeps what it has.
                tokens = min(tokens, full)
                if tokens > handle.num_tokens:
                    handle.text, handle.num_tokens = text, tokens
                    handle.confs = _confs_upto(trace, tokens, full)
                return
        elif isinstance(until, ConfidenceBelow):
            if trace.confs is None:
                raise ValueError("DeepConf needs per-token confidences ('confs') in the trace file")
            # A continued trace (e.g. a DeepPrune survivor) is checked from the token it continues at.
            started = 0 if handle.confs is None else len(handle.confs)
            stop_at = first_window_below(trace.confs, until.threshold, until.window, started)
            if stop_at is not None:
                # A window that first falls below the bar at the last token still stops the trace: the
                # engine emits EOS there instead of the answer's end, as live and in the reference.
                generated = len(trace.confs)
                handle.num_tokens = min(full, math.ceil(full * (stop_at + 1) / generated))
                handle.confs = trace.confs[: stop_at + 1]
                # Token positions map to text only through the model's tokenizer; keep the text cut
                # proportional so judges/inspection see roughly what was generated.
                handle.text = trace.text[: int(len(trace.text) * (stop_at + 1) / generated)]
                handle.stopped, handle.finish_reason = True, "confidence"
                return
        elif not isinstance(until, End):
            raise TypeError(f"replay engine cannot stop at {until!r}")
        handle.text, handle.num_tokens, handle.confs = trace.text, full, trace.confs
        handle.finished, handle.finish_reason, handle.answer = True, trace.finish_reason or "stop", trace.answer


def _full_tokens(stored: _Stored) -> int:
    trace = stored.trace
    if trace.num_tokens is None:
        # Counted as the engine counts what it generated: the text's tokens, plus the EOS a trace that ended on
        # its own ("stop") sampled (the text never shows it).
        eos = 1 if trace.finish_reason == "stop" else 0
        trace.num_tokens = stored.unit.counter.count(trace.text) + eos
    return trace.num_tokens


def _confs_upto(trace: Trace, tokens: int, full: int) -> list[float] | None:
    """The confidences of the first ``tokens`` tokens (``confs`` are in the generator's units)."""
    if trace.confs is None:
        return None
    generated = len(trace.confs)
    return trace.confs[: tokens if generated == full else math.ceil(generated * tokens / max(full, 1))]
