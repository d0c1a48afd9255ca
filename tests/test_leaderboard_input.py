"""What the leaderboard, sweep and redundancy tools make of bad input: each wrong metrics.json field is a warning
naming file and field (the run is skipped, the rest still count), each bad command line one ``error:`` line with
exit code 2, and the figures of valid edge values are rendered exactly.

Table-driven: one row per input, with the exact message or figure it must give.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

import deepprune.commands.entry
from deepprune.commands.entry import HINT, run_guarded
from deepprune.report.leaderboard import load_runs, render_csv, render_markdown, write_leaderboard
from tests.helpers.run_entry import run_entry
from tests.helpers.tables import table_rows

ROOT = Path(__file__).resolve().parents[1]
DROP = object()  # in an override: remove the key from the metrics


from deepprune.tools import leaderboard as LEADERBOARD  # noqa: E402, N812 - the tools, one name per table column
from deepprune.tools import redundancy as REDUNDANCY  # noqa: E402, N812
from deepprune.tools import sweep_summary as SWEEP  # noqa: E402, N812

# A valid DeepPrune run; each row changes some of its fields.
GOOD = {
    "method": "deepprune",
    "accuracy": 0.5,
    "total_tokens": 100.0,
    "num_problems": 3,
    "benchmark": "b",
    "traces": "/data/dev.jsonl",
    "judge": "sbert",
    "threshold": 0.5,
    "judge_tokens": 10.0,
    "judge_calls": 4.0,
}


def metrics_text(changes: dict[str, Any] | str) -> str:
    """GOOD with ``changes`` (DROP removes a key) as JSON (NaN/Infinity as Python's json writes them), or raw text."""
    if isinstance(changes, str):
        return changes
    # A method without a judge records none (as the runner writes it), whatever GOOD's DeepPrune run says.
    judgeless = {"judge": None, "threshold": None} if changes.get("method") in ("cons", "deepconf_low") else {}
    metrics = {**GOOD, **judgeless, **changes}
    return json.dumps({k: v for k, v in metrics.items() if v is not DROP})


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


# (metrics.json: field changes or raw text, the exact reason after "skipping FILE: ")
SKIPPED = [
    ({"accuracy": 5.0}, "field 'accuracy' is 5.0, expected a number in [0, 1]"),
    ({"accuracy": -0.1}, "field 'accuracy' is -0.1, expected a number in [0, 1]"),
    ({"accuracy": True}, "field 'accuracy' is true, expected a number in [0, 1]"),
    ({"accuracy": float("nan")}, "field 'accuracy' is NaN, expected a number in [0, 1]"),
    ({"accuracy": "0.5"}, "field 'accuracy' is \"0.5\", expected a number in [0, 1]"),
    ({"accuracy": DROP}, "field 'accuracy' is missing, expected a number in [0, 1]"),
    ({"total_tokens": -100}, "field 'total_tokens' is -100, expected a finite number >= 0"),
    ({"total_tokens": float("inf")}, "field 'total_tokens' is Infinity, expected a finite number >= 0"),
    ({"total_tokens": False}, "field 'total_tokens' is false, expected a finite number >= 0"),
    ({"total_tokens": None}, "field 'total_tokens' is null, expected a finite number >= 0"),
    # Too large for a float: the table's x10^8 would overflow.
    ({"total_tokens": 10**400}, "field 'total_tokens' is " + "1" + "0" * 56 + "..., expected a finite number >= 0"),
    ({"num_problems": 0}, "field 'num_problems' is 0, expected an integer >= 1"),
    ({"num_problems": 2.5}, "field 'num_problems' is 2.5, expected an integer >= 1"),
    ({"num_problems": True}, "field 'num_problems' is true, expected an integer >= 1"),
    ({"method": None}, "field 'method' is null, expected a non-empty string"),
    ({"method": ["cons"]}, "field 'method' is [\"cons\"], expected a non-empty string"),
    ({"method": " "}, "field 'method' is \" \", expected a non-empty string"),
    ({"judge": 3}, "field 'judge' is 3, expected a string or null"),
    ({"finish": {"rule": "paper"}}, 'field \'finish\' is {"rule": "paper"}, expected a string or null'),
    ({"model": ["a", "b"]}, 'field \'model\' is ["a", "b"], expected a string or null'),
    ({"traces": 7}, "field 'traces' is 7, expected a string or null"),
    ({"benchmark": 1}, "field 'benchmark' is 1, expected a string or null"),
    ({"threshold": "high"}, "field 'threshold' is \"high\", expected a finite number or null"),
    ({"threshold": True}, "field 'threshold' is true, expected a finite number or null"),
    ({"threshold": float("nan")}, "field 'threshold' is NaN, expected a finite number or null"),
    ({"judge_tokens": -5}, "field 'judge_tokens' is -5, expected a finite number >= 0 or null"),
    ({"judge_tokens": True}, "field 'judge_tokens' is true, expected a finite number >= 0 or null"),
    ({"judge_calls": "many"}, "field 'judge_calls' is \"many\", expected a finite number >= 0 or null"),
    # Every wrong field at once, so one edit fixes them all.
    (
        {"accuracy": 5.0, "total_tokens": -100},
        "field 'accuracy' is 5.0, expected a number in [0, 1]; field 'total_tokens' is -100, expected a finite "
        "number >= 0",
    ),
    ("[1, 2]", "expected a JSON object, got list"),
    (
        '{"method": "cons", "total_tokens": ' + "9" * 5000 + "}",
        "unreadable metrics (Exceeds the limit (4300 digits) for integer string conversion: value has 5000 digits)",
    ),
    (
        "[" * 100_000,
        "unreadable metrics (maximum recursion depth exceeded while decoding a JSON array from a unicode string)",
    ),
]


@pytest.mark.parametrize(("metrics", "reason"), SKIPPED, ids=[reason[:60] for _, reason in SKIPPED])
def test_a_bad_field_skips_the_run_with_a_warning_naming_file_and_field(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, metrics: dict[str, Any] | str, reason: str
) -> None:
    (tmp_path / "runs" / "good").mkdir(parents=True)
    (tmp_path / "runs" / "good" / "metrics.json").write_text(metrics_text({"method": "cons"}))
    bad = tmp_path / "runs" / "bad" / "metrics.json"
    bad.parent.mkdir()
    bad.write_text(metrics_text(metrics))
    with caplog.at_level(logging.WARNING):
        runs = load_runs([tmp_path / "runs"])
    assert [r["method"] for r in runs] == ["cons"]
    assert warnings(caplog) == [
        f"skipping {bad}: {reason}",
        "leaderboard of 1 runs: 1 metrics.json skipped (see above)",
    ]


# (cons run's "curve", the exact reason after "field 'curve' ")
BAD_CURVES = [
    (5, "is 5, expected a non-empty list of {n, accuracy, total_tokens} points"),
    ([], "is [], expected a non-empty list of {n, accuracy, total_tokens} points"),
    (["x"], 'point 0 is "x", expected an object with n, accuracy, total_tokens'),
    ([{"n": 1, "accuracy": 5, "total_tokens": 100}], "point 0: 'accuracy' is 5, expected a number in [0, 1]"),
    (
        [{"n": 1, "accuracy": float("nan"), "total_tokens": 100}],
        "point 0: 'accuracy' is NaN, expected a number in [0, 1]",
    ),
    ([{"n": True, "accuracy": 0.5, "total_tokens": 100}], "point 0: 'n' is true, expected an integer >= 1"),
    ([{"n": 2.5, "accuracy": 0.5, "total_tokens": 100}], "point 0: 'n' is 2.5, expected an integer >= 1"),
    ([{"accuracy": 0.5, "total_tokens": 100}], "point 0: 'n' is missing, expected an integer >= 1"),
    ([{"n": 1, "accuracy": 0.5, "total_tokens": 0}], "point 0: 'total_tokens' is 0, expected a finite number > 0"),
    (
        [{"n": 1, "accuracy": 0.5, "total_tokens": 100}, {"n": 1, "accuracy": 0.6, "total_tokens": 200}],
        "has n=1 twice, expected one point per pool size",
    ),
    (
        [{"n": 1, "accuracy": 0.5, "total_tokens": 100}, {"n": 2, "accuracy": 0.6, "total_tokens": 50}],
        "has 50 total_tokens at n=2, expected more than the 100 at n=1",
    ),
]


@pytest.mark.parametrize(("curve", "reason"), BAD_CURVES, ids=[reason[:60] for _, reason in BAD_CURVES])
def test_a_bad_curve_is_ignored_once_and_the_run_still_counts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, curve: Any, reason: str
) -> None:
    run = tmp_path / "cons" / "metrics.json"
    run.parent.mkdir()
    run.write_text(metrics_text({"method": "cons", "accuracy": 0.7, "curve": curve}))
    with caplog.at_level(logging.WARNING):
        runs = load_runs([tmp_path])
        markdown, _ = render_markdown(runs), render_csv(runs)  # each looks at the curves: still one warning
    assert table_rows(markdown)["cons"][:2] == ["**1e-06**", "<u>70.0</u>"] and "Δacc" not in markdown
    assert warnings(caplog) == [f"ignoring the cons@n curve of {run}: field 'curve' {reason}"]


