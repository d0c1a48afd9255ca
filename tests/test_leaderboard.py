"""The leaderboard at equal budget: Δacc@budget and tokens vs matched cons from hand-made metrics.json files."""

from __future__ import annotations

import csv
import json
import logging
import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest

from deepprune.report.leaderboard import declutter, load_runs, write_leaderboard
from tests.helpers.tables import table_rows

# Accuracy rises by 0.1 per doubling of tokens (the hand-made curve of tests/test_budget.py).
CURVE = [
    {"n": 1, "accuracy": 0.5, "total_tokens": 100.0},
    {"n": 2, "accuracy": 0.6, "total_tokens": 200.0},
    {"n": 4, "accuracy": 0.7, "total_tokens": 400.0},
]


# The row of a DeepPrune run with judge=oracle.
IDEAL = "deepprune, ideal judge (cons@N's answer at DeepPrune's cost)"


def write_run(root: Path, name: str, method: str, tokens: float, accuracy: float, **extra: Any) -> Path:
    run = root / name
    run.mkdir(parents=True)
    metrics = {
        "method": method,
        "total_tokens": tokens,
        "accuracy": accuracy,
        "num_problems": extra.pop("num_problems", 10),
        "benchmark": extra.pop("benchmark", "last_letters"),
        "traces": extra.pop("traces", "/data/dev.jsonl"),
        **extra,
    }
    (run / "metrics.json").write_text(json.dumps(metrics))
    return run


def test_budget_columns_against_the_cons_curve(tmp_path) -> None:
    runs = tmp_path / "runs"
    write_run(runs, "cons", "cons", 400.0, 0.7, curve=CURVE)
    write_run(runs, "oracle", "deepprune", 100.0 * math.sqrt(2), 0.62, judge="oracle", threshold=0.5)
    write_run(runs, "low", "deepconf_low", 300.0, 0.5)
    write_run(runs, "great", "deepprune", 200.0, 0.8, judge="sbert", threshold=0.9)
    markdown = write_leaderboard([runs], tmp_path / "out")
    header = markdown.splitlines()[0]
    assert "dev.jsonl / last_letters Token (x10^8)" in header and "Δacc@budget (pt)" in header
    rows = table_rows(markdown)
    # cons@4 is the curve's last point: Δ 0, and it is its own match.
    assert rows["cons"][2:4] == ["+0.0", "1.00×"]
    # 141 tokens: the curve reaches 0.55 there, so 0.62 is +7.0 pt; it reaches 0.62 at 200 * 2^0.2 = 229.7 tokens.
    assert rows[IDEAL][2:4] == ["+7.0", "0.62×"]
    # 300 tokens: 0.6 + 0.1 * log2(1.5) = 0.6585, so 0.5 is -15.8 pt; cons@1 (100 tokens) already reaches 0.495.
    assert rows["deepconf_low"][2:4] == ["-15.8", "3.00×"]
    # Above the whole curve: no cons@n matches it (dagger, explained in a footnote).
    assert rows["deepprune (sbert, tau=0.9)"][2:4] == ["+20.0", "–†"]
    assert "† the cons@n curve never reaches" in markdown
    # The original columns stay: tokens x10^8 (least bold) and accuracy (best underlined).
    assert rows["cons"][:2] == ["4e-06", "70.0"] and rows[IDEAL][0] == "**1.414e-06**"
    # These DeepPrune runs record no judge tokens (metrics.json from before the column): nothing to divide.
    assert [row[4] for row in rows.values()] == ["–"] * 4
    assert "cons@n curve for dev.jsonl / last_letters" in markdown and "n=4: 70.0 @ 4e-06" in markdown
    with (tmp_path / "out" / "leaderboard.csv").open() as handle:
        by_method = {r["method"]: r for r in csv.DictReader(handle)}
    assert float(by_method["deepconf_low"]["delta_acc_at_budget"]) == pytest.approx(0.5 - (0.6 + 0.1 * math.log2(1.5)))
    assert float(by_method["deepconf_low"]["tokens_vs_matched_cons"]) == pytest.approx(3.0)
    assert by_method["deepprune (sbert, tau=0.9)"]["tokens_vs_matched_cons"] == ""
    assert (tmp_path / "out" / "pareto.png").stat().st_size > 1000


