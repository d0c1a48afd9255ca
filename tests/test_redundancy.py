"""deepprune redundancy on a toy trace file whose figures can be worked out by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deepprune.data.io import write_problems
from deepprune.report.budget import interpolate_accuracy
from deepprune.tools import redundancy
from tests.helpers.traces import make_problem, write_toy_file

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    tmp = tmp_path_factory.mktemp("redundancy")
    # write_toy_file: p0 (gold a) a a b a c a b a; p1 (gold x) y y x y x y z y; p2 (gold m) - m m - n m m n.
    # Trace i has 20 + 2i words (one MiniLM token each) and opens "route <answer>" ("route none" if unanswered).
    traces = write_toy_file(tmp / "toy.jsonl")
    out = tmp / "out"
    assert redundancy.main([str(traces), "--out", str(out), "--k", "1", "2", "--benchmark", "last_letters"]) == 0
    return json.loads((out / "redundancy.json").read_text()), out


def test_outputs_exist(report: tuple[dict, Path]) -> None:
    data, out = report
    assert set(data) == {"settings", "files"}
    (entry,) = data["files"]
    for key in (
        "path",
        "model",
        "benchmark",
        "num_problems",
        "per_trace_accuracy",
        "same_answer_pair_fraction",
        "distinct_answers_per_problem",
        "mean_trace_tokens",
        "cons_curve",
        "prefix",
    ):
        assert key in entry
    for name in ("pairs_png", "cons_png"):
        png = out / entry[name]
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (out / "redundancy.md").read_text()
    assert "| toy.jsonl |" in md and "identical AUROC" in md


def test_file_figures_match_hand_computation(report: tuple[dict, Path]) -> None:
    (entry,) = report[0]["files"]
    assert entry["benchmark"] == "last_letters" and entry["num_problems"] == 3
    # Right traces: p0 5 of 8, p1 2 of 8, p2 4 of 8 (unanswered traces are wrong) -> 11/24.
    assert entry["per_trace_accuracy"] == pytest.approx(11 / 24)
    # Answered pairs that agree: p0 C(5,2)+C(2,2) = 11 of 28; p1 the same; p2 C(4,2)+C(2,2) = 7 of C(6,2) = 15.
    assert entry["same_answer_pair_fraction"] == pytest.approx(29 / 71)
    assert entry["distinct_answers_per_problem"] == pytest.approx((3 + 3 + 2) / 3)
    # 20, 22, ..., 34 tokens: mean 27.
    assert entry["mean_trace_tokens"] == pytest.approx(27.0)


def test_cons_curve(report: tuple[dict, Path]) -> None:
    curve = report[0]["files"][0]["cons_curve"]
    assert [p["n"] for p in curve] == [1, 2, 4, 8]
    # n=1: the mean per-trace accuracy, one mean-length trace per problem (3 * 27 tokens).
    assert curve[0]["accuracy"] == pytest.approx(11 / 24)
    assert curve[0]["total_tokens"] == pytest.approx(81.0)
    # n=8: majority a (right), y (wrong), m (right; the unanswered traces do not vote); every token: 3 * 216.
    assert curve[-1]["accuracy"] == pytest.approx(2 / 3)
    assert curve[-1]["total_tokens"] == pytest.approx(648.0)
    assert all(0.0 <= p["accuracy"] <= 1.0 for p in curve)
    assert [p["total_tokens"] for p in curve] == sorted(p["total_tokens"] for p in curve)


def test_prefix_figures(report: tuple[dict, Path]) -> None:
    by_k = {e["k"]: e for e in report[0]["files"][0]["prefix"]}
    one, two = by_k[1], by_k[2]
    # Every answered pair of every problem is sampled (28 + 28 + 15 < 64 per problem).
    assert one["num_pairs"] == two["num_pairs"] == 71
    # k=1: every prefix is "route": identical for all pairs, which tells nothing (AUROC 0.5), and no answer yet.
    assert one["identical_auroc"] == pytest.approx(0.5)
    assert one["answer_in_prefix"] == 0.0
    # k=2: "route <answer>": identical exactly when the answers agree, and it contains the answer.
    assert two["identical_auroc"] == pytest.approx(1.0)
    assert two["answer_in_prefix"] == 1.0
    for entry in (one, two):
        for key in ("difflib_auroc", "sbert_auroc"):
            assert 0.0 <= entry[key] <= 1.0
        # Oracle clusters by answer; the largest cluster (a, y, m) finishes and votes: as cons@8, 2/3 right.
        assert entry["oracle_accuracy"] == pytest.approx(2 / 3)
    # Tokens: p0 and p1 finish traces 0,1,3,5,7 (20+22+26+30+34 = 132) and stop 3 at k tokens; p2 finishes
    # 1,2,5,6 (22+24+30+32 = 108) and stops 4. k=1: 135+135+112 = 382; k=2: 138+138+116 = 392 of cons@8's 648.
    assert one["oracle_tokens"] == pytest.approx(382.0)
    assert two["oracle_tokens"] == pytest.approx(392.0)
    assert two["oracle_token_ratio"] == pytest.approx(392 / 648)
    curve = report[0]["files"][0]["cons_curve"]
    assert two["cons_accuracy_at_oracle_budget"] == pytest.approx(interpolate_accuracy(curve, 392.0))


def test_benchmark_from_the_records_must_have_a_config(tmp_path: Path) -> None:
    traces = write_toy_file(tmp_path / "toy.jsonl")  # records say benchmark "toy"
    with pytest.raises(ValueError, match=r"conf/benchmark/toy\.yaml"):
        redundancy.main([str(traces), "--out", str(tmp_path / "out"), "--k"])


def test_unequal_pools_name_file_and_problem(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    write_problems(path, [make_problem("q0", "a", ["a", "b", "a", "a"]), make_problem("q1", "a", ["a", "b"])])
    with pytest.raises(ValueError, match=r"mixed\.jsonl: problem 'q1': 2 traces, but the problems before it have 4"):
        redundancy.main([str(path), "--out", str(tmp_path / "out"), "--k", "--benchmark", "last_letters"])
    assert not (tmp_path / "out" / "redundancy.json").exists()


def test_answer_in_text_matches_whole_tokens() -> None:
    assert redundancy.answer_in_text("25", "so 25 it is")
    assert not redundancy.answer_in_text("25", "so 125 it is")
    assert redundancy.answer_in_text("\\frac{1}{2}", "half is \\frac{1}{2}.")
    assert redundancy.answer_in_text("YAJO", "concatenating: yajo")
