"""cons@n curve and budget arithmetic (deepprune/report/budget.py)."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import pytest

from deepprune.data.answers import AnswerChecker
from deepprune.report.budget import (
    ConsCurve,
    cons_curve,
    curve_sizes,
    delta_acc_at_budget,
    exact_vote_accuracy,
    interpolate_accuracy,
    matched_cons_tokens,
    tokens_vs_matched_cons,
)

# Hand-made curve: accuracy rises by 0.1 per doubling of tokens.
CURVE = [
    {"n": 1, "accuracy": 0.5, "total_tokens": 100.0},
    {"n": 2, "accuracy": 0.6, "total_tokens": 200.0},
    {"n": 4, "accuracy": 0.7, "total_tokens": 400.0},
]
STRING = AnswerChecker("answer_is", "string")


def test_curve_sizes() -> None:
    assert curve_sizes(1) == [1]
    assert curve_sizes(8) == [1, 2, 4, 8]
    assert curve_sizes(40) == [1, 2, 4, 8, 16, 32, 40]
    with pytest.raises(ValueError, match="at least one trace"):
        curve_sizes(0)


@pytest.mark.parametrize(
    ("tokens", "expected"),
    [
        (100.0, 0.5),  # on a point
        (400.0, 0.7),  # on the last point
        (100.0 * math.sqrt(2), 0.55),  # log-midpoint of 100 and 200: halfway between 0.5 and 0.6
        (200.0 * 2**0.25, 0.625),  # a quarter of the way (in log) from 200 to 400: 0.6 + 0.25 * 0.1
        (300.0, 0.6 + 0.1 * math.log(1.5) / math.log(2)),  # log(300/200)/log(400/200) = 0.585 -> 0.6585
        (50.0, 0.5),  # below cons@1: clamped to cons@1
        (0.0, 0.5),  # no budget at all: still cons@1 (clamped)
        (10_000.0, 0.7),  # beyond cons@N: clamped to cons@N
    ],
)
def test_interpolate_accuracy(tokens: float, expected: float) -> None:
    assert interpolate_accuracy(CURVE, tokens) == pytest.approx(expected)


def test_interpolation_ignores_point_order() -> None:
    assert interpolate_accuracy(list(reversed(CURVE)), 100.0 * math.sqrt(2)) == pytest.approx(0.55)


@pytest.mark.parametrize(
    ("curve", "match"),
    [
        ([], "empty"),
        ([{"n": 1, "accuracy": 0.5, "total_tokens": 0.0}, {"n": 2, "accuracy": 0.6, "total_tokens": 10.0}], "> 0"),
        ([{"n": 1, "accuracy": 0.5, "total_tokens": 20.0}, {"n": 2, "accuracy": 0.6, "total_tokens": 20.0}], "grow"),
    ],
)
def test_interpolate_rejects_bad_curves(curve: list, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        interpolate_accuracy(curve, 50.0)


def test_delta_acc_at_budget() -> None:
    # At 100*sqrt(2) tokens cons reaches 0.55, so 0.62 is 0.07 above it; 0.5 at 400 tokens is 0.2 below cons@4.
    assert delta_acc_at_budget(CURVE, 0.62, 100.0 * math.sqrt(2)) == pytest.approx(0.07)
    assert delta_acc_at_budget(CURVE, 0.5, 400.0) == pytest.approx(-0.2)


@pytest.mark.parametrize(
    ("accuracy", "expected"),
    [
        (0.6, 200.0),  # cons@2 reaches 0.6 exactly
        (0.55, 100.0 * math.sqrt(2)),  # halfway (in log tokens) from cons@1 to cons@2
        (0.675, 400.0 * 2**-0.25),  # three quarters of the way from cons@2 to cons@4
        (0.3, 100.0),  # below cons@1: cons@1's tokens (clamped)
        (0.71, None),  # nothing reaches it
    ],
)
def test_matched_cons_tokens_interpolates_like_the_accuracy(accuracy: float, expected: float | None) -> None:
    matched = matched_cons_tokens(CURVE, accuracy)
    assert matched == (None if expected is None else pytest.approx(expected))
    if expected is not None and accuracy >= CURVE[0]["accuracy"]:
        assert interpolate_accuracy(CURVE, matched) == pytest.approx(accuracy)  # the inverse of the interpolation


def test_tokens_vs_matched_cons() -> None:
    # 100 tokens at accuracy 0.6: cons needs 200 for that, so the method uses half.
    assert tokens_vs_matched_cons(CURVE, 0.6, 100.0) == pytest.approx(0.5)
    # 1000 tokens at 0.65: the curve reaches 0.65 at 200 * sqrt(2) tokens (not at cons@4's 400) -> 3.54x.
    assert tokens_vs_matched_cons(CURVE, 0.65, 1000.0) == pytest.approx(1000 / (200 * math.sqrt(2)))
    assert tokens_vs_matched_cons(CURVE, 0.9, 10.0) is None


# Problem A (gold a): answers a, b, a, none; tokens 10, 20, 30, 40.
# Problem B (gold x): answers y, x, y, y; 5 tokens each.
TINY = [
    (["a", "b", "a", None], [10, 20, 30, 40], "a"),
    (["y", "x", "y", "y"], [5, 5, 5, 5], "x"),
]


def test_cons_curve_on_hand_made_problems() -> None:
    curve = cons_curve(TINY, STRING)
    assert [p["n"] for p in curve] == [1, 2, 4]
    one, two, four = curve
    # n=1: mean per-trace accuracy, the unanswered trace wrong: (2/4 + 1/4) / 2 = 0.375; tokens: 25 + 5 = 30.
    assert one["accuracy"] == pytest.approx(0.375, abs=1e-12)
    assert one["total_tokens"] == pytest.approx(30.0)
    # n=N: majority vote. A: a (2) beats b (1), the unanswered trace does not vote -> right; B: y (3) -> wrong.
    assert four["accuracy"] == pytest.approx(0.5, abs=1e-12)
    assert four["total_tokens"] == pytest.approx(120.0)
    # n=2 (all 6 pairs equally likely, a tie goes to either answer with probability 1/2):
    # A: {a,b} 1/2, {a,a} 1, {a,-} 1, {b,a} 1/2, {b,-} 0, {a,-} 1 -> 4/6; B: three {y,x} pairs at 1/2 -> 1.5/6.
    # Exactly (2/3 + 1/4) / 2; tokens: each trace is in half the pairs, 2/4 of 120.
    assert two["accuracy"] == pytest.approx((2 / 3 + 1 / 4) / 2, abs=1e-12)
    assert two["total_tokens"] == pytest.approx(60.0, abs=1e-9)


def test_cons_curve_votes_equivalence_classes_and_splits_ties() -> None:
    # "The answer is Yes." and "yes" are one class under string equivalence: 2 votes beat "no".
    curve = cons_curve([(["no", "Yes.", "yes"], [1, 1, 1], "YES")], STRING)
    assert curve[-1] == {"n": 3, "accuracy": 1.0, "total_tokens": 3.0}
    # A 1-1 tie goes to either answer with probability 1/2, whatever the stored order.
    assert cons_curve([(["q", "r"], [1, 1], "q")], STRING)[-1]["accuracy"] == pytest.approx(0.5)
    assert cons_curve([(["r", "q"], [1, 1], "q")], STRING)[-1]["accuracy"] == pytest.approx(0.5)
    # No trace answered: nothing to vote for, wrong at every n.
    assert all(p["accuracy"] == 0.0 for p in cons_curve([([None, None], [3, 4], "q")], STRING))


def brute_force_vote_accuracy(labels: list[int | None], correct: dict[int, bool], n: int) -> Fraction:
    """Every ordered n-subset of the pool, each voted with ties to the class seen first: the definition."""
    hits, subsets = Fraction(0), 0
    for order in itertools.permutations(range(len(labels)), n):
        counts: dict[int, int] = {}
        first: dict[int, int] = {}
        for position, index in enumerate(order):
            label = labels[index]
            if label is not None:
                counts[label] = counts.get(label, 0) + 1
                first.setdefault(label, position)
        subsets += 1
        if counts:
            best = max(counts.values())
            winner = min((c for c in counts if counts[c] == best), key=first.__getitem__)
            hits += correct[winner]
    return hits / subsets


POOLS = [
    ([0, 0, 1, None], {0: True, 1: False}),
    ([0, 1, 1, 2, 2, None, 0], {0: True, 1: False, 2: False}),  # three-way ties at n = 3 and 6
    ([0, 1, 2, 3, None, None], {0: False, 1: True, 2: True, 3: False}),  # two classes equal to gold
    ([None, None, 0], {0: True}),  # most subsets vote for nothing
    ([0, 0, 0, 1, 1, 1, 2], {0: False, 1: True, 2: False}),
]


@pytest.mark.parametrize(("labels", "correct"), POOLS)
def test_exact_vote_accuracy_equals_brute_force_enumeration(labels, correct) -> None:
    classes = sorted(correct)
    sizes = [labels.count(c) for c in classes]
    for n in range(1, len(labels) + 1):
        expected = brute_force_vote_accuracy(labels, correct, n)
        exact = exact_vote_accuracy(sizes, [correct[c] for c in classes], labels.count(None), n)
        assert exact == pytest.approx(float(expected), abs=1e-12), n


def test_exact_vote_accuracy_at_the_paper_scale_is_a_probability() -> None:
    # 512 traces in 9 classes: the counts reach C(512, 256) ~ 1e153 and stay finite in float64.
    sizes = [200, 120, 80, 50, 30, 20, 8, 3, 1]
    values = [exact_vote_accuracy(sizes, [True] + [False] * 8, 0, n) for n in (1, 64, 256, 512)]
    assert values[0] == pytest.approx(200 / 512)
    assert values[-1] == 1.0
    assert all(0.0 <= v <= 1.0 for v in values) and values == sorted(values)


def test_cons_curve_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="problem 'p9': 3 traces, but the problems before it have 4"):
        curve = ConsCurve(STRING)
        curve.add(["a"] * 4, [1] * 4, "a", "p0")
        curve.add(["a"] * 3, [1] * 3, "a", "p9")
    with pytest.raises(ValueError, match="2 answers but 3 token counts"):
        cons_curve([(["a", "b"], [1, 2, 3], "a")], STRING)
    with pytest.raises(ValueError, match="finite and >= 0"):
        cons_curve([(["a", "b"], [1, -2], "a")], STRING)
    with pytest.raises(ValueError, match="at least one trace"):
        cons_curve([([], [], "a")], STRING)
    with pytest.raises(ValueError, match="no problems"):
        cons_curve([], STRING)