def test_runs_on_other_problems_are_never_compared_with_the_curve(tmp_path) -> None:
    # The same trace file, but the DeepPrune run saw 5 of its problems (data.limit=5): another problem set.
    runs = tmp_path / "runs"
    write_run(runs, "cons", "cons", 400.0, 0.7, curve=CURVE, problem_set="a" * 16)
    write_run(runs, "same", "deepprune", 200.0, 0.6, judge="sbert", threshold=0.5, problem_set="a" * 16)
    write_run(runs, "five", "deepprune", 20.0, 0.8, judge="sbert", threshold=0.7, problem_set="b" * 16, num_problems=5)
    markdown = write_leaderboard([runs], tmp_path / "out")
    header = markdown.splitlines()[0]
    assert "dev.jsonl / last_letters [10 problems, set aaaaaaaa] Δacc@budget (pt)" in header
    assert "dev.jsonl / last_letters [5 problems, set bbbbbbbb] Token (x10^8)" in header
    rows = table_rows(markdown)
    # Its own problems: compared (on the curve: +0.0). The 5-problem run: no curve of its set, no Δ at all.
    assert rows["deepprune (sbert, tau=0.5)"][2:4] == ["+0.0", "1.00×"]
    assert rows["deepprune (sbert, tau=0.7)"][5:] == ["**2e-07**", "<u>80.0</u>", "–", "–", "–"]
    assert "No equal-budget comparison for dev.jsonl / last_letters [5 problems, set bbbbbbbb]" in markdown


def test_without_a_cons_curve_there_are_no_budget_columns(tmp_path) -> None:
    runs = tmp_path / "runs"
    write_run(runs, "cons", "cons", 400.0, 0.7)  # a cons run without method.curve=true
    write_run(runs, "prune", "deepprune", 150.0, 0.62, judge="sbert", threshold=0.5)
    markdown = write_leaderboard([runs], tmp_path / "out")
    assert "Δacc" not in markdown.splitlines()[0] and "matched" not in markdown.splitlines()[0]
    assert table_rows(markdown)["cons"] == ["4e-06", "<u>70.0</u>", "–"]
    assert "No equal-budget comparison for dev.jsonl / last_letters: no cons run with a cons@n curve" in markdown
    assert "method.curve=true" in markdown
    with (tmp_path / "out" / "leaderboard.csv").open() as handle:
        assert all(r["delta_acc_at_budget"] == "" for r in csv.DictReader(handle))


def test_curves_apply_only_to_their_own_model_and_benchmark(tmp_path) -> None:
    runs = tmp_path / "runs"
    write_run(runs, "cons_a", "cons", 400.0, 0.7, curve=CURVE)
    write_run(runs, "prune_a", "deepprune", 200.0, 0.6, judge="oracle", threshold=0.5)
    write_run(runs, "prune_b", "deepprune", 200.0, 0.6, judge="oracle", threshold=0.5, traces="/data/other.jsonl")
    markdown = write_leaderboard([runs], tmp_path / "out")
    cells = table_rows(markdown)[IDEAL]
    assert cells[:4] == ["**2e-06**", "60.0", "+0.0", "1.00×"]  # dev.jsonl: exactly cons@2 (same cost, same acc)
    assert cells[5:9] == ["**2e-06**", "<u>60.0</u>", "–", "–"]  # other.jsonl has no curve
    assert "No equal-budget comparison for other.jsonl / last_letters" in markdown


def test_a_malformed_curve_is_ignored_with_a_warning(tmp_path, caplog) -> None:
    runs = tmp_path / "runs"
    bad = [{"n": 1, "accuracy": 0.5, "total_tokens": 100.0}, {"n": 2, "accuracy": 0.6, "total_tokens": 50.0}]
    cons = write_run(runs, "cons", "cons", 400.0, 0.7, curve=bad)
    with caplog.at_level(logging.WARNING):
        markdown = write_leaderboard([runs], tmp_path / "out")
    assert "Δacc" not in markdown
    assert any(str(cons) in r.getMessage() and "'curve'" in r.getMessage() for r in caplog.records)


