"""95% bootstrap intervals over problems (deepprune/report/bootstrap.py) on hand-computed cases."""

from __future__ import annotations

import pytest

from deepprune.report.bootstrap import accuracy_interval, delta_interval


def test_accuracy_interval_of_two_problems():
    # Resampling [1, 0]: mean 0 w.p. 1/4, 0.5 w.p. 1/2, 1 w.p. 1/4 -> the 2.5th/97.5th percentiles are 0 and 1.
    assert accuracy_interval([1.0, 0.0]) == (0.0, 1.0)
    # Every problem right: no resample can differ.
    assert accuracy_interval([1.0] * 10) == (1.0, 1.0)


def test_accuracy_interval_narrows_with_more_problems():
    # 30 of 50 right (0.6): the normal approximation's 95% half-width is 1.96 * sqrt(0.6 * 0.4 / 50) = 0.136.
    low, high = accuracy_interval([1.0] * 30 + [0.0] * 20)
    assert low == pytest.approx(0.6 - 0.136, abs=0.03) and high == pytest.approx(0.6 + 0.136, abs=0.03)
    low, high = accuracy_interval([1.0] * 300 + [0.0] * 200)
    assert high - low == pytest.approx(2 * 0.043, abs=0.01)


def curve_records(accuracies: list[dict[str, float]], pool_tokens: list[float], pool: int = 4) -> list[dict]:
    return [
        {"id": f"p{i}", "curve_accuracy": a, "pool_tokens": t, "pool_size": pool}
        for i, (a, t) in enumerate(zip(accuracies, pool_tokens, strict=True))
    ]


def test_a_run_that_is_the_curves_last_point_has_delta_zero_on_every_resample():
    accuracies = [{"1": 0.25, "2": 0.5, "4": 1.0}, {"1": 0.5, "2": 0.5, "4": 0.0}, {"1": 0.75, "2": 1.0, "4": 1.0}]
    curve = curve_records(accuracies, [40.0, 80.0, 20.0])
    run = [
        {"id": f"p{i}", "correct": a["4"], "tokens": t}
        for i, (a, t) in enumerate(zip(accuracies, [40.0, 80.0, 20.0], strict=True))
    ]
    assert delta_interval(run, curve) == pytest.approx((0.0, 0.0), abs=1e-12)


def test_delta_against_a_flat_curve_is_the_accuracy_interval():
    # A curve at 0 accuracy for every n: Δ = the run's accuracy on each resample, so the intervals coincide.
    flat = curve_records([{"1": 0.0, "2": 0.0, "4": 0.0}] * 2, [10.0, 10.0])
    run = [{"id": "p0", "correct": 1.0, "tokens": 3.0}, {"id": "p1", "correct": 0.0, "tokens": 3.0}]
    assert delta_interval(run, flat) == (0.0, 1.0) == accuracy_interval([1.0, 0.0])


def test_pairs_problems_by_id_and_refuses_other_problems():
    curve = curve_records([{"1": 0.0, "4": 1.0}, {"1": 1.0, "4": 0.0}], [10.0, 10.0])
    # In another order: still paired by id (p1 is the problem the curve gets wrong at n=4).
    run = [{"id": "p1", "correct": 0.0, "tokens": 10.0}, {"id": "p0", "correct": 1.0, "tokens": 10.0}]
    assert delta_interval(run, curve) == pytest.approx((0.0, 0.0), abs=1e-12)
    with pytest.raises(ValueError, match="different problems"):
        delta_interval([{"id": "p9", "correct": 1.0, "tokens": 1.0}], curve)
