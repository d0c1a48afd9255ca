"""DeepPrune: online greedy clustering of trace prefixes with a judge, then finish a few traces.

Every trace generates its prefix (the truncation rule). In arrival order, a new prefix is compared
with up to ``max_compare`` (K1) sampled members of each existing cluster; a cluster's similarity is
the mean judge probability of "same answer". The trace joins the most similar cluster when that
similarity exceeds ``threshold`` (tau), else it opens a new cluster (at most ``max_clusters`` (K);
beyond that it joins the most similar one). A trace that joins an existing cluster is stopped at its
prefix. Finishing rules:

- ``paper``: the largest cluster's first min(|c|, K2) traces finish and vote; when every cluster is a
  singleton, the first K3 traces finish and vote (the fallback).
- ``diversity``: each cluster's first trace finishes; its answer votes with the cluster's size.

When every trace the rule finished ends without an answer (e.g. cut at the token budget), nothing
could be voted: the method goes on finishing the next candidates (paper: the next largest cluster's
first K2 traces, or the next K3 singletons; diversity: each cluster's next member) until an answer
appears or no trace is left. Those traces' tokens count like any other finished trace's.
"""

from __future__ import annotations

import numpy as np

from deepprune.config_checks import check_int, check_range
from deepprune.data.answers import AnswerChecker
from deepprune.data.truncation import TruncationRule
from deepprune.engines.base import End, Engine, ProblemSpec
from deepprune.judges.base import Judge, Prefix
from deepprune.methods.base import Method, MethodOutcome


def greedy_cluster(
    prefixes: list[Prefix],
    judge: Judge,
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


class DeepPruneMethod(Method):
    name = "deepprune"
    needs_judge = True

    def __init__(
        self,
        n: int | None,
        truncation: TruncationRule,
        threshold: float = 0.5,
        max_compare: int = 10,
        max_clusters: int = 32,
        finish: str = "paper",
        finish_largest: int = 8,
        finish_singletons: int = 8,
    ) -> None:
        super().__init__(n)
        if finish not in ("paper", "diversity"):
            raise ValueError(f"method.finish must be 'paper' or 'diversity', got {finish!r}")
        self.truncation, self.threshold = truncation, check_range("method.threshold", threshold, 0, 1)
        self.max_compare = check_int("method.max_compare", max_compare)
        self.max_clusters = check_int("method.max_clusters", max_clusters)
        self.finish = finish
        self.finish_largest = check_int("method.finish_largest", finish_largest)
        self.finish_singletons = check_int("method.finish_singletons", finish_singletons)

    def run(
        self, problem: ProblemSpec, engine: Engine, checker: AnswerChecker, judge: Judge | None = None, seed: int = 0
    ) -> MethodOutcome:
        if judge is None:
            raise ValueError("method=deepprune needs a judge (judge=oracle|sbert|trained|zero_shot)")
        traces = engine.start(problem, self.n, seed)
        engine.advance(traces, self.truncation)
        judge.reset()
        pairs_before, tokens_before = judge.pairs_scored, judge.tokens_read
        prefixes = [t.prefix() for t in traces]
        judge.prepare(prefixes)
        clusters = greedy_cluster(
            prefixes,
            judge,
            self.threshold,
            self.max_compare,
            self.max_clusters,
            np.random.default_rng(seed),
        )
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
            extra={
                "clusters": len(clusters),
                "cluster_sizes": sorted((len(c) for c in clusters), reverse=True),
                "finished": finishing,
                "finish": self.finish,
                "fallback": fallback,
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
