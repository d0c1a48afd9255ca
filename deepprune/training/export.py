"""Export a trained judge to ``DIR/judge/`` and load it back (used by ``TrainedJudge``); check resume checkpoints.

Layout::

    judge/judge.json          backbone/scoring/prompt/truncation settings, base model, metrics
    judge/adapter/            peft LoRA adapter (safetensors)        -- LoRA runs
    judge/model/              full fine-tuned transformer (safetensors) -- judge.lora.enabled=false
    judge/head.safetensors    classification head
    judge/tokenizer/
    judge/base/               copy of a locally generated base model (tiny_qwen3 only)

Only safetensors are read back; remote code runs only if the caller passes ``judge.trust_remote_code=true``
(a judge directory never turns it on by itself).
"""

from __future__ import annotations

import json
import pickle
import shutil
import zipfile
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from safetensors import SafetensorError

from deepprune.data.io import atomic_write_json
from deepprune.training.backbones import JudgeBackbone, build_backbone, resolve_model_path

FORMAT_VERSION = 1


def export_judge(
    backbone: JudgeBackbone,
    judge_cfg: DictConfig,
    truncation_cfg: DictConfig,
    out_dir: str | Path,
    metrics: dict[str, Any] | None = None,
) -> Path:
    """Write the judge under ``out_dir/judge`` and return that directory."""
    judge_dir = Path(out_dir) / "judge"
    if judge_dir.exists():
        shutil.rmtree(judge_dir)
    judge_dir.mkdir(parents=True)
    files = backbone.save(judge_dir)
    base = judge_cfg.get("path")
    if files.get("adapter") and judge_cfg.get("tiny"):
        # The tiny base is generated inside the run directory: ship it with the adapter.
        shutil.copytree(resolve_model_path(base), judge_dir / "base")
        base = "base"
    meta = {
        "format_version": FORMAT_VERSION,
        "judge": OmegaConf.to_container(judge_cfg, resolve=True),
        "base_model": base if files.get("adapter") else None,
        "files": files,
        "truncation": OmegaConf.to_container(truncation_cfg, resolve=True),
        "metrics": metrics or {},
    }
    atomic_write_json(judge_dir / "judge.json", meta)
    return judge_dir


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


def _read_meta(meta_path: Path) -> dict[str, Any]:
    """``judge.json``, checked for the keys and file entries :func:`load_judge` relies on."""
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{meta_path}: not valid JSON ({err}); re-export the judge with train.py") from err
    if not isinstance(meta, dict):
        raise ValueError(f"{meta_path}: expected a JSON object, got {type(meta).__name__}")
    missing = [key for key in ("format_version", "judge", "files") if key not in meta]
    if missing:
        raise ValueError(f"{meta_path}: missing key(s) {', '.join(missing)} (not a complete judge written by train.py)")
    if meta["format_version"] != FORMAT_VERSION:
        raise ValueError(f"{meta_path}: field 'format_version': {meta['format_version']!r} != {FORMAT_VERSION}")
    if not isinstance(meta["judge"], dict):
        raise ValueError(f"{meta_path}: field 'judge': expected the judge's config (an object)")
    files = meta["files"]
    if not isinstance(files, dict) or "tokenizer" not in files or not ("adapter" in files or "model" in files):
        raise ValueError(f"{meta_path}: field 'files' must name 'tokenizer' and 'adapter' or 'model', got {files!r}")
    judge_dir = meta_path.parent.resolve()
    for key, name in files.items():
        # Entries name files inside the judge directory, never elsewhere on the machine.
        target = (judge_dir / str(name)).resolve()
        if not target.is_relative_to(judge_dir):
            raise ValueError(f"{meta_path}: field 'files.{key}': {name!r} points outside the judge directory")
        if not target.exists():
            raise FileNotFoundError(f"{meta_path}: field 'files.{key}': {target} does not exist (incomplete export)")
    return meta


def load_judge(
    path: str | Path, device: str = "cpu", trust_remote_code: bool = False
) -> tuple[JudgeBackbone, dict[str, Any]]:
    """The exported backbone (eval mode, on ``device``) and its ``judge.json``.

    Whether Python code shipped with the model may run is the caller's decision (``judge.trust_remote_code``
    on the command line), never the judge directory's: a judge exported with ``trust_remote_code=true``
    is refused unless the caller allows it.
    """
    judge_dir = Path(path)
    meta_path = judge_dir / "judge.json"
    if not meta_path.exists() and (judge_dir / "judge" / "judge.json").exists():
        judge_dir, meta_path = judge_dir / "judge", judge_dir / "judge" / "judge.json"
    if not meta_path.exists():
        raise FileNotFoundError(f"judge.path={path}: no judge.json (expected a directory written by train.py)")
    meta = _read_meta(meta_path)
    cfg = OmegaConf.create(meta["judge"])
    if cfg.get("trust_remote_code") and not trust_remote_code:
        raise ValueError(
            f"{meta_path}: this judge needs trust_remote_code (its model runs Python files shipped with it); "
            "a judge directory cannot enable that itself: review the code, then pass judge.trust_remote_code=true"
        )
    cfg.trust_remote_code = trust_remote_code
    files = meta["files"]
    # The adapter (or full model) is loaded as saved, not re-created from judge.lora.
    cfg.lora = {"enabled": False}
    cfg.gradient_checkpointing = False
    if files.get("adapter"):
        base = meta.get("base_model")
        # A copied base ("base"), a local dir or cached hub id, or null (the bundled MiniLM).
        shipped = base is not None and (judge_dir / base).is_dir()
        base_path = str(judge_dir / base) if shipped else resolve_model_path(base, f"{meta_path} base_model")
        adapter, model_path = str(judge_dir / files["adapter"]), base_path
    else:
        adapter, model_path = None, str(judge_dir / files["model"])
    try:
        backbone = build_backbone(cfg, adapter, model_path, str(judge_dir / files["tokenizer"]))
        if files.get("head"):
            backbone.load_head(judge_dir / files["head"])
    except FileNotFoundError:
        raise  # already names the missing file
    except (OSError, RuntimeError, SafetensorError) as err:
        # Truncated or mismatched weights: name the judge, keep the library's reason.
        reason = " ".join(str(err).split())
        raise ValueError(
            f"judge.path={path}: cannot load the exported weights ({type(err).__name__}: {reason})"
        ) from err
    return backbone.to(torch.device(device)).eval(), meta
