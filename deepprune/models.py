"""Model files shared by the judges, the vLLM engine and the demo: one path resolver, one tiny-model builder.

Weights are only ever read from local directories or the local Hugging Face cache, never downloaded, and
Python code shipped with a model runs only when the config key named in the error allows it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from transformers import Qwen3Config, Qwen3ForCausalLM

from deepprune.data.io import claim_output_dir
from deepprune.data.tokenizer import bundled_minilm_path

_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".gguf")
_TINY_JUDGE_MARKER = "deepprune_tiny_judge_base.json"


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


def tiny_qwen3(
    vocab_size: int,
    hidden_size: int,
    intermediate_size: int,
    num_layers: int,
    max_position_embeddings: int,
    tie_word_embeddings: bool,
    pad_token_id: int | None,
    bos_token_id: int | None = None,
    eos_token_id: int | None = None,
    num_attention_heads: int = 2,
    num_key_value_heads: int = 1,
    head_dim: int = 64,
) -> Qwen3ForCausalLM:
    """A random-init Qwen3 (the real architecture, so vLLM and the LoRA code paths run on it).

    ``head_dim`` stays 64 by default: vLLM's CPU attention rejects smaller heads. The weights come from
    torch's global generator: seed it first for a reproducible model.
    """
    config = Qwen3Config(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_attention_heads,
        num_key_value_heads=num_key_value_heads,
        head_dim=head_dim,
        max_position_embeddings=max_position_embeddings,
        tie_word_embeddings=tie_word_embeddings,
        bos_token_id=bos_token_id,
        eos_token_id=eos_token_id,
        pad_token_id=pad_token_id,
    )
    return Qwen3ForCausalLM(config)


def tiny_judge_base(out_dir: str | os.PathLike[str], seed: int, hidden_size: int, num_layers: int) -> str:
    """Write a random-init tiny Qwen3 with the bundled MiniLM tokenizer to ``out_dir``; return the directory.

    The base of ``judge=tiny_qwen3`` (CI): the decoder + LoRA path of Qwen3-4B on CPU, without a download.
    A model this function wrote there before is reused; a directory it did not write (not empty, no marker
    file) is refused rather than written into.
    """
    import torch
    from transformers import AutoTokenizer

    out = Path(out_dir)
    if claim_output_dir(out, _TINY_JUDGE_MARKER, "judge.path.out_dir"):
        return str(out)
    tokenizer = AutoTokenizer.from_pretrained(bundled_minilm_path(), local_files_only=True)
    torch.manual_seed(seed)
    model = tiny_qwen3(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_layers=num_layers,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
    )
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / _TINY_JUDGE_MARKER).write_text("{}\n")  # written last: a half-written directory is not reused
    return str(out)
