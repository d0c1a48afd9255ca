"""Where model weights come from: one path resolver for the judges, the vLLM engine and the demo.

Weights are only ever read from local directories or the local Hugging Face cache, never downloaded, and
Python code shipped with a model runs only when the config key named in the error allows it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".gguf")


def check_custom_code(model_dir: str | Path, trust_remote_code: bool, flag: str | None) -> None:
    """Refuse, naming ``flag``, a model that only loads by running its own Python code (``auto_map``).

    Transformers would refuse too, but its message asks for a Python argument; this one names the config
    key, the only place that may allow it (``flag=None``: nothing may, the loader never runs model code).
    """
    from transformers import CONFIG_MAPPING

    config_file = Path(model_dir) / "config.json"
    if trust_remote_code or not config_file.is_file():
        return
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{config_file}: not valid JSON ({err})") from err
    if isinstance(config, dict) and config.get("auto_map") and config.get("model_type") not in CONFIG_MAPPING:
        allow = f"they run only with {flag}=true on the command line: review them first" if flag else "never run"
        raise ValueError(
            f"{config_file}: model_type {config.get('model_type')!r} is defined by Python files shipped with the "
            f"model (auto_map); {allow}"
        )


def resolve_model_path(
    path: str | os.PathLike[str] | None, key: str, trust_key: str | None = None, trust_remote_code: bool = False
) -> str:
    """The local directory holding the model at ``path`` (a directory, or a hub id already in the cache).

    Never downloads: anything else is an error naming ``key`` (the config key to set to a local copy). With
    ``trust_key``, a model needing its own Python code is refused (:func:`check_custom_code`) before anything
    else about it is judged.
    """
    if not path:
        raise ValueError(f"{key} is not set: point it at a local model directory (config.json + weights)")
    local = Path(str(path)).expanduser()
    hint = (
        f"{key}={str(path)!r} has no local weights (not a directory, not in the Hugging Face cache "
        f"{os.environ.get('HF_HUB_CACHE') or os.environ.get('HF_HOME') or '~/.cache/huggingface'}). "
        f"Weights are never downloaded at run time: download them once (e.g. `hf download {path} "
        f"--local-dir DIR`) and set {key}=DIR"
    )
    if not local.is_dir():
        if str(path).startswith(("/", ".", "~")) or str(path).count("/") != 1:
            raise FileNotFoundError(f"{key}={str(path)!r} is not a directory")
        try:
            from huggingface_hub import snapshot_download

            local = Path(snapshot_download(str(path), local_files_only=True))
        except Exception as err:  # any cache miss (not cached, partial, offline errors) means: no weights
            raise FileNotFoundError(hint) from err
        # A cache entry may hold the config of an interrupted download without its weights.
        if not any(p.name.endswith(_WEIGHT_SUFFIXES) for p in local.iterdir()):
            raise FileNotFoundError(f"{key}={str(path)!r}: the cached {local} has no weight files. {hint}")
    if not (local / "config.json").exists():
        raise FileNotFoundError(f"{key}={str(path)!r}: {local} has no config.json (not a model directory)")
    if trust_key is not None:
        # Before the weights are read (a directory's missing weights are reported by the loader, naming them).
        check_custom_code(local, trust_remote_code, trust_key)
    return str(local)
