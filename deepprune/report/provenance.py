"""What a run ran on, recorded in its ``metrics.json`` so anyone can rerun a figure."""

from __future__ import annotations

import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

import deepprune


@lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The checkout's commit (with ``-dirty`` when it has local changes), or None outside a git checkout."""
    root = Path(deepprune.__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}-dirty" if dirty else commit


def _path(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def run_inputs(cfg: DictConfig, traces: str | None = None) -> dict[str, Any]:
    """The resolved inputs of a prune / eval_judge run: data, tokenizer, judge, seeds, code version (the method
    reports its own parameters: ``Method.params()``)."""
    judge = cfg.get("judge")
    return {
        "traces": _path(traces),
        "tokenizer": _path(cfg.data.tokenizer),
        "judge_path": _path(judge.get("path")) if judge is not None else None,
        "seed": int(cfg.seed),
        "data_seed": int(cfg.data.seed),
        "deepprune_version": deepprune.__version__,
        "git_commit": git_commit(),
    }