# (field changes of valid edge values, the row label, its exact cells: tokens x10^8, acc, judge tok / saved tok)
RENDERED = [
    ({"accuracy": 1}, "deepprune (sbert, tau=0.5)", ["**1e-06**", "<u>100.0</u>", "–"]),
    ({"accuracy": 0}, "deepprune (sbert, tau=0.5)", ["**1e-06**", "<u>0.0</u>", "–"]),
    ({"total_tokens": 0}, "deepprune (sbert, tau=0.5)", ["**0**", "<u>50.0</u>", "–"]),
    ({"total_tokens": 250_000_000}, "deepprune (sbert, tau=0.5)", ["**2.5**", "<u>50.0</u>", "–"]),
    ({"threshold": 1}, "deepprune (sbert, tau=1)", ["**1e-06**", "<u>50.0</u>", "–"]),
    ({"threshold": 0.123456}, "deepprune (sbert, tau=0.123)", ["**1e-06**", "<u>50.0</u>", "–"]),
    # No run read prefixes with a judge: no judge-cost column.
    ({"judge": None, "threshold": None}, "deepprune", ["**1e-06**", "<u>50.0</u>"]),
    (
        {"judge_tokens": None, "judge_calls": None, "model": None},
        "deepprune (sbert, tau=0.5)",
        ["**1e-06**", "<u>50.0</u>", "–"],
    ),
]


