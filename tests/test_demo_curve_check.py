"""The demo build's check that voting still pays beyond DeepPrune's budget (python -m experiments.demo.check_curve)."""

from __future__ import annotations

import json

import pytest

from deepprune.report.budget import rise_beyond
from tests.helpers.run_entry import run_entry

RISING = [
    {"n": 1, "accuracy": 0.30, "total_tokens": 100.0},
    {"n": 4, "accuracy": 0.50, "total_tokens": 400.0},
    {"n": 16, "accuracy": 0.78, "total_tokens": 1600.0},
    {"n": 64, "accuracy": 0.96, "total_tokens": 6400.0},
]
FLAT = [{**p, "accuracy": min(p["accuracy"], 0.78)} for p in RISING]  # saturated from n = 16 on


def test_rise_beyond_a_budget():
    assert rise_beyond(RISING, 1600.0) == pytest.approx(0.18)
    assert rise_beyond(RISING, 800.0) == pytest.approx(0.96 - 0.64)  # halfway (log) from cons@4 to cons@16
    assert rise_beyond(FLAT, 1600.0) == pytest.approx(0.0)


@pytest.mark.parametrize(("curve", "code"), [(RISING, 0), (FLAT, 1)])
def test_the_build_check_fails_on_a_flat_curve(tmp_path, curve, code):
    (tmp_path / "cons.json").write_text(json.dumps({"curve": curve, "problem_set": "s"}))
    (tmp_path / "dp.json").write_text(json.dumps({"total_tokens": 1600.0, "problem_set": "s"}))
    result = run_entry("-m experiments.demo.check_curve", tmp_path / "cons.json", tmp_path / "dp.json", expect=code)
    rise = "+18.0" if code == 0 else "+0.0"
    assert f"rise {rise} pt (required >= 6)" in result.stdout
    assert ("flat beyond DeepPrune's budget" in result.stderr) == (code == 1)
