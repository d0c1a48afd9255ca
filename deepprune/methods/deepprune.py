"""DeepPrune: online greedy clustering of trace prefixes with a judge, then finish a few traces.

Every trace generates its prefix (the truncation rule). In arrival order, each new prefix is compared with
existing clusters; a cluster's similarity is the mean judge probability of "same answer" over the members
compared. Two comparison rules (``compare``):

- ``paper`` (the paper's rule): up to ``max_compare`` (K1) randomly sampled members of *every* cluster are
  scored in one batch; the trace joins the most similar cluster when that similarity exceeds ``threshold``
  (tau). Cost: up to K1 judge calls per cluster per trace.
- ``fast`` (the default; ``experiments/bench_clustering.py`` compares both): clusters are visited largest
  first (ties: the older cluster). A cluster is compared with its founder first; further members (random
  order, at most K1 in all) are scored one at a time only while the running mean is undecided: a mean above
  tau + m(1 - tau) accepts the cluster, one below tau - m*tau rejects it (m = ``exit_margin``: the share of
  the way from tau to 1, or to 0, that decides; 0: the founder alone decides, 1: every cluster is compared
  with up to K1 members), and once its members or K1 run out, mean > tau decides, as in the paper. The trace
  joins the first accepted cluster and stops comparing. A decisive judge (scores far from tau) thus pays one
  call per cluster visited, and a trace that belongs to the largest cluster one call. A problem spends at most
  ``call_budget`` judge calls per trace on average (null: no limit): each arriving trace adds ``call_budget``
  calls to the problem's budget and spends from it; what a trace leaves (one call to join the largest cluster)
  later traces may use. A trace that finds the budget spent before a cluster accepted it opens a new cluster,
  as a trace that matched none would; only the smallest clusters go unvisited. So a judge that says
  "different" to everything (all singletons: the K3 fallback either way) no longer costs one call per earlier
  trace. Each call scores one pair: the next pair depends on the last score, so batching would only add calls.

With either rule, a trace that joins no cluster opens a new one, up to ``max_clusters`` (K). Beyond that, the
``paper`` rule puts it in the most similar cluster (as the paper does: it compared every cluster); the ``fast``
rule sets it aside (stopped at its prefix, in no cluster, counted as ``set_aside``): it may not have visited
every cluster, and the ones it visited rejected it, so joining one would mix answers. A trace that joins an
existing cluster is stopped at its prefix.
``threshold=auto`` takes tau from what training recorded in the judge's ``judge.json`` metrics under
``threshold_key`` (e.g. ``val/threshold@fnr0.2``: the threshold at which the judge splits at most 20% of the
validation's same-answer pairs); a judge that records none (oracle, sbert, zero_shot) is an error. Finishing
rules:

- ``paper``: the largest cluster's first min(|c|, K2) traces finish and vote; when every cluster is a
  singleton, the first K3 traces finish and vote (the fallback).
- ``diversity``: each cluster's first trace finishes; its answer votes with the cluster's size.

When every trace the rule finished ends without an answer (e.g. cut at the token budget), nothing
could be voted: the method goes on finishing the next candidates (paper: the next largest cluster's
first K2 traces, or the next K3 singletons; diversity: each cluster's next member) until an answer
appears or no trace is left. Those traces' tokens count like any other finished trace's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from deepprune.config_checks import check_int, check_range
from deepprune.data.answers import AnswerChecker
from deepprune.data.truncation import TruncationRule
from deepprune.engines.base import End, Engine, ProblemSpec
from deepprune.judges.base import Judge, Prefix, PrefixPair
from deepprune.methods.base import Method, MethodOutcome, Stopwatch, TimedEngine


class Scorer(Protocol):
    """What the clustering rules call: a judge, or the run's judge timed (:class:`TimedJudge`)."""

    def score(self, pairs: Sequence[PrefixPair]) -> np.ndarray: ...


class TimedJudge:
    """``judge`` with its prepare and score calls timed: ``seconds`` is the judge time of one problem.

    Timing each call (not the clustering around it) leaves the clustering's own bookkeeping out; the counts
    (``pairs_scored``, ``tokens_read``) stay on the wrapped judge.
    """

    def __init__(self, judge: Judge) -> None:
        self.judge = judge
        self.clock = Stopwatch()

    @property
    def seconds(self) -> float:
        return self.clock.seconds

    def prepare(self, prefixes: Sequence[Prefix]) -> None:
        with self.clock:
            self.judge.prepare(prefixes)

    def score(self, pairs: Sequence[PrefixPair]) -> np.ndarray:
        with self.clock:
            return self.judge.score(pairs)