@pytest.mark.parametrize(("changes", "label", "cells"), RENDERED, ids=[json.dumps(c) for c, _, _ in RENDERED])
def test_valid_edge_values_are_rendered_exactly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, changes: dict[str, Any], label: str, cells: list[str]
) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "metrics.json").write_text(metrics_text(changes))
    with caplog.at_level(logging.WARNING):
        rows = table_rows(render_markdown(load_runs([tmp_path])))
    assert rows == {label: cells}
    assert warnings(caplog) == []


def test_a_zero_token_run_is_in_the_table_and_said_to_be_left_off_the_log_plot(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "runs" / "zero").mkdir(parents=True)
    (tmp_path / "runs" / "zero" / "metrics.json").write_text(metrics_text({"method": "cons", "total_tokens": 0}))
    (tmp_path / "runs" / "some").mkdir()
    (tmp_path / "runs" / "some" / "metrics.json").write_text(metrics_text({}))
    with caplog.at_level(logging.WARNING):
        markdown = write_leaderboard([tmp_path / "runs"], tmp_path / "out")
    assert table_rows(markdown)["cons"][:2] == ["**0**", "<u>50.0</u>"]
    png = tmp_path / "out" / "pareto.png"
    assert warnings(caplog) == [
        f"{png}: {tmp_path / 'runs' / 'zero'} not plotted: 0 total tokens has no place on the log axis"
    ]


def test_user_files_in_the_output_directory_are_kept(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "metrics.json").write_text(metrics_text({}))
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "leaderboard.md").write_text("an older table")  # the tool's own output: replaced
    write_leaderboard([tmp_path / "run"], out)
    assert sorted(p.name for p in out.iterdir()) == ["leaderboard.csv", "leaderboard.md", "notes.txt", "pareto.png"]
    assert (out / "notes.txt").read_text() == "mine" and "| deepprune (sbert, tau=0.5) |" in (
        out / "leaderboard.md"
    ).read_text()


def prepare(tmp_path: Path, situation: str) -> None:
    """The files a command-line row needs under ``tmp_path``."""
    (tmp_path / "runs" / "good").mkdir(parents=True)
    (tmp_path / "runs" / "good" / "metrics.json").write_text(metrics_text({}))
    (tmp_path / "runs" / "bad").mkdir()
    (tmp_path / "runs" / "bad" / "metrics.json").write_text(metrics_text({"accuracy": 5.0}))
    (tmp_path / "afile").write_text("user data")
    (tmp_path / "empty.jsonl").write_text("")
    (tmp_path / "adir").mkdir()
    if situation == "metrics in --out":
        (tmp_path / "out").mkdir()
        (tmp_path / "out" / "leaderboard.md").write_text(metrics_text({}))
    if situation == "traces in --out":
        (tmp_path / "out").mkdir()
        (tmp_path / "out" / "redundancy.json").write_text('{"id": "q0"}\n')


