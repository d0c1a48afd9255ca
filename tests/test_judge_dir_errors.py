"""Broken inputs read back from disk fail with one message naming the file: judge directories, resume
checkpoints, leaderboard metrics."""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from deepprune import asset_path
from deepprune.data.truncation import FirstTokens
from deepprune.judges.exported import load_exported
from deepprune.report.leaderboard import load_runs, write_leaderboard
from deepprune.training.export import check_checkpoint
from tests.helpers.run_entry import run_entry


def edit_meta(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def apply(judge: Path) -> None:
        meta = json.loads((judge / "judge.json").read_text())
        change(meta)
        (judge / "judge.json").write_text(json.dumps(meta))

    return apply


def truncate(relative: str) -> Callable[[Path], None]:
    def apply(judge: Path) -> None:
        path = judge / relative
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    return apply


def write_wrong_head(judge: Path) -> None:
    save_file({"1.weight": torch.zeros(1, 7), "1.bias": torch.zeros(1)}, str(judge / "head.safetensors"))


CORRUPTIONS = {
    "not_json": (lambda judge: (judge / "judge.json").write_text("{'files': oops"), r"judge\.json: not valid JSON"),
    "no_files_key": (edit_meta(lambda m: m.pop("files")), r"judge\.json: missing key\(s\) files"),
    "no_tokenizer_entry": (edit_meta(lambda m: m["files"].pop("tokenizer")), r"field 'files' must name 'tokenizer'"),
    "old_format": (edit_meta(lambda m: m.update(format_version=0)), r"field 'format_version': 0 is not 1 or 2"),
    "head_missing": (lambda judge: (judge / "head.safetensors").unlink(), r"'files\.head': .*does not exist"),
    "outside_dir": (edit_meta(lambda m: m["files"].update(head="../../x")), r"'files\.head'.*outside the judge"),
    "head_truncated": (truncate("head.safetensors"), r"head\.safetensors: not a readable safetensors file"),
    "head_wrong_shape": (write_wrong_head, r"head\.safetensors: the head's tensors do not fit this backbone"),
    "adapter_truncated": (truncate("adapter/adapter_model.safetensors"), r"cannot load the exported weights"),
    "no_adapter_config": (lambda judge: (judge / "adapter" / "adapter_config.json").unlink(), "adapter_config"),
}


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_corrupt_judge_directory_names_the_problem(tmp_path, name):
    judge = tmp_path / "judge"
    shutil.copytree(asset_path("demo/judge"), judge)
    corrupt, message = CORRUPTIONS[name]
    corrupt(judge)
    with pytest.raises((ValueError, FileNotFoundError), match=message) as info:
        load_exported(judge, "cpu", trust_remote_code=False)
    assert str(judge) in str(info.value)


def test_intact_judge_directory_loads(tmp_path):
    judge = tmp_path / "judge"
    shutil.copytree(asset_path("demo/judge"), judge)
    model, meta, truncation = load_exported(judge, "cpu", trust_remote_code=False)
    assert meta["files"]["head"] == "head.safetensors" and model.head is not None
    assert truncation == FirstTokens(32)  # format 1 (the shipped demo judge) still reads


def lightning_like_checkpoint(path: Path) -> Path:
    torch.save({"state_dict": {"w": torch.zeros(64, 64)}, "epoch": 0, "global_step": 3}, path)
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_bytes(os.urandom(4096)), "not a PyTorch checkpoint"),
        (lambda p: p.write_bytes(b""), "not a PyTorch checkpoint"),
        (lambda p: truncate(p.name)(lightning_like_checkpoint(p).parent), "not a PyTorch checkpoint|unreadable"),
        (lambda p: torch.save([1, 2, 3], p), "not a Lightning checkpoint"),
        (lambda p: None, "no such file"),
    ],
    ids=["random", "empty", "truncated", "foreign", "missing"],
)
def test_bad_resume_checkpoint_names_it(tmp_path, make, message):
    path = tmp_path / "last.ckpt"
    make(path)
    with pytest.raises((ValueError, FileNotFoundError), match=message) as info:
        check_checkpoint(str(path))
    assert f"ckpt_path={path}" in str(info.value)


def test_good_resume_checkpoint_passes(tmp_path):
    check_checkpoint(str(lightning_like_checkpoint(tmp_path / "last.ckpt")))
    check_checkpoint("last")  # Lightning's own aliases are its business


def prune_metrics(run_dir: Path, method: str, tokens: float) -> None:
    run_dir.mkdir(parents=True)
    metrics = {"method": method, "total_tokens": tokens, "accuracy": 0.5, "num_problems": 2, "benchmark": "b"}
    (run_dir / "metrics.json").write_text(json.dumps(metrics))


def test_leaderboard_skips_a_broken_run_and_renders_the_rest(tmp_path, caplog):
    prune_metrics(tmp_path / "runs" / "cons", "cons", 1000)
    prune_metrics(tmp_path / "runs" / "deepconf_low", "deepconf_low", 500)
    broken = tmp_path / "runs" / "deepprune" / "metrics.json"
    broken.parent.mkdir()
    broken.write_text('{"method": "deepprune", "total_tok')  # a run killed mid-write
    partial = tmp_path / "runs" / "deepconf_high" / "metrics.json"
    partial.parent.mkdir()
    partial.write_text(json.dumps({"method": "deepconf_high", "accuracy": 0.4}))
    with caplog.at_level(logging.WARNING):
        markdown = write_leaderboard([tmp_path / "runs"], tmp_path / "out")
    assert "| cons |" in markdown and "| deepconf_low |" in markdown and "deepprune" not in markdown
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(str(broken) in w and "unreadable" in w for w in warnings)
    assert any(str(partial) in w and "'total_tokens'" in w for w in warnings)


@pytest.mark.slow
def test_leaderboard_script_with_only_broken_runs_prints_one_line(tmp_path):
    broken = tmp_path / "run" / "metrics.json"
    broken.parent.mkdir()
    broken.write_bytes(b"\x00\xff not json")
    with pytest.raises(ValueError, match="readable prune.py metrics"):
        load_runs([tmp_path])
    result = run_entry("deepprune leaderboard", tmp_path, "--out", tmp_path / "out", expect=2, timeout=120)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert str(broken) in lines[0]  # the warning names the file
    assert lines[-2] == "error: none of the given directories holds readable prune.py metrics"
