"""Budget-matched comparison with majority voting: the cons@n curve and where a method sits against it.

A pruning method saves tokens, but "x% fewer tokens than cons@N at y points of accuracy" says little when
cons@n with a smaller n would reach the same accuracy for even fewer tokens. The cons@n curve (accuracy
and total tokens of majority voting over n stored traces, n = 1, 2, 4, ... and the whole pool N) is the
baseline a method should beat at equal cost:

* :func:`interpolate_accuracy` -- the curve's accuracy at a token budget;
* :func:`delta_acc_at_budget` -- a method's accuracy minus that (> 0: better than voting at its cost);
* :func:`matched_cons_tokens` / :func:`tokens_vs_matched_cons` -- the tokens at which the curve (interpolated
  the same way) reaches a method's accuracy, and the method's tokens as a multiple of them (< 1: cheaper than
  voting at its accuracy).

The curve is computed in one streaming pass (:class:`ConsCurve`), one problem at a time, and every point is
exact (:func:`exact_vote_accuracy`): the expected accuracy of voting n traces drawn at random from the stored
pool of N (ties split evenly between the tied answers), and the expected tokens, n/N of the pool's. ``n = 1``
is the mean per-trace accuracy; ``n = N`` is the vote of the whole pool (a tie there counts as a fraction, so
it can differ from a ``method=cons`` run, which breaks ties by stored order).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from deepprune.data.answers import AnswerChecker

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


def exact_vote_accuracy(class_sizes: Sequence[int], correct: Sequence[bool], unanswered: int, n: int) -> float:
    """P(majority vote over ``n`` traces drawn at random from the pool is correct), computed exactly.

    The pool holds one class of equivalent answers per entry of ``class_sizes`` (``correct[i]``: class i is the
    gold answer) and ``unanswered`` traces that do not vote. Every n-subset is equally likely, and so is every
    order of it; a tie between t classes goes to the one whose first trace comes first, i.e. to each with
    probability 1/t. A subset without an answered trace votes for nothing (wrong).

    For a correct class g holding k of the n votes, the other classes must hold < k (or = k, a tie) votes: the
    subsets are counted with the generating function prod_i (sum_{m<k} C(c_i, m) x^m + y C(c_i, k) x^k) *
    (1 + x)^unanswered, whose coefficient of x^(n-k) y^j counts the subsets where j other classes tie with g.
    Counts are float64 (relative error ~1e-15 over C(N, n) <= 1e308; exact integers up to 2^53).
    """
    pool = sum(class_sizes) + unanswered
    if not 1 <= n <= pool:
        raise ValueError(f"n must be in [1, {pool}] (the pool), got {n}")
    total = math.comb(pool, n)
    unanswered_poly = np.array([math.comb(unanswered, m) for m in range(min(unanswered, n) + 1)], dtype=np.float64)
    won = 0.0
    for g, size in enumerate(class_sizes):
        if not correct[g]:
            continue
        others = [c for i, c in enumerate(class_sizes) if i != g]
        for k in range(1, min(size, n) + 1):
            # ties[j]: polynomial in x (degree <= n - k) over subsets of the other classes where j of them hold k.
            ties = [_truncate(unanswered_poly, n - k)]
            for c in others:
                below = np.array([math.comb(c, m) for m in range(min(c, k - 1) + 1)], dtype=np.float64)
                at_k = math.comb(c, k) if c >= k else 0
                grown = [_truncate(np.convolve(poly, below), n - k) for poly in ties] + [np.zeros(1)]
                if at_k:
                    for j, poly in enumerate(ties):
                        shifted = _truncate(np.concatenate([np.zeros(k), poly * at_k]), n - k)
                        grown[j + 1] = _add(grown[j + 1], shifted)
                ties = grown
            subsets = sum(poly[n - k] / (j + 1) for j, poly in enumerate(ties) if len(poly) > n - k)
            won += math.comb(size, k) * subsets
    return won / total


def _truncate(poly: np.ndarray, degree: int) -> np.ndarray:
    return poly[: degree + 1]


def _add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.zeros(max(len(a), len(b)))
    out[: len(a)] += a
    out[: len(b)] += b
    return out


class ConsCurve:
    """Streaming cons@n accumulator: :meth:`add` one problem at a time, then :meth:`points`.

    Every point is exact (:func:`exact_vote_accuracy`): the expected accuracy of voting ``n`` traces drawn at
    random from the pool (ties split evenly), and the expected tokens ``n / N`` of the pool's. Answers are
    grouped into classes once per problem, over the whole pool (:meth:`AnswerChecker.group`).

    Args:
        checker: groups answers into equivalence classes (unanswered traces do not vote) and grades them.

    Every problem must have the same pool size N: a point mixing cons@n of some problems with cons@N of
    others would not be any cons@n. :attr:`per_problem` and :attr:`pool_tokens` keep each problem's accuracy at
    each n and its pool's tokens (for bootstrap intervals over problems, :mod:`deepprune.report.bootstrap`).
    """

    def __init__(self, checker: AnswerChecker) -> None:
        self.checker = checker
        self.pool: int | None = None
        self.num_problems = 0
        self._tokens: dict[int, float] = {}
        self.per_problem: list[dict[int, float]] = []
        self.pool_tokens: list[float] = []  # per problem: the whole pool's tokens (cons@n is charged n/N of them)

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
        labels = self.checker.group(list(answers))
        members: dict[int, str] = {}
        sizes: dict[int, int] = {}
        for answer, label in zip(answers, labels, strict=True):
            if label is not None:
                members.setdefault(label, answer)  # type: ignore[arg-type]
                sizes[label] = sizes.get(label, 0) + 1
        classes = sorted(sizes)
        correct = [self.checker.is_correct(members[c], gold) for c in classes]
        unanswered = labels.count(None)
        accuracy = {
            n: exact_vote_accuracy([sizes[c] for c in classes], correct, unanswered, n) for n in curve_sizes(pool)
        }
        for n in accuracy:
            self._tokens[n] = self._tokens.get(n, 0.0) + float(counts.sum()) * n / pool
        self.per_problem.append(accuracy)
        self.pool_tokens.append(float(counts.sum()))
        self.num_problems += 1

    def points(self) -> list[dict[str, Any]]:
        """``[{n, accuracy, total_tokens}]`` by increasing n: mean accuracy over problems, summed tokens."""
        if not self.num_problems:
            raise ValueError("no problems were added to the cons@n curve")
        return [
            {
                "n": n,
                "accuracy": float(np.mean([problem[n] for problem in self.per_problem])),
                "total_tokens": self._tokens[n],
            }
            for n in sorted(self._tokens)
        ]


def cons_curve(
    problems: Iterable[tuple[Sequence[str | None], Sequence[float], str]], checker: AnswerChecker
) -> list[dict[str, Any]]:
    """Exact cons@n accuracy and expected total tokens for n = 1, 2, 4, ... and the pool size N, in one pass.

    Args:
        problems: ``(answers, token_counts, gold)`` per problem (a generator is fine: nothing is kept).
        checker: the benchmark's answer checker (groups and grades).

    Returns:
        ``[{"n", "accuracy", "total_tokens"}]`` by increasing n.
    """
    curve = ConsCurve(checker)
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


def matched_cons_tokens(curve: Sequence[dict[str, Any]], accuracy: float) -> float | None:
    """Tokens at which the cons@n curve, interpolated as in :func:`interpolate_accuracy` (linear in log tokens),
    first reaches ``accuracy``; None when no point reaches it.

    Below cons@1's accuracy it is cons@1's tokens (clamped like the accuracy: no vote is cheaper).
    """
    if math.isnan(accuracy):
        raise ValueError("accuracy is NaN")
    log_tokens, values = _log_points(curve)
    target = float(accuracy) - _EPS
    if values[0] >= target:
        return float(math.exp(log_tokens[0]))
    for i in range(len(values) - 1):
        low, high = values[i], values[i + 1]
        if low < target <= high:
            share = (target - low) / (high - low)
            return float(math.exp(log_tokens[i] + share * (log_tokens[i + 1] - log_tokens[i])))
    return None


def tokens_vs_matched_cons(curve: Sequence[dict[str, Any]], accuracy: float, tokens: float) -> float | None:
    """``tokens`` divided by :func:`matched_cons_tokens` (< 1: cheaper than voting as accurately); None if unmatched."""
    matched = matched_cons_tokens(curve, accuracy)
    return None if matched is None or matched <= 0 else float(tokens) / matched


def rise_beyond(curve: Sequence[dict[str, Any]], tokens: float) -> float:
    """How much accuracy voting still gains from ``tokens`` to the curve's largest n: cons@N's accuracy minus the
    curve's (interpolated) at ``tokens``. Near 0 the curve is flat there and no method can beat it by more than
    noise at that budget; the demo's build requires a clear rise beyond DeepPrune's budget."""
    last = max(curve, key=lambda p: p["n"])
    return float(last["accuracy"]) - interpolate_accuracy(curve, tokens)
