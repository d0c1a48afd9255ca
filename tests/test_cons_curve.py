"""prune.py's cons@n curve (method=cons method.curve=true) and DeepPrune's stop statistics, through run_prune."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from deepprune.data.answers import AnswerChecker
from deepprune.data.io import read_problems
from deepprune.judges.base import Judge, PrefixPair
from deepprune.runner import run_prune
from tests.helpers.configs import compose_entry
from tests.helpers.run_if import RunIf
from tests.helpers.traces import write_toy_file


class NeverSameJudge(Judge):
    """A judge that always answers "different": every trace opens its own cluster."""

    name = "never_same"

    def __init__(self, checker: AnswerChecker | None = None) -> None:
        super().__init__()

    def _score(self, pairs: Sequence[PrefixPair]) -> np.ndarray:
        return np.zeros(len(pairs))


def prune(tmp_path: Path, overrides: list[str]) -> dict[str, Any]:
    tmp_path.mkdir(exist_ok=True)
    toy = write_toy_file(tmp_path / "toy.jsonl")
    cfg = compose_entry("prune", f"data.traces={toy}", "benchmark=last_letters", *overrides)
    return run_prune(cfg, tmp_path / "run")


def test_cons_curve_in_one_run(tmp_path, capsys) -> None:
    metrics = prune(tmp_path, ["method=cons", "method.curve=true"])
    curve = metrics["curve"]
    assert [p["n"] for p in curve] == [1, 2, 4, 8]  # the toy file stores 8 traces per problem
    # n = N is the run's own cons@N: same accuracy, same tokens.
    assert curve[-1]["accuracy"] == pytest.approx(metrics["accuracy"])
    assert curve[-1]["total_tokens"] == pytest.approx(metrics["total_tokens"])
    # n = 1 is the mean per-trace accuracy (a trace without an answer is wrong), from the file itself.
    checker = AnswerChecker("answer_is", "string")
    problems = list(read_problems(tmp_path / "toy.jsonl"))
    per_trace = np.mean([np.mean([t.answer is not None and checker.is_correct(t.answer, p.gold) for t in p.traces])
                         for p in problems])  # fmt: skip
    assert curve[0]["accuracy"] == pytest.approx(per_trace)
    assert curve[0]["total_tokens"] == pytest.approx(metrics["total_tokens"] / 8)
    printed = capsys.readouterr().out
    assert "cons@n curve" in printed and f"{curve[0]['accuracy']:.4f}" in printed


def test_cons_curve_is_exact_whatever_the_run_subsamples(tmp_path) -> None:
    # The curve enumerates every subset: it does not depend on the run's seed or subsamples, and a cons@4 run's
    # mean over many seeded subsamples converges to its n=4 point (standard error here < 0.015).
    one = prune(tmp_path / "a", ["method=cons", "method.n=4", "method.curve=true", "subsamples=2", "seed=2"])
    many = prune(tmp_path / "b", ["method=cons", "method.n=4", "method.curve=true", "subsamples=400", "seed=5"])
    assert one["curve"] == many["curve"]
    points = {p["n"]: p for p in many["curve"]}
    assert sorted(points) == [1, 2, 4, 8]
    assert points[4]["accuracy"] == pytest.approx(many["accuracy"], abs=0.03)
    assert points[4]["total_tokens"] == pytest.approx(many["total_tokens"], rel=0.03)


def test_no_curve_unless_asked(tmp_path) -> None:
    assert "curve" not in prune(tmp_path, ["method=cons"])


def test_curve_must_be_a_bool(tmp_path) -> None:
    with pytest.raises(ValueError, match="method.curve must be true or false"):
        prune(tmp_path, ["method=cons", "method.curve=3"])


def test_fallback_count_with_a_judge_that_never_says_same(tmp_path, capsys) -> None:
    metrics = prune(
        tmp_path,
        ["method=deepprune", "judge=oracle", f"judge._target_={__name__}.NeverSameJudge", "truncation.k=5"],
    )
    assert metrics["judge"] == "never_same"
    # Every cluster a singleton on all 3 problems: the K3 rule chose, 8 clusters (one per trace) each time.
    assert metrics["fallback_problems"] == 3
    assert metrics["mean_clusters"] == 8
    assert metrics["finish"] == "paper"
    assert all(r["fallback"] is True for r in metrics["problems"])
    # K3 = 8 covers the pool: every trace finishes (DeepPrune is then cons@8 plus the prefixes).
    assert metrics["mean_traces_finished"] == 8
    assert "3 / 3" in capsys.readouterr().out


def test_fallback_count_with_the_oracle(tmp_path) -> None:
    # The oracle says "same" for equal answers: the toy problems all have repeated answers, so none falls back.
    metrics = prune(tmp_path, ["method=deepprune", "judge=oracle", "truncation.k=5"])
    assert metrics["fallback_problems"] == 0
    assert metrics["mean_clusters"] == pytest.approx(np.mean([r["clusters"] for r in metrics["problems"]]))
    assert metrics["mean_clusters"] < 8


def test_fallback_is_the_mean_over_subsamples(tmp_path) -> None:
    # n=4 of 8: 10 subsamples per problem, each falling back: every problem counts 1.0.
    metrics = prune(
        tmp_path,
        ["method=deepprune", "method.n=4", "judge=oracle", f"judge._target_={__name__}.NeverSameJudge"],
    )
    assert metrics["fallback_problems"] == pytest.approx(3.0)
    assert all(r["fallback"] == 1.0 and r["subsamples"] == 10 for r in metrics["problems"])
    assert metrics["mean_clusters"] == pytest.approx(4.0)


@RunIf(requires_vllm=True)
def test_live_curve_votes_the_traces_the_run_generated(tmp_path: Path, tiny_test_model: str) -> None:
    """Live (vLLM on the tiny random model): the curve comes from the run's own N traces, nothing generated twice."""
    bench = tmp_path / "bench.jsonl"
    bench.write_text('{"index": 1, "question": "What is 1+1?", "true_answer": "2"}\n'
                     '{"index": 2, "question": "What is 2+3?", "true_answer": "5"}\n')  # fmt: skip
    metrics = prune(
        tmp_path,
        ["engine=vllm_cpu", "model=tiny_test", f"model.path={tiny_test_model}", "model.max_tokens=24",
         "engine.progress=false", "benchmark=aime24", f"benchmark.path={bench}", "method=cons", "method.n=6",
         "method.curve=true"],
    )  # fmt: skip
    assert [p["n"] for p in metrics["curve"]] == [1, 2, 4, 6]
    assert metrics["curve"][-1]["accuracy"] == pytest.approx(metrics["accuracy"])
    assert metrics["curve"][-1]["total_tokens"] == pytest.approx(metrics["total_tokens"])
    assert metrics["curve"][0]["total_tokens"] == pytest.approx(metrics["total_tokens"] / 6)
    assert metrics["generated_tokens"] == metrics["total_tokens"]  # the curve generated nothing more


