"""DeepPrune + DeepConf: DeepPrune's clustering and finishing rule, with DeepConf on the traces that finish.

DeepPrune decides *which* traces finish (its judge reads the prefixes); DeepConf decides *how far* a finishing trace
runs and *how much* its vote weighs (its per-token confidences). Everything before finishing is DeepPrune's, with
its knobs (``finish`` picks the rule: paper, diversity, soft or adaptive). On the traces the rule finishes:

- **Warm-up, then the window stop.** The first ``warmup`` finishing traces run to their end; their lowest group
  confidences (the lowest mean over a ``window``-token sliding window, as DeepConf scores a trace) set the bar at
  the percentile that keeps the top ``keep_top_percent`` of them (90: DeepConf-high's bar; 10: DeepConf-low's).
  Every later finishing trace stops once a window mean falls below the bar (``ConfidenceBelow``, inside the engine
  when live): it then has no answer and does not vote, and its tokens up to the stop are charged. A rule that
  finishes no more than ``warmup`` traces never stops one. The bar comes from warm-up traces, not from the
  prefixes' own confidences: a prefix (k tokens) is shorter than the window, and its mean is no stand-in for a
  whole trace's lowest window (on the demo, the prefixes' 10th percentile sits above the median lowest window
  of the whole traces, so such a bar would stop most traces).
- **Confidence-weighted votes.** Every finished trace with an answer votes, weighted by its lowest group
  confidence (under the soft and adaptive rules, that weight multiplies the traces it speaks for). Unlike
  DeepConf's own voting no finished trace is filtered out by the bar: a later trace that ran to its end cleared
  it at every window already, and dropping the lowest of a few warm-up traces would throw away a vote the
  finishing rule paid for.

When the bar stops every finishing trace, no trace votes and the rule goes on finishing its next candidates, as
when finished traces end without an answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from deepprune.config_checks import check_int, check_range
from deepprune.data.truncation import TruncationRule
from deepprune.engines.base import ConfidenceBelow, Engine, ProblemSpec, TraceHandle
from deepprune.methods.deepconf import confidence_bar, lowest_group_confidence, require_confs
from deepprune.methods.deepprune import DeepPruneMethod, Finisher


class ConfidenceFinisher(Finisher):
    """Finishing traces under DeepConf: warm-up traces set the bar, later ones stop below it; votes weigh by
    confidence (module docstring)."""

    def __init__(
        self,
        engine: Engine,
        traces: list[TraceHandle],
        problem: ProblemSpec,
        window: int,
        keep_top_percent: float,
        warmup: int,
    ) -> None:
        super().__init__(engine, traces)
        self.problem = problem
        self.window, self.keep_top_percent, self.warmup = window, keep_top_percent, warmup
        self.bar: float | None = None

    def finish(self, positions: Sequence[int]) -> None:
        fresh = [i for i in dict.fromkeys(positions) if i not in self.finished]
        # A batch that completes the warm-up is split: its warm-up part runs to the end and sets the bar first.
        head = fresh[: self.warmup - len(self.finished)] if self.bar is None else []
        if head:
            super().finish(head)
            if len(self.finished) >= self.warmup:
                self.bar = confidence_bar([self.score(i) for i in self.finished], self.keep_top_percent)
        rest = fresh[len(head) :]
        if rest:
            self.engine.advance([self.traces[i] for i in rest], ConfidenceBelow(self.bar, self.window))
            self.finished += rest

    def score(self, position: int) -> float:
        """DeepConf's score of a finished trace: its lowest group confidence."""
        return lowest_group_confidence(require_confs(self.traces[position], self.problem), self.window)

    def weight(self, position: int) -> float:
        """The trace's lowest group confidence if it finished with an answer, else 0 (stopped or unanswered)."""
        trace = self.traces[position]
        return self.score(position) if trace.finished and trace.answer is not None else 0.0

    def report(self) -> dict[str, Any]:
        return {
            "confidence_bar": self.bar,
            "confidence_stopped": sum(self.traces[i].finish_reason == "confidence" for i in self.finished),
        }


class DeepPruneDeepConfMethod(DeepPruneMethod):
    """DeepPrune whose finishing traces run under DeepConf (module docstring).

    Args (besides DeepPrune's):
        window: DeepConf's sliding window in tokens (its group confidence).
        keep_top_percent: share of the warm-up traces kept above the bar (90: DeepConf-high, 10: DeepConf-low).
        warmup: finishing traces that run to their end and set the bar; the later ones stop below it.
    """

    name = "deepprune_deepconf"

    def __init__(
        self,
        n: int | None,
        truncation: TruncationRule,
        threshold: float | str = 0.5,
        threshold_key: str = "val/threshold@fnr0.2",
        compare: str = "fast",
        exit_margin: float = 0.2,
        call_budget: float | None = 3.0,
        max_compare: int = 10,
        max_clusters: int = 32,
        finish: str = "paper",
        finish_largest: int = 8,
        finish_singletons: int = 8,
        finish_budget: int | None = None,
        window: int = 2048,
        keep_top_percent: float = 90.0,
        warmup: int = 4,
    ) -> None:
        super().__init__(
            n,
            truncation,
            threshold=threshold,
            threshold_key=threshold_key,
            compare=compare,
            exit_margin=exit_margin,
            call_budget=call_budget,
            max_compare=max_compare,
            max_clusters=max_clusters,
            finish=finish,
            finish_largest=finish_largest,
            finish_singletons=finish_singletons,
            finish_budget=finish_budget,
        )
        self.window = check_int("method.window", window)
        self.keep_top_percent = check_range("method.keep_top_percent", keep_top_percent, 0, 100, low_open=True)
        self.warmup = check_int("method.warmup", warmup)

    def finisher(self, engine: Engine, traces: list[TraceHandle], problem: ProblemSpec) -> Finisher:
        return ConfidenceFinisher(engine, traces, problem, self.window, self.keep_top_percent, self.warmup)
