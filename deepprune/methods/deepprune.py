"""DeepPrune: online greedy clustering of trace prefixes with a judge, then finish a few traces.

Every trace generates its prefix (the truncation rule). In arrival order, each new prefix is compared with
existing clusters; a cluster's similarity is the mean judge probability of "same answer" over the members
compared. Two comparison rules (``compare``):

- ``paper`` (the paper's rule): up to ``max_compare`` (K1) randomly sampled members of *every* cluster are
  scored in one batch; the trace joins the most similar cluster when that similarity exceeds ``threshold``
  (tau). Cost: up to K1 judge calls per cluster per trace.
- ``fast`` (the default; ``benchmarks/bench_clustering.py`` compares both): clusters are visited largest
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
rules (``finish``, all in :data:`FINISH_RULES`; docs/finishing_rules.md measures them):

- ``paper``: the largest cluster's first min(|c|, K2) traces finish and vote; when every cluster is a
  singleton, the first K3 traces finish and vote (the fallback).
- ``diversity``: each cluster's first trace finishes; its answer votes with the cluster's size.
- ``soft``: ``finish_budget`` traces (null: K2) finish, spread over clusters in proportion to their sizes
  (:func:`mass_order`), and every pruned trace votes too (:func:`soft_votes`): its one vote is split over the
  finished traces in proportion to the judge's probability that it shares each one's answer. The vote estimates
  how many of all N traces hold each answer; a wrong founder no longer carries its whole cluster, and an answer
  the judge split over two clusters adds up again.
- ``adaptive``: the soft rule's traces in the same order, one more at a time (the first batch is the
  fewest that could already be decided), up to ``finish_budget``; it stops once the vote is decided: the
  leader's lead, in finished traces' votes (the soft vote's shares times the number of voters), exceeds the
  finishes left below the cap, so even if every one of them voted for the runner-up it could not catch up.

When every trace the rule finished ends without an answer (e.g. cut at the token budget), nothing
could be voted: the method goes on finishing the next candidates (paper: the next largest cluster's
first K2 traces, or the next K3 singletons; diversity: each cluster's next member; soft: the next
``finish_budget`` of its order; adaptive: the next one) until an answer appears or no trace is left.
Those traces' tokens count like any other finished trace's.

How finishing traces run and what a finished trace's vote weighs is the :class:`Finisher`'s: run to the end
and one vote per answer here; :mod:`deepprune.methods.deepprune_deepconf` stops them by confidence and
weights their votes by it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from deepprune.config_checks import check_int, check_range
from deepprune.data.answers import AnswerChecker
from deepprune.data.truncation import TruncationRule
from deepprune.engines.base import End, Engine, ProblemSpec, TraceHandle
from deepprune.judges.base import Judge, Prefix, PrefixPair
from deepprune.methods.base import Method, MethodOutcome, Stopwatch, TimedEngine

# The finishing rules ``finish`` accepts (module docstring); tools that sweep the rules read this tuple.
FINISH_RULES = ("paper", "diversity", "soft", "adaptive")


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


class MemoScorer:
    """A problem's scorer that scores each pair of traces once: the soft vote reuses what clustering scored.

    Pairs are keyed by the two prefixes' ``key`` (the trace index) in the order given; a pair with an unkeyed prefix
    is always scored. Only pairs actually scored reach the judge, so its counts stay what the problem cost.
    """

    def __init__(self, scorer: Scorer) -> None:
        self.scorer = scorer
        self.memo: dict[tuple[int, int], float] = {}

    def score(self, pairs: Sequence[PrefixPair]) -> np.ndarray:
        keys = [(a.key, b.key) if a.key is not None and b.key is not None else None for a, b in pairs]
        todo = [i for i, key in enumerate(keys) if key is None or key not in self.memo]
        scores = np.array([self.memo.get(key, np.nan) if key is not None else np.nan for key in keys])
        if todo:
            fresh = self.scorer.score([pairs[i] for i in todo])
            for i, value in zip(todo, fresh, strict=True):
                scores[i] = value
                if keys[i] is not None:
                    self.memo[keys[i]] = float(value)
        return scores


class Finisher:
    """Runs the traces a finishing rule picks to their end, and says what each finished trace's vote weighs.

    Here a finishing trace runs to its natural end (``End``) and votes once if it states an answer. A subclass may
    stop finishing traces early and weight votes otherwise (``deepprune_deepconf``); the rules only call
    :meth:`finish` and :meth:`weight`, so they run alike under every engine.
    """

    def __init__(self, engine: Engine, traces: list[TraceHandle]) -> None:
        self.engine, self.traces = engine, traces
        self.finished: list[int] = []  # positions, in the order they were finished

    def finish(self, positions: Sequence[int]) -> None:
        """Run these traces (positions in the problem's trace list) to their end, in one engine call."""
        fresh = [i for i in dict.fromkeys(positions) if i not in self.finished]
        self.engine.advance([self.traces[i] for i in fresh], End())
        self.finished += fresh

    def weight(self, position: int) -> float:
        """A finished trace's vote weight: 1 with an answer, 0 (it does not vote) without."""
        return 0.0 if self.traces[position].answer is None else 1.0

    def voters(self) -> list[int]:
        """Finished traces that vote (weight > 0), in finishing order."""
        return [i for i in self.finished if self.weight(i) > 0]

    def report(self) -> dict[str, Any]:
        """What the finisher adds to a problem's record (nothing here)."""
        return {}


def mass_order(clusters: list[list[int]]) -> list[int]:
    """Every clustered position, in the order the ``soft`` and ``adaptive`` rules finish them.

    The next trace comes from the cluster with the largest size / (traces finished in it + 1) (the D'Hondt
    divisor rule), so after any number of finishes each cluster's share of them follows its share of the traces:
    the largest cluster's founder first, then, with sizes 6 and 2, the 6's second member (quotient 3) before the
    2's founder (quotient 2). Ties go to the larger cluster, then the older one; within a cluster, arrival order.
    """
    ranked = sorted(clusters, key=len, reverse=True)  # stable: among equal sizes the older cluster first
    taken = [0] * len(ranked)
    order: list[int] = []
    for _ in range(sum(map(len, ranked))):
        best = max(
            (c for c in range(len(ranked)) if taken[c] < len(ranked[c])),
            key=lambda c: (len(ranked[c]) / (taken[c] + 1), len(ranked[c]), -c),
        )
        order.append(ranked[best][taken[best]])
        taken[best] += 1
    return order


def soft_votes(
    clusters: list[list[int]], finisher: Finisher, prefixes: list[Prefix], judge: Scorer, checker: AnswerChecker
) -> dict[int, float]:
    """Each finished voter's vote: its weight times the traces it speaks for (itself and shares of the pruned).

    Every clustered trace that did not finish splits one vote over all finished traces, whatever their cluster, in
    proportion to the judge's probability that it shares each one's answer (evenly when every probability is 0).
    The share that falls on a finished trace without a vote (no answer, or stopped early) is dropped: the pruned
    trace likely ends as that one did. Its cluster is not trusted over the judge's probabilities: a noisy judge
    puts traces in the wrong cluster, and the probabilities against traces whose answers are now known say more
    than the one comparison that placed it. Pairs are scored earlier trace first, as clustering scores them, and a
    pair clustering already scored is not scored again. When the voters' answers all agree, no split can change the
    winner: no pair is scored and the pruned traces' votes are split evenly over the voters. Traces set aside vote
    for nothing: no cluster accepted them.
    """
    done = finisher.finished
    voters = [i for i in done if finisher.weight(i) > 0]
    if not voters:
        return {}
    finished = set(done)
    pruned = [i for cluster in clusters for i in cluster if i not in finished]
    shares = np.ones(len(voters))  # each voter's own vote
    if pruned and len(set(checker.group([finisher.traces[i].answer for i in voters]))) == 1:
        shares += len(pruned) / len(voters)
    elif pruned:
        pairs = [(prefixes[min(i, f)], prefixes[max(i, f)]) for i in pruned for f in done]
        probabilities = judge.score(pairs).reshape(len(pruned), len(done))
        totals = probabilities.sum(axis=1, keepdims=True)
        split = np.where(totals > 0, probabilities / np.where(totals > 0, totals, 1.0), 1.0 / len(done))
        shares += split[:, [done.index(v) for v in voters]].sum(axis=0)
    return {voter: finisher.weight(voter) * float(share) for voter, share in zip(voters, shares, strict=True)}


def decided(votes: dict[int, float], answers: Sequence[str | None], checker: AnswerChecker, left: int) -> bool:
    """The adaptive rule's stop: the leader's lead exceeds ``left`` finished traces' votes.

    The soft vote's shares are turned into finished traces' votes (share times the number of voters): with every
    voter agreeing, the lead is the number of voters. Stop once it exceeds the finishes left below the cap.
    """
    positions = list(votes)
    labels = checker.group([answers[i] for i in positions])
    totals: dict[int, float] = {}
    for position, label in zip(positions, labels, strict=True):
        totals[label] = totals.get(label, 0.0) + votes[position]
    ranked = sorted(totals.values(), reverse=True) + [0.0]
    total = sum(totals.values())
    return total > 0 and len(positions) * (ranked[0] - ranked[1]) / total > left


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
        finish_budget: int | None = None,
    ) -> None:
        super().__init__(n)
        if finish not in FINISH_RULES:
            names = ", ".join(f"'{rule}'" for rule in FINISH_RULES)
            raise ValueError(f"method.finish must be one of {names}, got {finish!r}")
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
        self.finish_budget = None if finish_budget is None else check_int("method.finish_budget", finish_budget)

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

    def summarize(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        """Why the traces stopped: how often every cluster was a singleton and K3 traces finished instead
        (``fallback_problems``; fractional with subsamples: a problem counts the share of its subsamples that fell
        back), and what clustering cost in judge calls per clustered trace. Many fallbacks mean the judge rarely
        said "same": the run is then close to cons@K3 plus the stopped prefixes."""
        return {
            "finish": self.finish,
            "compare": self.compare,
            "fallback_problems": float(sum(float(r["fallback"]) for r in records)),
            "mean_clusters": float(np.mean([r["clusters"] for r in records])),
            "judge_calls_per_trace": float(sum(r["judge_calls"] for r in records))
            / max(float(sum(r["traces_clustered"] for r in records)), 1.0),
        }

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
        scorer = MemoScorer(timed)
        rng = np.random.default_rng(seed)
        set_aside: list[int] = []
        if self.compare == "fast":
            clusters, set_aside = fast_cluster(
                prefixes, scorer, self.tau, self.max_compare, self.max_clusters, rng, self.exit_margin, self.call_budget
            )
        else:
            clusters = greedy_cluster(prefixes, scorer, self.tau, self.max_compare, self.max_clusters, rng)
        finisher = self.finisher(engine, traces, problem)
        if self.finish in ("soft", "adaptive"):
            votes = self._finish_by_mass(clusters, finisher, prefixes, scorer, checker)
            fallback = all(len(c) == 1 for c in clusters)
        else:
            votes, fallback = self._finish_by_rounds(clusters, finisher)
        finishing = finisher.finished
        engine.stop([t for i, t in enumerate(traces) if i not in set(finishing)])
        return MethodOutcome(
            predicted=checker.vote([traces[i].answer for i in votes], list(votes.values())),
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
                **finisher.report(),
            },
        )

    def finisher(self, engine: Engine, traces: list[TraceHandle], problem: ProblemSpec) -> Finisher:
        """How this problem's finishing traces run and what their votes weigh (subclasses swap it)."""
        return Finisher(engine, traces)

    def _finish_by_rounds(self, clusters: list[list[int]], finisher: Finisher) -> tuple[dict[int, float], bool]:
        """The ``paper`` and ``diversity`` rules: finish round by round until a trace votes; the votes by position,
        and whether the all-singleton fallback applied."""
        rounds, fallback = self._finishing_rounds(clusters)
        base: dict[int, float] = {}
        for candidates in rounds:
            finisher.finish([i for i, _ in candidates])
            base.update(candidates)
            if finisher.voters():
                break
        return {i: base[i] * finisher.weight(i) for i in finisher.voters()}, fallback

    def _finish_by_mass(
        self,
        clusters: list[list[int]],
        finisher: Finisher,
        prefixes: list[Prefix],
        scorer: Scorer,
        checker: AnswerChecker,
    ) -> dict[int, float]:
        """The ``soft`` and ``adaptive`` rules (module docstring): finish in :func:`mass_order`, vote softly."""
        order = mass_order(clusters)
        budget = self.finish_budget or self.finish_largest
        if self.finish == "soft":
            step = first = budget
        else:
            # The lead can exceed the finishes left only once more than half the cap has finished: stopping
            # earlier is impossible, so those traces start together (fewer engine rounds live, same tokens).
            step, first = 1, min(budget, budget // 2 + 1)
        finisher.finish(order[:first])
        done = first
        while done < len(order):
            if finisher.voters():
                if self.finish == "soft" or done >= budget:
                    break
                votes = soft_votes(clusters, finisher, prefixes, scorer, checker)
                if decided(votes, [t.answer for t in finisher.traces], checker, budget - done):
                    return votes  # the decided vote is the final one: nothing finished since
            finisher.finish(order[done : done + step])
            done += step
        return soft_votes(clusters, finisher, prefixes, scorer, checker)

    def _finishing_rounds(self, clusters: list[list[int]]) -> tuple[list[list[tuple[int, float]]], bool]:
        """Groups of (position, vote weight) to finish in turn, and whether the all-singleton fallback applies.

        The first group is the finishing rule's choice; each later one runs only if no trace finished so far
        votes.
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
