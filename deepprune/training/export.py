"""Export a trained judge to ``DIR/judge/`` (read back by :mod:`deepprune.judges.exported`); check resume checkpoints.

``judge.json`` (format :data:`~deepprune.judges.exported.FORMAT_VERSION`) holds the judge model's config as
trained (``_target_`` and arguments), the truncation rule's config, the base model, the files and the metrics.
"""

from __future__ import annotations

import pickle
import shutil
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from deepprune.data.io import atomic_write_json, claim_output_dir
from deepprune.data.truncation import TruncationRule
from deepprune.judges.exported import FORMAT_VERSION
from deepprune.judges.networks import JudgeModel


def export_judge(
    model: JudgeModel,
    judge_cfg: Mapping[str, Any],
    truncation: TruncationRule,
    out_dir: str | Path,
    metrics: dict[str, Any] | None = None,
) -> Path:
    """Write the judge under ``out_dir/judge`` and return that directory.

    ``judge_cfg`` is the resolved ``conf/judge`` node (plain containers) the model was built from.
    """
    judge_dir = Path(out_dir) / "judge"
    if claim_judge_dir(out_dir):  # an earlier export of ours (judge.json): replaced, never anything else
        shutil.rmtree(judge_dir)
    judge_dir.mkdir(parents=True, exist_ok=True)
    files = model.save(judge_dir)
    base = judge_cfg["path"]
    if files.get("adapter") and isinstance(base, Mapping):
        # A base generated at run start (tiny_qwen3) lives in the run directory: ship it with the adapter.
        shutil.copytree(model.path, judge_dir / "base")
        base = "base"
    meta = {
        "format_version": FORMAT_VERSION,
        "judge": dict(judge_cfg),
        "base_model": base if files.get("adapter") else None,
        "files": files,
        "truncation": truncation.config(),
        "metrics": metrics or {},
    }
    atomic_write_json(judge_dir / "judge.json", meta)
    return judge_dir


def claim_judge_dir(out_dir: str | Path) -> bool:
    """Whether ``out_dir/judge`` holds an earlier export (replaceable); refuses a directory it did not write.

    Called before training too, so a run that could not export fails at its start, not after hours.
    """
    return claim_output_dir(Path(out_dir) / "judge", "judge.json", "the judge export")


def check_checkpoint(ckpt_path: str) -> None:
    """Fail with one line naming ``ckpt_path`` when it is not a readable Lightning checkpoint to resume from.

    Lightning's own failure on a truncated or foreign file is a deep torch/zip traceback. Its aliases
    (``last``, ``best``, ``hpc``, ``registry``) and remote URLs are left to Lightning. With ``mmap`` the
    check reads the archive's index, not the tensors.
    """
    if ckpt_path in ("last", "best", "hpc", "registry") or ckpt_path.startswith("registry:") or "://" in ckpt_path:
        return
    file = Path(ckpt_path)
    if not file.is_file():
        raise FileNotFoundError(f"ckpt_path={ckpt_path}: no such file (resume from RUN_DIR/checkpoints/last.ckpt)")
    if not zipfile.is_zipfile(file):
        raise ValueError(f"ckpt_path={ckpt_path}: not a PyTorch checkpoint (no zip archive: truncated or another file)")
    try:
        checkpoint = torch.load(file, map_location="cpu", weights_only=True, mmap=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError) as err:
        reason = str(err).split(". ")[0]
        raise ValueError(f"ckpt_path={ckpt_path}: unreadable checkpoint ({reason})") from err
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise ValueError(
            f"ckpt_path={ckpt_path}: not a Lightning checkpoint (no 'state_dict'); use one written by train.py"
        )
