"""DeepConf (Fu et al., 2025): confidence-based early stopping and confidence-weighted voting.

Token confidence C_i = -(1/k) sum_{j<=k} log P_i(j) over the top-k logprobs; group confidence is the
mean C over a sliding window (a trace shorter than the window has one group: its mean); a trace's
score is its lowest group confidence.

Online (``DeepConfMethod``): ``warmup`` traces run to the end and set the threshold at a percentile of
their lowest group confidences (low: keep the top 10%, high: keep the top 90%); the remaining traces
stop inside the engine once a window mean falls below it. As in the reference's voting
(``deepconf/wrapper.py``, ``_perform_basic_voting``), a trace votes only when its score clears the
threshold, warmup or not: a finished trace shorter than the window is never stopped, but its one group
(its mean) can still be below the bar, and then it does not vote. Votes are weighted by the score.
A problem with fewer traces than ``warmup`` uses all of them as warmup (logged). Optional consensus
stop: no new trace starts once the leading answer holds ``consensus_beta`` of the vote weight.

Offline (``DeepConfOfflineMethod``): all N traces run to the end; one of the reference voting variants.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from deepprune.config_checks import check_int, check_range
from deepprune.data.answers import AnswerChecker
from deepprune.engines.base import ConfidenceBelow, End, Engine, ProblemSpec, TraceHandle, window_means
from deepprune.judges.base import Judge
from deepprune.methods.base import Method, MethodOutcome, TimedEngine

log = logging.getLogger(__name__)


def lowest_group_confidence(confs: Sequence[float], window: int) -> float:
    return float(window_means(confs, window).min())


def require_confs(trace: TraceHandle, problem: ProblemSpec) -> list[float]:
    if trace.confs is None:
        raise ValueError(
            f"problem {problem.id}: DeepConf needs per-token confidences ('confs') in every trace; "
            "this trace file has none (generate traces with generate.py, which records them)"
        )
    return trace.confs


def confidence_bar(warmup_scores: Sequence[float], keep_top_percent: float) -> float:
    """Keeping the top p% of warmup traces puts the bar at their (100 - p)-th percentile."""
    return float(np.percentile(warmup_scores, 100.0 - keep_top_percent))


# The share of warmup traces each paper variant keeps above its bar (the threshold is the (100 - p)-th percentile).
PAPER_KEEP_TOP_PERCENT = {"low": 10.0, "high": 90.0}


class DeepConfMethod(Method):
    """DeepConf-low / DeepConf-high online, replayed or live through the engine's confidence stop."""

    name = "deepconf"

    def __init__(
        self,
        n: int | None,
        variant: str = "low",
        warmup: int = 16,
        window: int = 2048,
        keep_top_percent: float | None = None,
        consensus_beta: float | None = None,
    ) -> None:
        super().__init__(n)
        warmup = check_int("method.warmup", warmup)
        if self.n is not None and warmup > self.n:
            raise ValueError(f"method.warmup must be in [1, method.n={self.n}], got {warmup}")
        if variant not in PAPER_KEEP_TOP_PERCENT:
            raise ValueError(f"method.variant must be one of {tuple(PAPER_KEEP_TOP_PERCENT)}, got {variant!r}")
        if keep_top_percent is None:
            keep_top_percent = PAPER_KEEP_TOP_PERCENT[variant]
        self.keep_top_percent = check_range("method.keep_top_percent", keep_top_percent, 0, 100, low_open=True)
        # The paper's names belong to the paper's bars; another bar is named by it, so a label never lies.
        paper = self.keep_top_percent == PAPER_KEEP_TOP_PERCENT[variant]
        self.variant = variant
        self.name = f"deepconf_{variant}" if paper else f"deepconf_{variant}_top{self.keep_top_percent:g}"
        self.warmup, self.window = warmup, check_int("method.window", window)
        self.consensus_beta = (
            None
            if consensus_beta is None
            else check_range("method.consensus_beta", consensus_beta, 0.5, 1, low_open=True)
        )

    def run(
        self, problem: ProblemSpec, engine: Engine, checker: AnswerChecker, judge: Judge | None = None, seed: int = 0
    ) -> MethodOutcome:
        engine = TimedEngine(engine)
        traces = engine.start(problem, self.n, seed)
        if len(traces) < self.warmup:
            # One short problem in a stored file should not abort the run: all its traces are warmup traces.
            log.warning(
                "problem %s: %d traces, fewer than method.warmup=%d; all of them are warmup traces",
                problem.id,
                len(traces),
                self.warmup,
            )
        warmup, rest = traces[: self.warmup], traces[self.warmup :]
        engine.advance(warmup, End())
        scores = [lowest_group_confidence(require_confs(t, problem), self.window) for t in warmup]
        bar = confidence_bar(scores, self.keep_top_percent)
        answers: list[str | None] = []
        weights: list[float] = []
        for trace, score in zip(warmup, scores, strict=True):
            if score >= bar and trace.answer is not None:
                answers.append(trace.answer)
                weights.append(score)
        stop_rule = ConfidenceBelow(bar, self.window)
        if self.consensus_beta is None:
            engine.advance(rest, stop_rule)
            survivors = rest
        else:
            # Consensus stop is sequential by nature: traces start one at a time until the vote settles.
            survivors = []
            for trace in rest:
                if self._consensus(checker, answers, weights):
                    break
                engine.advance([trace], stop_rule)
                survivors.append(trace)
                self._collect(trace, problem, bar, answers, weights)
        if self.consensus_beta is None:
            for trace in survivors:
                self._collect(trace, problem, bar, answers, weights)
        engine.stop(traces)  # traces never started (consensus reached) generate nothing
        return MethodOutcome(
            predicted=checker.vote(answers, weights),
            traces=traces,
            generation_seconds=engine.seconds,
            extra={
                "threshold": bar,
                "early_stopped": sum(t.finish_reason == "confidence" for t in rest),
                "voters": len(answers),
                "started": len(warmup) + len(survivors),
            },
        )

    def _collect(self, trace: TraceHandle, problem: ProblemSpec, bar: float, answers: list, weights: list) -> None:
        """Add a post-warmup trace's vote: finished, with an answer, and its score at or above the bar."""
        if not (trace.finished and trace.answer is not None):
            return
        score = lowest_group_confidence(require_confs(trace, problem), self.window)
        if score >= bar:
            answers.append(trace.answer)
            weights.append(score)

    def _consensus(self, checker: AnswerChecker, answers: list, weights: list) -> bool:
        if not answers:
            return False
        labels = checker.group(answers)
        totals: dict[int, float] = {}
        for label, weight in zip(labels, weights, strict=True):
            totals[label] = totals.get(label, 0.0) + weight
        return max(totals.values()) / sum(totals.values()) >= self.consensus_beta