def greedy_cluster(
    prefixes: list[Prefix],
    judge: Scorer,
    threshold: float,
    max_compare: int,
    max_clusters: int,
    rng: np.random.Generator,
) -> list[list[int]]:
    """Cluster prefixes in arrival order; returns clusters as lists of positions (founder first)."""
    clusters: list[list[int]] = []
    for position, prefix in enumerate(prefixes):
        if not clusters:
            clusters.append([position])
            continue
        members = [
            cluster
            if len(cluster) <= max_compare
            else [cluster[i] for i in sorted(rng.choice(len(cluster), max_compare, replace=False))]
            for cluster in clusters
        ]
        pairs = [(prefixes[m], prefix) for sampled in members for m in sampled]
        probabilities = judge.score(pairs)
        similarity, offset = [], 0
        for sampled in members:
            similarity.append(float(probabilities[offset : offset + len(sampled)].mean()))
            offset += len(sampled)
        best = int(np.argmax(similarity))
        if similarity[best] > threshold or len(clusters) >= max_clusters:
            clusters[best].append(position)
        else:
            clusters.append([position])
    return clusters


def fast_cluster(
    prefixes: list[Prefix],
    judge: Scorer,
    threshold: float,
    max_compare: int,
    max_clusters: int,
    rng: np.random.Generator,
    exit_margin: float,
    call_budget: float | None,
) -> tuple[list[list[int]], list[int]]:
    """The ``fast`` rule (module docstring): largest cluster first, founder first, early exit around tau.

    Returns the clusters and the positions set aside (no cluster accepted them once ``max_clusters`` existed).
    """
    # The undecided band around tau, as a share of the room on each side: never empty or out of reach near 0 or 1.
    band = (threshold - exit_margin * threshold, threshold + exit_margin * (1.0 - threshold))
    clusters: list[list[int]] = []
    set_aside: list[int] = []
    # Calls the problem may still spend: every trace adds call_budget; what a trace leaves, later ones may use.
    budget = 0.0 if call_budget is not None else math.inf
    for position, prefix in enumerate(prefixes):
        chosen = None
        budget += call_budget or 0.0
        # Largest first; sorted() is stable, so among equal sizes the older cluster comes first.
        for index in sorted(range(len(clusters)), key=lambda c: -len(clusters[c])):
            if budget < 1:
                break
            mean, calls = _compare(prefix, clusters[index], prefixes, judge, int(min(max_compare, budget)), rng, band)
            budget -= calls
            if mean > threshold:
                chosen = index
                break
        if chosen is not None:
            clusters[chosen].append(position)
        elif len(clusters) < max_clusters:
            clusters.append([position])
        else:
            # Every cluster visited rejected it, or the budget ran out first: joining one anyway would mix answers
            # (a trace the judge scored 0.0 once outvoted the right answer). It stops at its prefix, in no cluster.
            set_aside.append(position)
    return clusters, set_aside


def _compare(
    prefix: Prefix,
    cluster: list[int],
    prefixes: list[Prefix],
    judge: Scorer,
    limit: int,
    rng: np.random.Generator,
    band: tuple[float, float],
) -> tuple[float, int]:
    """Mean judge probability over the founder and as few further members (``limit`` in all) as the early exit
    allows, and the number of judge calls spent."""
    low, high = band
    total = float(judge.score([(prefixes[cluster[0]], prefix)])[0])
    count = 1
    if not low <= total <= high:
        return total, count
    # Undecided: draw further members without replacement, only as many as it takes.
    for i in rng.permutation(len(cluster) - 1)[: limit - 1] if len(cluster) > 1 and limit > 1 else []:
        total += float(judge.score([(prefixes[cluster[1 + int(i)]], prefix)])[0])
        count += 1
        if not low <= total / count <= high:
            break
    return total / count, count