def test_leaderboard_gives_intervals_over_problems_and_marks_deltas_within_noise(tmp_path) -> None:
    import csv
    import re

    from deepprune.report.leaderboard import write_leaderboard
    from tests.helpers.tables import table_rows

    cons = prune(tmp_path / "cons", ["method=cons", "method.curve=true"])
    prune(tmp_path / "oracle", ["method=deepprune", "judge=oracle", "method.call_budget=null", "truncation.k=3"])
    assert cons["accuracy_ci95"][0] <= cons["accuracy"] <= cons["accuracy_ci95"][1]
    assert set(cons["problems"][0]["curve_accuracy"]) == {"1", "2", "4", "8"}
    markdown = write_leaderboard([tmp_path / "cons" / "run", tmp_path / "oracle" / "run"], tmp_path / "board")
    ideal = table_rows(markdown)["deepprune, ideal judge (cons@N's answer at DeepPrune's cost)"]
    # Three problems: the interval of the Δ is wide and contains 0, so it is marked as noise.
    assert re.fullmatch(r"(<u>)?\d+\.\d(</u>)? \[\d+\.\d, \d+\.\d\]", ideal[1]), ideal
    assert re.fullmatch(r"[+-]\d+\.\d \[[+-]\d+\.\d, [+-]\d+\.\d\]°", ideal[2]), ideal
    assert "° the interval contains 0" in markdown
    with (tmp_path / "board" / "leaderboard.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        assert float(row["accuracy_ci_low"]) <= float(row["accuracy"]) <= float(row["accuracy_ci_high"])
        assert float(row["delta_ci_low"]) <= float(row["delta_acc_at_budget"]) <= float(row["delta_ci_high"])