OFFLINE_VARIANTS = (
    "majority",
    "mean_confidence_weighted",
    "tail_confidence_weighted",
    "bottom_window_weighted",
    "min_window_weighted",
    "top10_tail_filtered",
    "top10_bottom_window_filtered",
)


def bottom_window_confidence(confs: Sequence[float], window: int, bottom_fraction: float = 0.1) -> float:
    """Mean of the lowest ``bottom_fraction`` of window means (the minimum when that is one window)."""
    means = window_means(confs, window)
    count = max(1, int(len(means) * bottom_fraction))
    return float(np.partition(means, count - 1)[:count].mean())


def tail_confidence(confs: Sequence[float], tail_tokens: int) -> float:
    values = np.asarray(confs[-tail_tokens:], dtype=np.float64)
    return float(values.mean()) if values.size else 0.0


class DeepConfOfflineMethod(Method):
    """All N traces finish; vote with one of DeepConf's offline variants (equivalence-grouped)."""

    name = "deepconf_offline"

    def __init__(
        self, n: int | None, variant: str = "bottom_window_weighted", window: int = 2048, tail_tokens: int = 2048
    ):
        super().__init__(n)
        if variant not in OFFLINE_VARIANTS:
            raise ValueError(f"method.variant must be one of {OFFLINE_VARIANTS}, got {variant!r}")
        self.variant = variant
        self.window, self.tail_tokens = check_int("method.window", window), check_int("method.tail_tokens", tail_tokens)
        self.name = f"deepconf_offline_{variant}"

    def score(self, confs: Sequence[float]) -> float:
        if self.variant == "mean_confidence_weighted":
            return float(np.mean(confs)) if len(confs) else 0.0
        if self.variant in ("tail_confidence_weighted", "top10_tail_filtered"):
            return tail_confidence(confs, self.tail_tokens)
        if self.variant in ("bottom_window_weighted", "top10_bottom_window_filtered"):
            return bottom_window_confidence(confs, self.window)
        if self.variant == "min_window_weighted":
            return lowest_group_confidence(confs, self.window)
        return 1.0  # majority

    def run(
        self, problem: ProblemSpec, engine: Engine, checker: AnswerChecker, judge: Judge | None = None, seed: int = 0
    ) -> MethodOutcome:
        engine = TimedEngine(engine)
        traces = engine.start(problem, self.n, seed)
        engine.advance(traces, End())
        voters = [t for t in traces if t.answer is not None]
        scores = [1.0 if self.variant == "majority" else self.score(require_confs(t, problem)) for t in voters]
        if self.variant.startswith("top10") and voters:
            bar = np.percentile(scores, 90)
            kept = [(t, s) for t, s in zip(voters, scores, strict=True) if s >= bar]
            voters, scores = [t for t, _ in kept], [s for _, s in kept]
        return MethodOutcome(
            predicted=checker.vote([t.answer for t in voters], scores), traces=traces, generation_seconds=engine.seconds
        )
