"""Bad input through the entry points: each row is an input file + overrides and the one-line error the
user must see, or (``data.on_error=skip``) how many records must be counted as skipped.

Rows run in-process (``run_prune`` / ``run_eval_judge`` / ``train`` on a composed Hydra config, ~1 s a row);
rows with ``script=True`` run the real ``prune.py`` / ``eval_judge.py`` to prove the message reaches stderr.
To add a row (e.g. a config error), append a :class:`Case` to ``CASES``: ``content`` defaults to a good
trace file, so a config row needs only ``overrides`` and ``error``.
"""

from __future__ import annotations

import gzip
import io
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from deepprune.runner import run_eval_judge, run_prune
from tests.helpers.configs import compose_entry
from tests.helpers.run_entry import run_entry
from tests.helpers.traces import make_problem
from tests.helpers.training import write_traces


def _good_records() -> list[dict[str, Any]]:
    answers = ["a", "a", "b", "a", "c", "a", "b", "a"]
    return [make_problem(f"p{i}", "a", answers, seed=i).to_dict() for i in range(3)]


def jsonl(*records: dict[str, Any] | bytes) -> bytes:
    """Lines of a trace file; ``bytes`` items are written as they are (broken JSON, other encodings)."""
    return b"".join((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in records)


def good_file() -> bytes:
    return jsonl(*_good_records())


def with_trace(record: dict[str, Any], index: int, **changes: Any) -> dict[str, Any]:
    traces = [dict(t) for t in record["traces"]]
    traces[index].update(changes)
    return {**record, "traces": traces}


def short_confs() -> bytes:
    p0, p1, p2 = _good_records()
    return jsonl(p0, with_trace(p1, 3, confs=p1["traces"][3]["confs"][:5]), p2)


def nan_conf() -> bytes:
    p0, p1, p2 = _good_records()
    line = json.dumps(with_trace(p1, 2, confs=[float("nan")] * p1["traces"][2]["num_tokens"]))
    assert "NaN" in line  # Python's json writes (and reads) the non-JSON literal
    return jsonl(p0, line.encode(), p2)


def no_traces() -> bytes:
    p0, p1, p2 = _good_records()
    return jsonl(p0, {**p1, "traces": []}, p2)


def duplicate_id() -> bytes:
    p0, p1, p2 = _good_records()
    return jsonl(p0, p1, {**p2, "id": "p0"})


def latin1_line() -> bytes:
    p0, p1, p2 = _good_records()
    return jsonl(p0, json.dumps({**p1, "question": "caf\u00e9"}, ensure_ascii=False).encode("latin-1"), p2)


def broken_json() -> bytes:
    p0, p1, _ = _good_records()
    return jsonl(p0, p1, b'{"id": "p2", "question": ')


def torn_gzip() -> bytes:
    """Two whole records, then the stream stops inside the third (an interrupted copy or write)."""
    buffer, ends = io.BytesIO(), []
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as handle:
        for line in good_file().splitlines(keepends=True):
            handle.write(line)
            handle.flush()  # a sync flush: the bytes so far decompress to exactly the lines so far
            ends.append(buffer.tell())
    return buffer.getvalue()[: (ends[1] + ends[2]) // 2]


def training_file() -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        return write_traces(Path(tmp) / "train.jsonl", num_problems=16, traces_per_problem=8).read_bytes()


def training_with_bad_lines() -> bytes:
    lines = training_file().splitlines()
    first = json.loads(lines[0])
    return b"\n".join([*lines, json.dumps(first).encode(), b"\xff\xfe not utf-8"]) + b"\n"


@dataclass(frozen=True)
class Case:
    """One bad input. Exactly one of ``error`` (a substring of the one-line message; ``{file}`` is the
    input's path) and ``skipped`` (the ``skipped_records`` of metrics.json) is set."""

    id: str
    content: Callable[[], bytes] = good_file
    overrides: tuple[str, ...] = ()
    error: str | None = None
    skipped: int | None = None
    problems: int | None = None  # with ``skipped``: problems evaluated (prune/eval_judge) or kept (train)
    task: str = "prune"  # prune | eval_judge | train
    suffix: str = ".jsonl"
    script: bool = False  # run the real entry script in a subprocess

    def __post_init__(self) -> None:
        assert (self.error is None) != (self.skipped is None), self.id


SKIP = ("data.on_error=skip",)

CASES = [
    Case("confs-shorter", short_confs, error="{file}:2: field 'traces[3].confs': 5 values but num_tokens=26"),
    Case("confs-shorter-skip", short_confs, SKIP, skipped=1, problems=2),
    Case(
        "confs-nan-deepconf",
        nan_conf,
        ("method=deepconf_low", "method.warmup=4", "method.window=4"),
        error="{file}:2: field 'traces[2].confs': must be finite, got nan at index 0",
    ),
    Case(
        "confs-nan-deepconf-skip",
        nan_conf,
        ("method=deepconf_low", "method.warmup=4", "method.window=4", *SKIP),
        skipped=1,
        problems=2,
    ),
    Case("no-traces", no_traces, error="{file}:2: field 'traces': empty: a problem needs at least one trace"),
    Case("no-traces-skip", no_traces, SKIP, skipped=1, problems=2),
    Case("duplicate-id", duplicate_id, error="{file}:3: field 'id': duplicate problem id 'p0' (first at line 1)"),
    Case("duplicate-id-skip", duplicate_id, SKIP, skipped=1, problems=2),
    Case("not-utf8", latin1_line, error="{file}:2: field '<encoding>': not UTF-8: byte 0xe9"),
    Case("not-utf8-skip", latin1_line, SKIP, skipped=1, problems=2),
    Case("broken-json", broken_json, error="{file}:3: field '<json>': invalid JSON"),
    Case(
        "torn-gzip",
        torn_gzip,
        suffix=".jsonl.gz",
        error="{file}:3: field '<gzip>': compressed stream is truncated or corrupt",
    ),
    Case("torn-gzip-skip", torn_gzip, SKIP, suffix=".jsonl.gz", skipped=1, problems=2),
    Case(
        "eval-duplicate-id",
        duplicate_id,
        task="eval_judge",
        error="{file}:3: field 'id': duplicate problem id 'p0' (first at line 1)",
    ),
    Case("eval-not-utf8-skip", latin1_line, SKIP, task="eval_judge", skipped=1, problems=2),
    Case("train-bad-lines-skip", training_with_bad_lines, SKIP, task="train", skipped=2, problems=16),
    # Real scripts: the message reaches the user, and the skip counts reach metrics.json.
    Case(
        "script-confs-shorter",
        short_confs,
        script=True,
        error="{file}:2: field 'traces[3].confs': 5 values but num_tokens=26",
    ),
    Case("script-eval-duplicate-skip", duplicate_id, SKIP, task="eval_judge", script=True, skipped=1, problems=2),
]

TASK_ARGS = {
    "prune": lambda file: [f"data.traces={file}", "benchmark=last_letters", "method=cons"],
    "eval_judge": lambda file: [
        f"data.test={file}",
        "benchmark=last_letters",
        "judge=sbert",
        "truncation.k=6",
        "data.pairs_per_problem=8",
    ],
    "train": lambda file: [
        f"data.train={file}",
        "data.test_fraction=0.25",
        "data.val_fraction=0.25",
        "data.pairs_per_problem=8",
        "data.batch_size=8",
        "trainer.max_steps=1",
        "trainer.limit_val_batches=1",
        "trainer.num_sanity_val_steps=0",
        "trainer.enable_progress_bar=false",
        "truncation.k=24",
    ],
}
SCRIPTS = {"prune": "prune.py", "eval_judge": "eval_judge.py", "train": "train.py"}


@dataclass
class Outcome:
    error: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)


def run_in_process(task: str, overrides: list[str], run_dir: Path) -> Outcome:
    try:
        cfg = compose_entry(task, *overrides)
        if task == "prune":
            run_prune(cfg, run_dir)
        elif task == "eval_judge":
            run_eval_judge(cfg, run_dir)
        else:
            from deepprune.training.run import train

            train(cfg, run_dir)
    except Exception as err:  # noqa: BLE001 - any exception is the user-facing outcome under test
        return Outcome(error=str(err))
    return Outcome(metrics=read_strict_json(run_dir / "metrics.json"))


def run_script(task: str, overrides: list[str], run_dir: Path) -> Outcome:
    result = run_entry(SCRIPTS[task], *overrides, f"hydra.run.dir={run_dir}", expect=None)
    if result.returncode != 0:
        return Outcome(error=result.stderr)
    return Outcome(metrics=read_strict_json(run_dir / "metrics.json"))


def read_strict_json(path: Path) -> dict[str, Any]:
    def refuse(constant: str) -> None:
        raise AssertionError(f"{path} holds {constant}, which is not JSON")

    return json.loads(path.read_text(), parse_constant=refuse)


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, tmp_path: Path) -> None:
    trace_file = tmp_path / f"bad{case.suffix}"
    trace_file.write_bytes(case.content())
    overrides = [*TASK_ARGS[case.task](trace_file), *case.overrides]
    outcome = (run_script if case.script else run_in_process)(case.task, overrides, tmp_path / "run")
    if case.error is not None:
        expected = case.error.format(file=trace_file)
        assert outcome.error is not None, f"expected an error containing {expected!r}, the run succeeded"
        assert expected in outcome.error
        if not case.script:  # the script's stderr also carries Hydra's traceback lines
            assert "\n" not in outcome.error.strip(), "the message must be one line"
        return
    assert outcome.error is None, outcome.error
    metrics = outcome.metrics
    assert metrics["skipped_records"] == case.skipped
    assert len(metrics["skipped_errors"]) == case.skipped
    assert all(str(trace_file) in e for e in metrics["skipped_errors"])
    if case.task == "train":
        assert sum(metrics["problems"].values()) == case.problems
    else:
        assert metrics["num_problems"] == case.problems