# (script, situation for prepare(), arguments ({tmp} is the test's directory), the exact one-line error)
COMMAND_LINES = [
    ("leaderboard", "", ["{tmp}/runs", "--out", "{tmp}/afile"], "--out {tmp}/afile: exists and is not a directory"),
    (
        "leaderboard",
        "",
        ["{tmp}/runs", "--out", "{tmp}/afile/sub"],
        "--out {tmp}/afile/sub: {tmp}/afile exists and is not a directory",
    ),
    (
        "leaderboard",
        "metrics in --out",
        ["{tmp}/out/leaderboard.md", "--out", "{tmp}/out"],
        "--out {tmp}/out: writing leaderboard.md would overwrite the input {tmp}/out/leaderboard.md",
    ),
    (
        "leaderboard",
        "",
        ["{tmp}/runs/bad", "--out", "{tmp}/out"],
        "none of the given directories holds readable prune.py metrics",
    ),
    ("leaderboard", "", ["{tmp}/nowhere", "--out", "{tmp}/out"], "no metrics.json under {tmp}/nowhere"),
    ("sweep_summary", "", ["{tmp}/runs", "--out", "{tmp}/afile"], "--out {tmp}/afile: exists and is not a directory"),
    ("sweep_summary", "", ["{tmp}/afile"], "sweep directory {tmp}/afile: exists and is not a directory"),
    ("redundancy", "", ["{tmp}/nowhere.jsonl", "--out", "{tmp}/out"], "trace file not found: {tmp}/nowhere.jsonl"),
    (
        "redundancy",
        "",
        ["{tmp}/empty.jsonl", "--out", "{tmp}/out"],
        "trace file {tmp}/empty.jsonl: empty file (no records)",
    ),
    (
        "redundancy",
        "",
        ["{tmp}/adir", "--out", "{tmp}/out"],
        "trace file {tmp}/adir: is a directory, expected a .jsonl(.gz) or .parquet file",
    ),
    (
        "redundancy",
        "",
        ["{tmp}/empty.jsonl", "--out", "{tmp}/afile"],
        "trace file {tmp}/empty.jsonl: empty file (no records)",
    ),
    ("redundancy", "", ["{tmp}/afile", "--out", "{tmp}/afile"], "--out {tmp}/afile: exists and is not a directory"),
    (
        "redundancy",
        "traces in --out",
        ["{tmp}/out/redundancy.json", "--out", "{tmp}/out", "--k"],
        "--out {tmp}/out: writing redundancy.json would overwrite the input {tmp}/out/redundancy.json",
    ),
    ("redundancy", "", ["{tmp}/afile", "--out", "{tmp}/out", "--k", "0"], "--k values must be >= 1, got 0"),
    ("redundancy", "", ["{tmp}/afile", "--out", "{tmp}/out", "--k", "16", "-3"], "--k values must be >= 1, got 16 -3"),
    ("redundancy", "", ["{tmp}/afile", "--out", "{tmp}/out", "--pairs", "0"], "--pairs must be >= 1, got 0"),
    (
        "redundancy",
        "",
        ["{tmp}/afile", "--out", "{tmp}/out", "--subsamples", "-1"],
        "--subsamples must be >= 1, got -1",
    ),
    ("redundancy", "", ["{tmp}/afile", "--out", "{tmp}/out", "--seed", "-1"], "--seed must be >= 0, got -1"),
]
SCRIPTS = {"leaderboard": LEADERBOARD, "sweep_summary": SWEEP, "redundancy": REDUNDANCY}


@pytest.mark.parametrize(
    ("script", "situation", "args", "error"), COMMAND_LINES, ids=[f"{s}: {e[:50]}" for s, _, _, e in COMMAND_LINES]
)
def test_a_bad_command_line_is_one_error_line_and_exit_code_2(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    script: str,
    situation: str,
    args: list[str],
    error: str,
) -> None:
    prepare(tmp_path, situation)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    # run_guarded's process-wide settings would outlive the test: keep pytest's signal handlers, restore logging's.
    monkeypatch.setattr(deepprune.commands.entry, "install_signal_handlers", lambda: None)
    monkeypatch.setattr(logging, "raiseExceptions", logging.raiseExceptions)
    argv = [a.format(tmp=tmp_path) for a in args]
    with pytest.raises(SystemExit) as exit_info:
        run_guarded(lambda: SCRIPTS[script].main(argv))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [f"error: {error.format(tmp=tmp_path)}", HINT]
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before  # nothing written or replaced


# As users run them (subprocess): the scripts' own wiring turns the error into one line, not a traceback.
SUBPROCESS = [
    (
        "deepprune leaderboard",
        ["{tmp}/runs", "--out", "{tmp}/afile"],
        "--out {tmp}/afile: exists and is not a directory",
    ),
    (
        "deepprune sweep-summary",
        ["{tmp}/runs/bad"],
        "none of the given directories holds readable prune.py metrics",
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize(("script", "args", "error"), SUBPROCESS, ids=[s for s, _, _ in SUBPROCESS])
def test_the_scripts_print_one_line_and_exit_2(tmp_path: Path, script: str, args: list[str], error: str) -> None:
    prepare(tmp_path, "")
    result = run_entry(script, *[a.format(tmp=tmp_path) for a in args], expect=2, timeout=120)
    lines = result.stderr.splitlines()
    assert "Traceback" not in result.stderr and lines[-2:] == [f"error: {error.format(tmp=tmp_path)}", HINT]