class DeepPruneMethod(Method):
    name = "deepprune"
    needs_judge = True

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
    ) -> None:
        super().__init__(n)
        if finish not in ("paper", "diversity"):
            raise ValueError(f"method.finish must be 'paper' or 'diversity', got {finish!r}")
        if compare not in ("paper", "fast"):
            raise ValueError(f"method.compare must be 'paper' or 'fast', got {compare!r}")
        if isinstance(threshold, str) and threshold != "auto":
            raise ValueError(f"method.threshold must be a number in [0, 1] or 'auto', got {threshold!r}")
        if threshold != "auto":
            check_range("method.threshold", threshold, 0, 1)
        if not isinstance(threshold_key, str) or "/threshold@" not in threshold_key:
            raise ValueError(
                "method.threshold_key must name a threshold in judge.json's metrics "
                f"(e.g. 'val/threshold@fnr0.2'), got {threshold_key!r}"
            )
        self.truncation, self.threshold, self.threshold_key = truncation, threshold, threshold_key
        # tau in use: the configured number, or the judge's recorded one once a judge is bound (threshold=auto).
        self.tau: float | None = None if threshold == "auto" else float(threshold)
        self.compare = compare
        self.exit_margin = check_range("method.exit_margin", exit_margin, 0, 1)
        if call_budget is not None:
            call_budget = check_range("method.call_budget", call_budget, 1, float("inf"), high_open=True)
        self.call_budget = call_budget
        self.max_compare = check_int("method.max_compare", max_compare)
        self.max_clusters = check_int("method.max_clusters", max_clusters)
        self.finish = finish
        self.finish_largest = check_int("method.finish_largest", finish_largest)
        self.finish_singletons = check_int("method.finish_singletons", finish_singletons)

    def bind(self, judge: Judge | None) -> None:
        """With ``threshold=auto``, take tau from what training recorded in ``judge``'s judge.json."""
        if self.threshold != "auto" or judge is None:
            return
        recorded = judge.recorded_metrics()
        if self.threshold_key not in recorded:
            what = f"has no '{self.threshold_key}'" if recorded else "records no training metrics"
            raise ValueError(
                f"method.threshold=auto: judge={judge.name} {what} (only a judge exported by train.py records "
                "its thresholds, in judge.json's metrics); set method.threshold to a number in [0, 1]"
            )
        self.tau = check_range(f"judge.json metrics '{self.threshold_key}'", recorded[self.threshold_key], 0, 1)

    def params(self) -> dict[str, Any]:
        """As configured, except ``threshold``: the tau used (threshold=auto: the judge's recorded one)."""
        values = super().params()
        values["threshold"] = self.threshold if self.tau is None else self.tau
        values["threshold_key"] = self.threshold_key if self.threshold == "auto" else None  # unused otherwise
        return values

    def run(
        self, problem: ProblemSpec, engine: Engine, checker: AnswerChecker, judge: Judge | None = None, seed: int = 0
    ) -> MethodOutcome:
        if judge is None:
            raise ValueError("method=deepprune needs a judge (judge=oracle|sbert|trained|zero_shot)")
        self.bind(judge)  # threshold=auto: this judge's tau (the runner binds once before the first problem)
        engine = TimedEngine(engine)
        traces = engine.start(problem, self.n, seed)
        engine.advance(traces, self.truncation)
        judge.reset()
        pairs_before, tokens_before = judge.pairs_scored, judge.tokens_read
        prefixes = [t.prefix() for t in traces]
        timed = TimedJudge(judge)
        timed.prepare(prefixes)
        rng = np.random.default_rng(seed)
        set_aside: list[int] = []
        if self.compare == "fast":
            clusters, set_aside = fast_cluster(
                prefixes, timed, self.tau, self.max_compare, self.max_clusters, rng, self.exit_margin, self.call_budget
            )
        else:
            clusters = greedy_cluster(prefixes, timed, self.tau, self.max_compare, self.max_clusters, rng)
        rounds, fallback = self._finishing_rounds(clusters)
        finishing: list[int] = []
        weights: list[float] = []
        for candidates in rounds:
            engine.advance([traces[i] for i, _ in candidates], End())
            finishing += [i for i, _ in candidates]
            weights += [w for _, w in candidates]
            if any(traces[i].answer is not None for i, _ in candidates):
                break
        engine.stop([t for i, t in enumerate(traces) if i not in set(finishing)])
        return MethodOutcome(
            predicted=checker.vote([traces[i].answer for i in finishing], weights),
            traces=traces,
            judge_calls=judge.pairs_scored - pairs_before,
            judge_tokens=judge.tokens_read - tokens_before,
            judge_seconds=timed.seconds,
            generation_seconds=engine.seconds,
            extra={
                "clusters": len(clusters),
                "cluster_sizes": sorted((len(c) for c in clusters), reverse=True),
                "finished": finishing,
                "finish": self.finish,
                "fallback": fallback,
                "traces_clustered": len(prefixes),
                "set_aside": len(set_aside),
            },
        )

    def _finishing_rounds(self, clusters: list[list[int]]) -> tuple[list[list[tuple[int, float]]], bool]:
        """Groups of (position, vote weight) to finish in turn, and whether the all-singleton fallback applies.

        The first group is the finishing rule's choice; each later one runs only if every trace finished
        so far ended without an answer.
        """
        if self.finish == "diversity":
            depth = max((len(c) for c in clusters), default=0)
            return [[(c[r], float(len(c))) for c in clusters if len(c) > r] for r in range(depth)], False
        if all(len(c) == 1 for c in clusters):
            founders = [c[0] for c in clusters]
            k3 = self.finish_singletons
            return [[(i, 1.0) for i in founders[start : start + k3]] for start in range(0, len(founders), k3)], True
        by_size = sorted(clusters, key=len, reverse=True)  # stable: the first-formed cluster wins ties
        return [[(i, 1.0) for i in c[: self.finish_largest]] for c in by_size], False
