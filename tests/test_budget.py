"""cons@n curve and budget arithmetic (deepprune/report/budget.py)."""

from __future__ import annotations

import math

import pytest
from trace_fixtures import make_problem

from deepprune.data.answers import AnswerChecker
from deepprune.data.io import write_problems
from deepprune.engines.base import End
from deepprune.engines.replay import ReplayEngine
from deepprune.methods.cons import ConsMethod
from deepprune.report.budget import (
    ConsCurve,
    cons_curve,
    curve_sizes,
    delta_acc_at_budget,
    interpolate_accuracy,
    matched_cons_tokens,
    tokens_vs_matched_cons,
)
from deepprune.runner import run_problem

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
    ("accuracy", "tolerance", "expected"),
    [
        (0.6, 0.005, 200.0),  # cons@2 reaches 0.6 exactly
        (0.605, 0.005, 200.0),  # 0.6 >= 0.605 - 0.005 (within tolerance, despite float rounding)
        (0.606, 0.005, 400.0),  # 0.6 < 0.601: the next point, 0.7, is needed
        (0.3, 0.005, 100.0),  # every point qualifies: the cheapest is cons@1
        (0.71, 0.005, None),  # nothing reaches 0.705
        (0.71, 0.01, 400.0),  # 0.7 >= 0.70 with a larger tolerance
    ],
)
def test_matched_cons_tokens(accuracy: float, tolerance: float, expected: float | None) -> None:
    assert matched_cons_tokens(CURVE, accuracy, tolerance) == expected


def test_tokens_vs_matched_cons() -> None:
    # 100 tokens at accuracy 0.6: cons needs 200 for that, so the method uses half.
    assert tokens_vs_matched_cons(CURVE, 0.6, 100.0) == pytest.approx(0.5)
    # 1000 tokens at 0.65: cons@4 (400 tokens) is the cheapest at >= 0.645 -> 2.5x.
    assert tokens_vs_matched_cons(CURVE, 0.65, 1000.0) == pytest.approx(2.5)
    assert tokens_vs_matched_cons(CURVE, 0.9, 10.0) is None


# Problem A (gold a): answers a, b, a, none; tokens 10, 20, 30, 40.
# Problem B (gold x): answers y, x, y, y; 5 tokens each.
TINY = [
    (["a", "b", "a", None], [10, 20, 30, 40], "a"),
    (["y", "x", "y", "y"], [5, 5, 5, 5], "x"),
]


def test_cons_curve_on_hand_made_problems() -> None:
    curve = cons_curve(TINY, STRING, subsamples=4000, seed=0)
    assert [p["n"] for p in curve] == [1, 2, 4]
    one, two, four = curve
    # n=1: mean per-trace accuracy, the unanswered trace wrong: (2/4 + 1/4) / 2 = 0.375; tokens: 25 + 5 = 30.
    assert one["accuracy"] == pytest.approx(0.375)
    assert one["total_tokens"] == pytest.approx(30.0)
    # n=N: majority vote. A: a (2) beats b (1), the unanswered trace does not vote -> right; B: y (3) -> wrong.
    assert four["accuracy"] == pytest.approx(0.5)
    assert four["total_tokens"] == pytest.approx(120.0)
    # n=2 (all 6 pairs equally likely, a tie goes to the first drawn, i.e. half the time to either answer):
    # A: {a,b} 1/2, {a,a} 1, {a,-} 1, {b,a} 1/2, {b,-} 0, {a,-} 1 -> 4/6; B: three {y,x} pairs at 1/2 -> 1.5/6.
    # Expected accuracy (2/3 + 1/4) / 2 = 0.4583; tokens linear in n: 2 * 30 = 60.
    assert two["accuracy"] == pytest.approx((2 / 3 + 1 / 4) / 2, abs=0.02)
    assert two["total_tokens"] == pytest.approx(60.0, rel=0.02)


def test_cons_curve_votes_equivalence_classes_and_first_seen_ties() -> None:
    # "The answer is Yes." and "yes" are one class under string equivalence: 2 votes beat "no".
    curve = cons_curve([(["no", "Yes.", "yes"], [1, 1, 1], "YES")], STRING)
    assert curve[-1] == {"n": 3, "accuracy": 1.0, "total_tokens": 3.0}
    # A 1-1 tie at n=N goes to the answer stored first.
    assert cons_curve([(["q", "r"], [1, 1], "q")], STRING)[-1]["accuracy"] == 1.0
    assert cons_curve([(["r", "q"], [1, 1], "q")], STRING)[-1]["accuracy"] == 0.0
    # No trace answered: nothing to vote for, wrong at every n.
    assert all(p["accuracy"] == 0.0 for p in cons_curve([([None, None], [3, 4], "q")], STRING))


def test_cons_curve_is_seeded() -> None:
    assert cons_curve(TINY, STRING, subsamples=3, seed=7) == cons_curve(TINY, STRING, subsamples=3, seed=7)


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
    with pytest.raises(ValueError, match="subsamples"):
        ConsCurve(STRING, subsamples=0)


def test_cons_points_match_prune_cons_runs(tmp_path) -> None:
    """Each 1 < n < N point is what ``prune.py method=cons method.n=n`` reports (same subsamples, same seeds)."""
    path = tmp_path / "toy.jsonl"
    write_problems(
        path,
        [
            make_problem("p0", "a", ["a", "b", "a", "c", "b", "a", None, "b"], seed=0),
            make_problem("p1", "x", ["y", "x", "x", "y", None, "y", "z", "x"], seed=1),
            make_problem("p2", "m", [None, "m", "n", None, "n", "m", "m", "n"], seed=2),
        ],
    )
    engine = ReplayEngine(str(path), extract_answer=STRING.extract)
    curve = ConsCurve(STRING, subsamples=5, seed=3)
    runs: dict[int, list[dict]] = {2: [], 4: []}
    for problem in engine.problems():
        traces = engine.start(problem, None)
        engine.advance(traces, End())
        curve.add([t.answer for t in traces], [t.num_tokens for t in traces], problem.gold, problem.id)
        for n, records in runs.items():
            records.append(run_problem(ConsMethod(n), problem, engine, STRING, None, seed=3, subsamples=5))
    points = {p["n"]: p for p in curve.points()}
    assert sorted(points) == [1, 2, 4, 8]
    for n, records in runs.items():
        assert points[n]["accuracy"] == pytest.approx(sum(float(r["correct"]) for r in records) / len(records))
        assert points[n]["total_tokens"] == pytest.approx(sum(r["tokens"] for r in records))
