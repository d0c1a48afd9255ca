"""Read a judge exported by ``train.py`` (``RUN_DIR/judge``), the format its export step writes.

Layout::

    judge/judge.json          format_version, the judge model's config, base model, files, truncation, metrics
    judge/adapter/            peft LoRA adapter (safetensors)        -- LoRA runs
    judge/model/              full fine-tuned transformer (safetensors) -- judge.lora=null
    judge/head.safetensors    classification head
    judge/tokenizer/
    judge/base/               copy of a locally generated base model (tiny_qwen3 only)

Format 2 stores the model's and the truncation rule's ``_target_`` configs; format 1 (``judge.backbone``,
``truncation.name``) is still read, so judges trained before keep working. Only the judge model classes
and truncation rules of this package can be named (a judge directory must not call arbitrary code), only
safetensors are read back, and remote code runs only if the caller passes ``judge.trust_remote_code=true``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError

from deepprune.data.truncation import TruncationRule, truncation_from_config
from deepprune.judges.networks import BiEncoderJudgeModel, DecoderJudgeModel, EncoderJudgeModel, JudgeModel
from deepprune.model_paths import resolve_model_path

FORMAT_VERSION = 2
MODEL_CLASSES: dict[str, type[JudgeModel]] = {
    f"{module}.{cls.__qualname__}": cls
    for cls in (EncoderJudgeModel, BiEncoderJudgeModel, DecoderJudgeModel)
    # Judges exported before the networks' module was renamed (deepprune.judges.models) name it so.
    for module in (cls.__module__, "deepprune.judges.models")
}
# Keys of the training config that a loaded judge does not take: it loads the saved weights as they are.
_TRAINING_ONLY = ("path", "lora", "gradient_checkpointing", "trust_remote_code")


def read_meta(meta_path: Path) -> dict[str, Any]:
    """``judge.json``, checked for the keys and file entries :func:`load_exported` relies on."""
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{meta_path}: not valid JSON ({err}); re-export the judge with train.py") from err
    if not isinstance(meta, dict):
        raise ValueError(f"{meta_path}: expected a JSON object, got {type(meta).__name__}")
    missing = [key for key in ("format_version", "judge", "files") if key not in meta]
    if missing:
        raise ValueError(f"{meta_path}: missing key(s) {', '.join(missing)} (not a complete judge written by train.py)")
    if meta["format_version"] not in (1, FORMAT_VERSION):
        raise ValueError(
            f"{meta_path}: field 'format_version': {meta['format_version']!r} is not 1 or {FORMAT_VERSION} "
            "(written by another version of deepprune: retrain, or export it again, with this one)"
        )
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
        _check_tree(judge_dir, judge_dir / str(name), f"{meta_path}: field 'files.{key}'")
    base = meta.get("base_model")
    if isinstance(base, str) and (judge_dir / base).is_dir():
        _check_tree(judge_dir, judge_dir / base, f"{meta_path}: field 'base_model'")
    return meta


# Weight formats read with pickle (torch.load): a judge directory holding one could run code when loaded.
_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


def _check_tree(judge_dir: Path, entry: Path, where: str) -> None:
    """Every file under ``entry`` lies inside the judge directory (symlinks resolved) and is not a pickle."""
    for file in [entry, *entry.rglob("*")] if entry.is_dir() else [entry]:
        if not file.resolve().is_relative_to(judge_dir):
            raise ValueError(f"{where}: {file} is a link to {file.resolve()}, outside the judge directory")
        if file.is_file() and file.name.endswith(_PICKLE_SUFFIXES):
            raise ValueError(
                f"{where}: {file.name} is a pickle-format file, which is never loaded (it could run code); "
                "a judge written by train.py holds safetensors only"
            )


def _model_arguments(judge: Mapping[str, Any], version: int, meta_path: Path) -> tuple[type[JudgeModel], dict]:
    """The model class and its constructor arguments (less weights and flags) from ``judge.json``'s ``judge``."""
    fields = dict(judge)
    if version == 1:
        # Format 1: {"backbone": "encoder"|"decoder", "name", "max_length", "max_prefix_tokens", "tiny", ...}.
        backbone = fields.pop("backbone", None)
        classes = {"encoder": EncoderJudgeModel, "decoder": DecoderJudgeModel}
        if backbone not in classes:
            raise ValueError(f"{meta_path}: field 'judge.backbone': expected encoder or decoder, got {backbone!r}")
        for key in ("name", "max_length", "tiny"):
            fields.pop(key, None)
        if backbone == "encoder":
            fields.pop("max_prefix_tokens", None)
        cls = classes[backbone]
    else:
        target = fields.pop("_target_", None)
        fields.pop("_partial_", None)
        if target not in MODEL_CLASSES:
            raise ValueError(f"{meta_path}: field 'judge._target_': {target!r} is not one of {sorted(MODEL_CLASSES)}")
        cls = MODEL_CLASSES[target]
    for key in _TRAINING_ONLY:
        fields.pop(key, None)
    return cls, fields


def load_exported(
    path: str | Path, device: str, trust_remote_code: bool
) -> tuple[JudgeModel, dict[str, Any], TruncationRule | None]:
    """The exported model (eval mode, on ``device``), its ``judge.json`` and the truncation it was trained on.

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
    meta = read_meta(meta_path)
    if meta["judge"].get("trust_remote_code") and not trust_remote_code:
        raise ValueError(
            f"{meta_path}: this judge needs trust_remote_code (its model runs Python files shipped with it); "
            "a judge directory cannot enable that itself: review the code, then pass judge.trust_remote_code=true"
        )
    cls, arguments = _model_arguments(meta["judge"], meta["format_version"], meta_path)
    truncation = meta.get("truncation")
    rule = truncation_from_config(truncation, f"{meta_path}: field 'truncation'") if truncation else None
    files = meta["files"]
    if files.get("adapter"):
        base = meta.get("base_model")
        # A copied base ("base"), a local dir or cached hub id, or null (the bundled MiniLM).
        shipped = base is not None and (judge_dir / base).is_dir()
        if shipped:
            model_path: str | None = str(judge_dir / base)
        else:
            model_path = resolve_model_path(base, f"{meta_path} base_model") if base else None
        adapter: str | None = str(judge_dir / files["adapter"])
    else:
        adapter, model_path = None, str(judge_dir / files["model"])
    try:
        model = cls(
            path=model_path,
            trust_remote_code=trust_remote_code,
            gradient_checkpointing=False,
            lora=None,  # the adapter (or full model) is loaded as saved, not re-created
            adapter=adapter,
            tokenizer_path=str(judge_dir / files["tokenizer"]),
            **arguments,
        )
        if files.get("head"):
            model.load_head(judge_dir / files["head"])
    except FileNotFoundError:
        raise  # already names the missing file
    except TypeError as err:  # a field the model does not take, or one it needs
        raise ValueError(f"{meta_path}: field 'judge': {err}") from err
    except (OSError, RuntimeError, SafetensorError) as err:
        # Truncated or mismatched weights: name the judge, keep the library's reason.
        reason = " ".join(str(err).split())
        raise ValueError(
            f"judge.path={path}: cannot load the exported weights ({type(err).__name__}: {reason})"
        ) from err
    return model.to(torch.device(device)).eval(), meta, rule
