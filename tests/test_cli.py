"""prune.py / eval_judge.py end to end (subprocess, as users run them), loggers, leaderboard and sweeps.

Each script and feature runs once as a subprocess; further runs of the same script call ``run_prune`` on the
same composed config in-process (a subprocess pays ~11 s of CPU importing torch and transformers first).
"""

import json
from pathlib import Path

import pytest

from deepprune.report.leaderboard import load_runs, render_markdown, sweep_summary, write_leaderboard
from deepprune.runner import run_prune
from tests.helpers.configs import compose_entry
from tests.helpers.run_entry import run_entry
from tests.helpers.traces import write_toy_file

CONTRACT = {"accuracy", "total_tokens", "num_problems", "judge_calls", "skipped_records", "problems"}
PROBLEM_FIELDS = {"id", "predicted", "gold", "correct", "tokens", "judge_calls"}


@pytest.fixture
def toy(tmp_path):
    return write_toy_file(tmp_path / "toy.jsonl")


def common(toy):
    return [f"data.traces={toy}", "benchmark=last_letters"]


def prune(run_dir: Path, *overrides: str) -> dict:
    """What ``python prune.py OVERRIDES hydra.run.dir=RUN_DIR`` runs, in this process; returns metrics.json."""
    run_prune(compose_entry("prune", *overrides), run_dir)
    return json.loads((run_dir / "metrics.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("method", ["cons", "deepconf_low", "deepconf_high", "deepprune"])
def test_prune_writes_metrics_contract(tmp_path, toy, method, capsys):
    out = tmp_path / method
    extra = ["method.warmup=4", "method.window=4"] if method.startswith("deepconf") else []
    extra += ["judge=oracle", "truncation.k=5"] if method == "deepprune" else []
    if method == "deepprune":  # the script itself, once
        # A wide terminal: rich wraps the summary's headers at its 80-column default when stdout is a pipe.
        args = [*common(toy), f"method={method}", *extra, f"hydra.run.dir={out}"]
        stdout = run_entry("prune.py", *args, env={"COLUMNS": "160"}).stdout
        metrics = json.loads((out / "metrics.json").read_text())
    else:
        metrics, stdout = prune(out, *common(toy), f"method={method}", *extra), capsys.readouterr().out
    assert CONTRACT <= set(metrics)
    assert metrics["num_problems"] == 3 and len(metrics["problems"]) == 3
    assert all(PROBLEM_FIELDS <= set(p) for p in metrics["problems"])
    assert metrics["total_tokens"] == pytest.approx(sum(p["tokens"] for p in metrics["problems"]))
    assert "accuracy" in stdout  # the printed summary table
    if method == "cons":
        assert [p["correct"] for p in metrics["problems"]] == [True, False, True]
    if method == "deepprune":
        assert metrics["judge_calls"] > 0


@pytest.mark.slow
def test_prune_skip_mode_counts_bad_records(tmp_path, toy):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(toy.read_text() + "{broken\n")
    out = tmp_path / "skip"
    failed = run_entry("prune.py", f"data.traces={bad}", "method=cons", f"hydra.run.dir={out}", expect=None)
    assert failed.returncode != 0 and "bad.jsonl:4: field '<json>'" in failed.stderr
    metrics = prune(out, f"data.traces={bad}", "method=cons", "data.on_error=skip")
    assert metrics["skipped_records"] == 1 and metrics["num_problems"] == 3


def test_deepconf_on_traces_without_confs_fails_clearly(tmp_path):
    plain = write_toy_file(tmp_path / "plain.jsonl", confs=False)
    with pytest.raises(ValueError, match="confs"):
        prune(tmp_path / "x", f"data.traces={plain}", "method=deepconf_low", "method.warmup=2")


@pytest.mark.slow
def test_eval_judge_sbert_with_wandb_offline(tmp_path, toy):
    out = tmp_path / "eval"
    run_entry(
        "eval_judge.py",
        f"data.test={toy}",
        "judge=sbert",
        "truncation.k=6",
        "data.pairs_per_problem=20",
        "logger=wandb",
        f"hydra.run.dir={out}",
    )
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("test/auroc", "test/ap", "test/tnr@fnr0.2", "num_pairs", "pos_fraction"):
        assert key in metrics
    assert metrics["num_pairs"] == 20 + 20 + 15  # p2 has 6 answered traces: 15 pairs
    # The fixture's openings name the answer, so even SBERT separates them well.
    assert metrics["test/auroc"] > 0.7
    assert (out / "roc.png").stat().st_size > 1000
    runs = list((out / "wandb").glob("offline-run-*"))
    assert runs and any(runs[0].glob("*.wandb"))


def test_csv_logger_and_leaderboard(tmp_path, toy):
    dirs = []
    for method in ("cons", "deepprune"):
        out = tmp_path / method
        prune(out, *common(toy), f"method={method}", "judge=oracle", "truncation.k=5", "logger=csv")
        assert (out / "problems.csv").read_text().count("\n") == 4
        dirs.append(out)
    table = write_leaderboard(dirs, tmp_path / "board")
    assert "| cons |" in table and "deepprune, ideal judge" in table
    assert "**" in table and "<u>" in table
    assert (tmp_path / "board" / "leaderboard.csv").exists() and (tmp_path / "board" / "pareto.png").exists()
    runs = load_runs(dirs)
    cons, pruned = sorted(runs, key=lambda r: r["method"])
    # The fewest-token cell is bold: DeepPrune stops most traces at 5 tokens.
    assert pruned["total_tokens"] < cons["total_tokens"]
    assert f"**{pruned['total_tokens'] / 1e8:.4g}**" in render_markdown(runs)


@pytest.mark.slow
def test_threshold_sweep_multirun(tmp_path, toy):
    sweep = tmp_path / "sweep"
    run_entry(
        "prune.py",
        "-m",
        *common(toy),
        "method=deepprune",
        "judge=sbert",
        "truncation.k=5",
        "method.threshold=0.3,0.99",
        f"hydra.sweep.dir={sweep}",
    )
    runs = load_runs([sweep])
    assert sorted(r["threshold"] for r in runs) == [0.3, 0.99]
    table = sweep_summary(runs, sweep)
    assert table.count("\n") == 4 and (sweep / "sweep.png").exists()
    low, high = sorted(runs, key=lambda r: r["threshold"])
    # A stricter threshold opens more clusters, so at least as many comparisons are made.
    assert high["judge_calls"] >= low["judge_calls"]


@pytest.mark.slow
def test_multirun_jobs_share_one_wandb_group(tmp_path, toy):
    """Every job of a sweep logs to the same W&B group: the sweep directory, fixed once by the launcher."""
    sweep = tmp_path / "sweep"
    run_entry(
        "prune.py",
        "-m",
        *common(toy),
        "method=cons,deepprune",
        "judge=oracle",
        "truncation.k=5",
        "logger=wandb",
        f"hydra.sweep.dir={sweep}",
    )
    records = [path.read_bytes() for path in sorted(sweep.glob("*/wandb/offline-run-*/*.wandb"))]
    assert len(records) == 2
    assert all(str(sweep).encode() in record for record in records)