def test_declutter_separates_overlapping_labels_and_keeps_them_in_the_panel() -> None:
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.set(xscale="log", xlim=(50, 1000), ylim=(40, 80))
    points = [(100.0 + i, 60.0 + 0.01 * i) for i in range(8)]  # eight runs on nearly the same spot
    texts = [
        ax.annotate(f"method {i} (judge, tau=0.5)", p, textcoords="offset points", xytext=(4, 4), fontsize=7)
        for i, p in enumerate(points)
    ]
    fig.tight_layout()
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()

    def overlaps() -> int:
        boxes = [t.get_window_extent(renderer) for t in texts]
        return sum(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])

    edge = ax.annotate("a long label at the right edge", (990.0, 50.0), textcoords="offset points", xytext=(4, 4))
    assert overlaps() > 0 and edge.get_window_extent(renderer).x1 > ax.get_window_extent(renderer).x1
    declutter(ax, [*texts, edge])
    assert overlaps() == 0
    assert edge.get_window_extent(renderer).x1 <= ax.get_window_extent(renderer).x1  # flipped left of its point
    plt.close(fig)


def test_oracle_point_and_curve_are_plotted(tmp_path) -> None:
    runs = tmp_path / "runs"
    write_run(runs, "cons", "cons", 400.0, 0.7, curve=CURVE)
    write_run(runs, "oracle", "deepprune", 150.0, 0.62, judge="oracle", threshold=0.5)
    write_leaderboard([runs], tmp_path / "out")
    assert len(load_runs([runs])) == 2 and (tmp_path / "out" / "pareto.png").stat().st_size > 1000


def test_judge_tokens_per_token_saved_against_the_full_budget_cons_run(tmp_path) -> None:
    runs = tmp_path / "runs"
    write_run(runs, "cons8", "cons", 200.0, 0.6)  # one row with cons40 (same label, logged); not the full budget
    write_run(runs, "cons40", "cons", 1000.0, 0.7)  # the full budget: the cons run with the most tokens
    write_run(runs, "cheap", "deepprune", 400.0, 0.68, judge="trained", threshold=0.3, judge_tokens=1500.0)
    write_run(runs, "costly", "deepprune", 1000.0, 0.7, judge="sbert", threshold=0.5, judge_tokens=90.0)
    write_run(runs, "z_alone", "deepprune", 300.0, 0.6, judge="oracle", threshold=0.5, judge_tokens=50.0, traces="/b")
    write_run(runs, "low", "deepconf_low", 500.0, 0.6)
    markdown = write_leaderboard([runs], tmp_path / "out")
    header = markdown.splitlines()[0]
    assert "dev.jsonl / last_letters Judge tok / saved tok" in header and "b / last_letters Judge tok" in header
    rows = table_rows(markdown)
    # 1500 judge tokens for 1000 - 400 = 600 reasoning tokens saved against cons40 (not cons8).
    assert rows["deepprune (trained, tau=0.3)"][2] == "2.5"
    assert rows["deepprune (sbert, tau=0.5)"][2] == "–"  # as many tokens as cons40: nothing saved
    assert rows[IDEAL][5] == "–"  # its trace file has no cons run
    assert rows["deepconf_low"][2] == rows["cons"][2] == "–"  # not DeepPrune
    assert "Judge tok / saved tok: a DeepPrune run's judge tokens" in markdown
    with (tmp_path / "out" / "leaderboard.csv").open() as handle:
        by_method = {r["method"]: r for r in csv.DictReader(handle)}
    assert float(by_method["deepprune (trained, tau=0.3)"]["judge_tokens_per_token_saved"]) == pytest.approx(2.5)
    assert float(by_method["deepprune (trained, tau=0.3)"]["judge_tokens"]) == 1500.0
    assert by_method["deepprune (sbert, tau=0.5)"]["judge_tokens_per_token_saved"] == ""
