"""Budget-matched comparison with majority voting: the cons@n curve and where a method sits against it.

A pruning method saves tokens, but "x% fewer tokens than cons@N at y points of accuracy" says little when
cons@n with a smaller n would reach the same accuracy for even fewer tokens. The cons@n curve (accuracy
and total tokens of majority voting over n stored traces, n = 1, 2, 4, ... and the whole pool N) is the
baseline a method should beat at equal cost:

* :func:`interpolate_accuracy` -- the curve's accuracy at a token budget;
* :func:`delta_acc_at_budget` -- a method's accuracy minus that (> 0: better than voting at its cost);
* :func:`matched_cons_tokens` / :func:`tokens_vs_matched_cons` -- the cheapest cons@n that is as accurate,
  and the method's tokens as a multiple of it (< 1: cheaper than voting at its accuracy).

The curve is computed in one streaming pass (:class:`ConsCurve`), one problem at a time. A point with
``1 < n < N`` averages ``subsamples`` seeded subsamples drawn exactly as ``prune.py method=cons
method.n=n`` draws them (replay: ``np.random.default_rng(seed + r).choice(N, n, replace=False)``, in that
order, so ties go to the same trace), hence the same accuracy and tokens as that run. ``n = 1`` is exact:
the mean over every trace (a trace without an answer is wrong), which is what subsampling estimates;
``n = N`` votes every stored trace in stored order.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from deepprune.data.answers import AnswerChecker

DEFAULT_SUBSAMPLES = 10
# Accuracies are means of 0/1 verdicts; compare with a little slack so 0.8 counts as >= 0.805 - 0.005.
_EPS = 1e-9


def curve_sizes(pool: int) -> list[int]:
    """n = 1, 2, 4, ... below ``pool``, then ``pool`` itself."""
    if pool < 1:
        raise ValueError(f"a cons@n curve needs at least one trace per problem, got a pool of {pool}")
    sizes, n = [], 1
    while n < pool:
        sizes.append(n)
        n *= 2
    return [*sizes, pool]


class ConsCurve:
    """Streaming cons@n accumulator: :meth:`add` one problem at a time, then :meth:`points`.

    Args:
        checker: votes (:meth:`AnswerChecker.vote`: equivalence classes, unanswered traces do not vote,
            ties to the class seen first) and grades (:meth:`AnswerChecker.is_correct`).
        subsamples: seeded subsamples averaged for each ``1 < n < N``.
        seed: subsample ``r`` uses seed ``seed + r`` (``prune.py``'s ``seed``/``subsamples``).

    Every problem must have the same pool size N: a point mixing cons@n of some problems with cons@N of
    others would not be any cons@n.
    """

    def __init__(self, checker: AnswerChecker, subsamples: int = DEFAULT_SUBSAMPLES, seed: int = 0) -> None:
        if isinstance(subsamples, bool) or not isinstance(subsamples, int) or subsamples < 1:
            raise ValueError(f"subsamples must be an integer >= 1, got {subsamples!r}")
        self.checker, self.subsamples, self.seed = checker, subsamples, seed
        self.pool: int | None = None
        self.num_problems = 0
        self._correct: dict[int, float] = {}
        self._tokens: dict[int, float] = {}

    def add(
        self, answers: Sequence[str | None], tokens: Sequence[float], gold: str, problem_id: str | None = None
    ) -> None:
        """Add one problem: its stored traces' answers (None: no answer) and token counts, and its gold."""
        where = f"problem {problem_id!r}" if problem_id is not None else f"problem #{self.num_problems}"
        if len(answers) != len(tokens):
            raise ValueError(f"{where}: {len(answers)} answers but {len(tokens)} token counts")
        counts = np.asarray(tokens, dtype=np.float64)
        if counts.size and not (np.all(np.isfinite(counts)) and np.all(counts >= 0)):
            raise ValueError(f"{where}: token counts must be finite and >= 0, got {counts.tolist()}")
        pool = len(answers)
        if self.pool is None:
            curve_sizes(pool)  # rejects an empty pool
            self.pool = pool
        elif pool != self.pool:
            raise ValueError(
                f"{where}: {pool} traces, but the problems before it have {self.pool}; "
                "a cons@n curve needs the same number of stored traces per problem"
            )
        verdicts: dict[str | None, bool] = {}

        def correct(predicted: str | None) -> float:
            if predicted not in verdicts:
                verdicts[predicted] = predicted is not None and self.checker.is_correct(predicted, gold)
            return float(verdicts[predicted])

        for n in curve_sizes(pool):
            if n == 1:
                # Every size-1 subsample, each equally likely: the exact value the subsamples estimate.
                accuracy = float(np.mean([correct(self.checker.vote([answer])) for answer in answers]))
                spent = float(counts.mean())
            elif n == pool:
                accuracy, spent = correct(self.checker.vote(list(answers))), float(counts.sum())
            else:
                hits, spent = 0.0, 0.0
                for r in range(self.subsamples):
                    order = np.random.default_rng(self.seed + r).choice(pool, size=n, replace=False)
                    hits += correct(self.checker.vote([answers[int(i)] for i in order]))
                    spent += float(counts[order].sum())
                accuracy, spent = hits / self.subsamples, spent / self.subsamples
            self._correct[n] = self._correct.get(n, 0.0) + accuracy
            self._tokens[n] = self._tokens.get(n, 0.0) + spent
        self.num_problems += 1

    def points(self) -> list[dict[str, Any]]:
        """``[{n, accuracy, total_tokens}]`` by increasing n: mean accuracy over problems, summed tokens."""
        if not self.num_problems:
            raise ValueError("no problems were added to the cons@n curve")
        return [
            {"n": n, "accuracy": self._correct[n] / self.num_problems, "total_tokens": self._tokens[n]}
            for n in sorted(self._correct)
        ]


def cons_curve(
    problems: Iterable[tuple[Sequence[str | None], Sequence[float], str]],
    checker: AnswerChecker,
    subsamples: int = DEFAULT_SUBSAMPLES,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """cons@n accuracy and total tokens for n = 1, 2, 4, ... and the pool size N, in one pass.

    Args:
        problems: ``(answers, token_counts, gold)`` per problem (a generator is fine: nothing is kept).
        checker: the benchmark's answer checker (votes and grades).
        subsamples, seed: as in :class:`ConsCurve`.

    Returns:
        ``[{"n", "accuracy", "total_tokens"}]`` by increasing n.
    """
    curve = ConsCurve(checker, subsamples, seed)
    for answers, tokens, gold in problems:
        curve.add(answers, tokens, gold)
    return curve.points()


def _log_points(curve: Sequence[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    if not curve:
        raise ValueError("empty cons@n curve")
    points = sorted(curve, key=lambda p: p["n"])
    tokens = np.array([float(p["total_tokens"]) for p in points])
    accuracy = np.array([float(p["accuracy"]) for p in points])
    if not np.all(np.isfinite(tokens)) or np.any(tokens <= 0):
        raise ValueError(f"cons@n curve tokens must be finite and > 0 (log scale), got {tokens.tolist()}")
    if np.any(np.diff(tokens) <= 0):
        raise ValueError(f"cons@n curve tokens must grow with n, got {tokens.tolist()}")
    return np.log(tokens), accuracy


def interpolate_accuracy(curve: Sequence[dict[str, Any]], tokens: float) -> float:
    """The cons@n curve's accuracy at ``tokens``, linear in log(tokens) between neighbouring points.

    Outside the curve it is clamped, not extrapolated: below cons@1's tokens it is cons@1's accuracy (no
    vote is that cheap, so this credits voting with more than it can do there), above cons@N's it is
    cons@N's (the largest pool measured; more traces are not stored).
    """
    if math.isnan(tokens):
        raise ValueError("tokens is NaN")
    log_tokens, accuracy = _log_points(curve)
    if tokens <= 0:
        return float(accuracy[0])
    return float(np.interp(math.log(tokens), log_tokens, accuracy))


def delta_acc_at_budget(curve: Sequence[dict[str, Any]], accuracy: float, tokens: float) -> float:
    """``accuracy`` minus the cons@n accuracy interpolated at ``tokens`` (> 0: better than voting at that cost)."""
    return float(accuracy) - interpolate_accuracy(curve, tokens)


def matched_cons_tokens(curve: Sequence[dict[str, Any]], accuracy: float, tolerance: float = 0.005) -> float | None:
    """Tokens of the cheapest cons@n with accuracy >= ``accuracy - tolerance``; None when no point reaches it."""
    if not curve:
        raise ValueError("empty cons@n curve")
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    reached = [float(p["total_tokens"]) for p in curve if p["accuracy"] >= accuracy - tolerance - _EPS]
    return min(reached) if reached else None


def tokens_vs_matched_cons(
    curve: Sequence[dict[str, Any]], accuracy: float, tokens: float, tolerance: float = 0.005
) -> float | None:
    """``tokens`` divided by :func:`matched_cons_tokens` (< 1: cheaper than voting as accurately); None if unmatched."""
    matched = matched_cons_tokens(curve, accuracy, tolerance)
    return None if matched is None or matched <= 0 else float(tokens) / matched
