"""Entry scripts: an expected user error is one ``error:`` line plus a hint and exit code 2; a bug keeps its
traceback; ``HYDRA_FULL_ERROR=1`` shows the full one. The wrapper's cases run on a tiny Hydra app (fast);
the real scripts are checked once each."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from deepprune.commands.entry import HINT
from tests.helpers.run_entry import run_entry
from tests.helpers.traces import write_toy_file

APP = """
from omegaconf import DictConfig

from deepprune.commands.entry import entry


@entry("app", config_path="conf")
def main(cfg: DictConfig) -> None:
    if cfg.fail == "value":
        raise ValueError(f"data.path={cfg.path}: bad value\\nsecond line of detail")
    if cfg.fail == "bug":
        raise RuntimeError("a bug in the program")
    if cfg.fail == "missing":
        print(cfg.required)
    if cfg.fail == "file":
        open(cfg.path).read()
    print("done", cfg.fail)


if __name__ == "__main__":
    main()
"""


@pytest.fixture
def app(tmp_path: Path) -> Path:
    (tmp_path / "conf" / "judge").mkdir(parents=True)
    for option in ("sbert", "trained"):
        (tmp_path / "conf" / "judge" / f"{option}.yaml").write_text(f"name: {option}\n")
    (tmp_path / "conf" / "app.yaml").write_text(
        "defaults:\n  - judge: sbert\n  - _self_\nfail: none\npath: /nonexistent/input.jsonl\nrequired: ???\n"
    )
    (tmp_path / "app.py").write_text(APP)
    return tmp_path / "app.py"


def run(script: str | Path, *args: str, full_error: bool = False) -> subprocess.CompletedProcess:
    """The script's outcome, whatever its exit code (the tests check it); ``full_error``: HYDRA_FULL_ERROR=1."""
    return run_entry(script, *args, expect=None, timeout=300, env={"HYDRA_FULL_ERROR": "1"} if full_error else None)


def assert_one_line(result: subprocess.CompletedProcess, message: str) -> str:
    """The run ended with exit 2, ``error: <message...>`` and the hint, and printed no traceback."""
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr and "Error executing job" not in result.stderr, result.stderr[-3000:]
    *_, line, hint = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {message}"), line
    assert hint == HINT
    return line


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["fail=value"], "data.path=/nonexistent/input.jsonl: bad value second line of detail"),
        (["fail=missing"], "Missing mandatory value: required"),
        (["fail=file"], "/nonexistent/input.jsonl: No such file or directory"),
        (["nokey=1"], "Could not override 'nokey'."),
        (["fail=[oops"], "override 'fail=[oops': "),
        (["judge=nope"], "In 'app': Could not find 'judge/nope' (available: sbert, trained)"),
    ],
    ids=["value_error", "missing_value", "missing_file", "unknown_key", "override_syntax", "unknown_option"],
)
def test_user_errors_are_one_line(app, tmp_path, args, message):
    assert_one_line(run(app, *args, f"hydra.run.dir={tmp_path / 'run'}"), message)


def test_a_bug_keeps_its_traceback(app, tmp_path):
    result = run(app, "fail=bug", f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "RuntimeError: a bug in the program" in result.stderr
    assert "error: " not in result.stderr


def test_full_error_shows_the_traceback(app, tmp_path):
    result = run(app, "fail=value", f"hydra.run.dir={tmp_path / 'run'}", full_error=True)
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "ValueError: data.path=" in result.stderr


def test_unwritable_run_dir_is_one_line(app, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    line = assert_one_line(run(app, f"hydra.run.dir={blocker / 'run'}"), "cannot write the run directory: ")
    assert line.endswith(f"{blocker / 'run'}: Not a directory")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_read_only_run_dir_is_one_line(app, tmp_path):
    readonly = tmp_path / "readonly"
    readonly.mkdir(mode=0o555)
    line = assert_one_line(run(app, f"hydra.run.dir={readonly / 'run'}"), "cannot write the run directory: ")
    assert line.endswith(f"{readonly / 'run'}: Permission denied")


def test_multirun_reports_the_failing_job_and_runs_the_others(app, tmp_path):
    result = run(app, "-m", "fail=none,value,none", f"hydra.sweep.dir={tmp_path / 'sweep'}")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stdout.count("done none") == 2  # jobs 0 and 2 ran
    # Logged as the job fails (Hydra's job logging), then the sweep ends on the same one-line report.
    assert "job 1 failed: data.path=/nonexistent/input.jsonl: bad value" in result.stdout + result.stderr
    assert result.stderr.strip().splitlines()[-2].startswith("error: data.path=/nonexistent/input.jsonl")


# ------------------------------------------------------------------------------------------ real scripts
# Each entry script goes through the same wrapper; one case each shows it is wired in (~15 s apiece).
@pytest.mark.slow
def test_prune_missing_trace_file(tmp_path):
    missing = tmp_path / "nope.jsonl"
    result = run("prune.py", f"data.traces={missing}", "method=cons", f"hydra.run.dir={tmp_path / 'run'}")
    assert_one_line(result, f"trace file not found: {missing}")


@pytest.mark.slow
def test_eval_judge_trained_without_path(tmp_path):
    toy = write_toy_file(tmp_path / "toy.jsonl")
    result = run("eval_judge.py", f"data.test={toy}", "judge=trained", f"hydra.run.dir={tmp_path / 'run'}")
    assert_one_line(result, "Missing mandatory value: judge.path")


@pytest.mark.slow
def test_train_truncated_checkpoint(tmp_path):
    ckpt = tmp_path / "last.ckpt"
    ckpt.write_bytes(b"PK\x03\x04 truncated")
    result = run("train.py", "data.train=x.jsonl", f"ckpt_path={ckpt}", f"hydra.run.dir={tmp_path / 'run'}")
    assert_one_line(result, f"ckpt_path={ckpt}: not a PyTorch checkpoint")


@pytest.mark.slow
def test_generate_refuses_a_foreign_builder(tmp_path):
    marker, bench = tmp_path / "MARKER", tmp_path / "bench.jsonl"
    bench.write_text('{"index": 1, "question": "What is 2+2?", "true_answer": "4"}\n')
    result = run(
        "generate.py", "model=tiny_test", "model.builder=os:system", f"model.path=touch {marker}",
        "benchmark=aime24", f"benchmark.path={bench}", f"out={tmp_path / 'x.jsonl'}",
        f"hydra.run.dir={tmp_path / 'run'}",
    )  # fmt: skip
    assert_one_line(result, "model.builder='os:system': model.builder must name a function of the deepprune package")
    assert not marker.exists()


@pytest.mark.slow
def test_demo_bad_override(tmp_path):
    result = run("demo.py", "methods=[cons]", "data.traces=/nonexistent.jsonl", f"hydra.run.dir={tmp_path}")
    assert_one_line(result, "trace file not found: /nonexistent.jsonl")
