"""Judge time apart from generation time: ``judge_seconds`` / ``generation_seconds`` in metrics.json, and
benchmarks/bench_clustering.py running several exported judges x {paper, fast} side by side."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from benchmarks import bench_clustering
from deepprune.instantiate import build
from deepprune.runner import run_prune
from deepprune.training.export import export_judge
from tests.helpers.traces import write_toy_file

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
DEMO_JUDGE = ROOT / "deepprune" / "assets" / "demo" / "judge"  # a judge exported by train.py (a bi-encoder)
TOY = ["benchmark=last_letters", "truncation.k=5"]


def prune_metrics(tmp_path: Path, toy: Path, name: str, *overrides: str) -> dict:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("prune", [*TOY, f"data.traces={toy}", *overrides])
    run_prune(cfg, tmp_path / name)
    return json.loads((tmp_path / name / "metrics.json").read_text())


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    return write_toy_file(tmp_path_factory.mktemp("toy") / "toy.jsonl")


def export_untrained(out: Path, judge: str) -> Path:
    """An exported ``judge`` (untrained LoRA and head: the bench measures cost, not quality)."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", [f"judge={judge}", *TOY])
    judge_cfg = OmegaConf.to_container(cfg.judge, resolve=True)
    return export_judge(build(cfg.judge), judge_cfg, build(cfg.truncation), out)


@pytest.fixture(scope="module")
def bi_encoder_judge(tmp_path_factory) -> Path:
    return export_untrained(tmp_path_factory.mktemp("bi_encoder"), "bi_encoder")


@pytest.fixture(scope="module")
def cross_encoder_judge(tmp_path_factory) -> Path:
    return export_untrained(tmp_path_factory.mktemp("cross_encoder"), "minilm")


def test_metrics_keep_judge_time_apart_from_generation_time(tmp_path, toy):
    pruned = prune_metrics(tmp_path, toy, "deepprune", "method=deepprune", "judge=trained", f"judge.path={DEMO_JUDGE}")
    cons = prune_metrics(tmp_path, toy, "cons", "method=cons")
    for metrics in (pruned, cons):
        problems = metrics["problems"]
        assert metrics["generation_seconds"] > 0 and all(p["generation_seconds"] > 0 for p in problems)
        for key in ("judge_seconds", "generation_seconds"):
            assert metrics[key] == pytest.approx(sum(p[key] for p in problems))
        # Both are measured inside the run, around separate calls: together never more than its wall time.
        assert metrics["judge_seconds"] + metrics["generation_seconds"] <= metrics["wall_seconds"]
    assert pruned["judge_seconds"] > 0 and all(p["judge_seconds"] > 0 for p in pruned["problems"])
    assert cons["judge_seconds"] == 0.0 and all(p["judge_seconds"] == 0.0 for p in cons["problems"])


def test_bench_runs_two_judges_with_both_rules_against_cross_encoder_and_paper(
    tmp_path, toy, cross_encoder_judge, bi_encoder_judge, capsys
):
    out = tmp_path / "bench"
    judges = ["--judges", f"cross={cross_encoder_judge}", f"bi={bi_encoder_judge}"]
    argv = [*TOY, f"data.traces={toy}", "--out", str(out), *judges]
    bench_clustering.main(argv)
    printed = capsys.readouterr().out
    comparison = json.loads((out / "comparison.json").read_text())
    rows = comparison["rows"]
    assert list(rows) == ["cross/paper", "cross/fast", "bi/paper", "bi/fast"]
    assert comparison["reference"] == "cross/paper" and rows["cross/paper"]["judge_time_vs_reference"] == 1.0
    assert comparison["judges"] == {"cross": str(cross_encoder_judge), "bi": str(bi_encoder_judge)}
    for label, row in rows.items():
        judge, rule = label.split("/")
        metrics = json.loads((out / judge / rule / "metrics.json").read_text())
        assert metrics["judge_path"] == comparison["judges"][judge] and metrics["compare"] == rule
        assert metrics["judge_seconds"] > 0
        assert row["judge_seconds_per_problem"] == pytest.approx(metrics["judge_seconds"] / 3)
        assert row["judge_tokens_per_problem"] == pytest.approx(metrics["judge_tokens"] / 3)
        reference = 3 * rows["cross/paper"]["judge_seconds_per_problem"]
        assert row["judge_time_vs_reference"] == pytest.approx(metrics["judge_seconds"] / reference)
        met = row["judge_time_vs_reference"] <= 0.2 and abs(row["delta_accuracy_points"]) <= 0.5
        assert row["meets_issue_goal"] == (met and label != "cross/paper")
    # The cross-encoder reads both prefixes of every pair; the bi-encoder reads each prefix once per problem.
    assert rows["bi/paper"]["judge_tokens_per_problem"] < rows["cross/paper"]["judge_tokens_per_problem"]
    assert comparison["runs"]["bi"]["fast"]["judge_seconds"] > 0
    assert "5x less judge time than cross+paper at equal accuracy (within 0.5 pt)" in printed
    assert "judge time vs cross/paper" in printed


def test_bench_with_the_judge_in_the_overrides_keeps_its_old_layout(tmp_path, toy):
    out = tmp_path / "bench"
    bench_clustering.main([*TOY, f"data.traces={toy}", "judge=oracle", "--out", str(out)])
    comparison = json.loads((out / "comparison.json").read_text())
    assert (out / "paper" / "metrics.json").exists() and (out / "fast" / "metrics.json").exists()
    assert comparison["reference"] == "oracle/paper" and list(comparison["rows"]) == ["oracle/paper", "oracle/fast"]
    oracle = comparison["runs"]["oracle"]
    assert oracle["delta"]["judge_calls_per_trace"] < 0  # fast spends fewer calls than paper on the toy file
    assert oracle["goal"]["calls_per_trace"] and comparison["judges"] == {"oracle": None}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--judges", "cross"], "expected NAME=DIR"),
        (["--judges", "a/b=/x"], "expected NAME=DIR"),
        (["--judges", "a=/x", "a=/y"], "the name 'a' is given twice"),
        (["judge=sbert", "--judges", "a=/x"], "not both"),
    ],
)
def test_bad_judges_argument_is_a_one_line_error(argv, message, tmp_path):
    with pytest.raises(ValueError, match=message) as err:
        bench_clustering.main([*argv, "--out", str(tmp_path)])
    assert "\n" not in str(err.value)
