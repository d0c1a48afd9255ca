"""Export a trained judge to ``DIR/judge/`` and load it back (used by ``TrainedJudge``).

Layout::

    judge/judge.json          backbone/scoring/prompt/truncation settings, base model, metrics
    judge/adapter/            peft LoRA adapter (safetensors)        -- LoRA runs
    judge/model/              full fine-tuned transformer (safetensors) -- judge.lora.enabled=false
    judge/head.safetensors    classification head
    judge/tokenizer/
    judge/base/               copy of a locally generated base model (tiny_qwen3 only)

Only safetensors are read back; remote code runs only if the exported ``judge.trust_remote_code`` says so.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

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


def load_judge(path: str | Path, device: str = "cpu") -> tuple[JudgeBackbone, dict[str, Any]]:
    """The exported backbone (eval mode, on ``device``) and its ``judge.json``."""
    judge_dir = Path(path)
    meta_path = judge_dir / "judge.json"
    if not meta_path.exists() and (judge_dir / "judge" / "judge.json").exists():
        judge_dir, meta_path = judge_dir / "judge", judge_dir / "judge" / "judge.json"
    if not meta_path.exists():
        raise FileNotFoundError(f"judge.path={path}: no judge.json (expected a directory written by train.py)")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{meta_path}: format_version {meta.get('format_version')} != {FORMAT_VERSION}")
    cfg = OmegaConf.create(meta["judge"])
    files = meta["files"]
    # The adapter (or full model) is loaded as saved, not re-created from judge.lora.
    cfg.lora = {"enabled": False}
    cfg.gradient_checkpointing = False
    if files.get("adapter"):
        base = meta["base_model"]
        # A copied base ("base"), a local dir or cached hub id, or null (the bundled MiniLM).
        shipped = base is not None and (judge_dir / base).is_dir()
        base_path = str(judge_dir / base) if shipped else resolve_model_path(base, "judge.json base_model")
        adapter, model_path = str(judge_dir / files["adapter"]), base_path
    else:
        adapter, model_path = None, str(judge_dir / files["model"])
    backbone = build_backbone(cfg, adapter, model_path, str(judge_dir / files["tokenizer"]))
    if files.get("head"):
        backbone.load_head(judge_dir / files["head"])
    return backbone.to(torch.device(device)).eval(), meta
