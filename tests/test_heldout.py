"""deepprune heldout writes exactly the held-out problems of a train.py run's split (by problem or by group)."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from deepprune.commands import main as deepprune_command
from deepprune.data.io import read_problems
from tests.helpers.configs import compose_entry
from tests.helpers.training import write_traces


def fake_run(run_dir: Path, traces: Path, *overrides: str) -> Path:
    """A train.py run directory as far as heldout.py reads it: the saved config."""
    cfg = compose_entry("train", f"data.train={traces}", "data.test_fraction=0.25", *overrides)
    (run_dir / ".hydra").mkdir(parents=True)
    OmegaConf.save(cfg, run_dir / ".hydra" / "config.yaml")
    return run_dir


def heldout(*args: str | Path) -> int:
    """``deepprune heldout ARGS`` in this process (its imports are the slow part of a subprocess here)."""
    with pytest.raises(SystemExit) as exit_info:
        deepprune_command(["heldout", *map(str, args)])
    return exit_info.value.code


def ids(path: Path) -> set[str]:
    return {p.id for p in read_problems(path)}


def test_heldout_writes_the_test_split_disjoint_from_training(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    traces = write_traces(tmp_path / "traces.jsonl", num_problems=16)
    run = fake_run(tmp_path / "run", traces)
    assert heldout(run, tmp_path / "test.jsonl.gz") == 0
    assert heldout(run, tmp_path / "train.jsonl", "--split", "train") == 0
    test, train = ids(tmp_path / "test.jsonl.gz"), ids(tmp_path / "train.jsonl")
    assert len(test) == 4 and train and not test & train
    # The records are the source's, traces included.
    source = {p.id: p for p in read_problems(traces)}
    written = list(read_problems(tmp_path / "test.jsonl.gz"))
    assert all(len(p.traces) == len(source[p.id].traces) for p in written)
    # Each trace states its answer as training extracted it (a file without stored answers gets them written).
    assert [t.answer for p in written for t in p.traces] == [t.answer for p in written for t in source[p.id].traces]
    assert any(t.answer is None for p in written for t in p.traces) and any(t.answer for p in written for t in p.traces)


def test_heldout_follows_a_group_split(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    traces = write_traces(tmp_path / "traces.jsonl", num_problems=16)  # ids p000..p015: group = first two digits
    run = fake_run(tmp_path / "run", traces, "data.test_group='^p0(\\d)'", "data.test_fraction=0.5")
    assert heldout(run, tmp_path / "test.jsonl", "--limit", "3") == 0
    test = ids(tmp_path / "test.jsonl")
    assert len(test) == 3 and len({i[2] for i in test}) == 1


def test_heldout_refuses_a_directory_that_is_not_a_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert heldout(tmp_path, tmp_path / "x.jsonl") == 2
    assert "must be a train.py run directory" in capsys.readouterr().err


def test_heldout_writes_the_answers_training_extracted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file without stored answers (the MATH dev file): the written traces state the extracted ones."""
    import json

    traces = tmp_path / "math.jsonl"
    with open(traces, "w", encoding="utf-8") as handle:
        for i in range(8):
            texts = [f"So $x = \\boxed{{\\frac{{{i}}}{{{j + 2}}}}}$." for j in range(3)] + ["I give up."]
            record = {"id": f"algebra/{i}/0", "question": "q", "gold": "1", "traces": [{"text": t} for t in texts]}
            handle.write(json.dumps(record) + "\n")
    run = fake_run(tmp_path / "run", traces, "benchmark=math")
    assert heldout(run, tmp_path / "test.jsonl") == 0
    written = list(read_problems(tmp_path / "test.jsonl"))
    assert len(written) == 2
    for problem in written:
        i = problem.id.split("/")[1]
        assert [t.answer for t in problem.traces] == [f"\\frac{{{i}}}{{{j + 2}}}" for j in range(3)] + [None]
