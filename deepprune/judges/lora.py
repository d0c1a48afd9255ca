"""The one LoRA builder: a fresh adapter from a peft ``LoraConfig`` (training) or a trained one from disk."""

from __future__ import annotations

from pathlib import Path

from peft import LoraConfig, PeftModel, get_peft_model
from torch import nn


def apply_lora(model: nn.Module, lora: LoraConfig | None, adapter_dir: str | None = None) -> nn.Module:
    """``model`` wrapped with the adapter at ``adapter_dir`` (frozen), else a fresh ``lora``; as is when both are None.

    ``judge.lora`` is the trl-style typed config (``_target_: peft.LoraConfig``); null means a full fine-tune.
    """
    if adapter_dir is not None:
        # peft treats a path without adapter_config.json as a hub id: never let it go looking online.
        if not (Path(adapter_dir) / "adapter_config.json").is_file():
            raise FileNotFoundError(f"{adapter_dir}: no adapter_config.json (not a peft LoRA adapter directory)")
        return PeftModel.from_pretrained(model, adapter_dir, is_trainable=False)
    if lora is None:
        return model
    if not lora.target_modules:
        raise ValueError("judge.lora.target_modules must list the modules to adapt (e.g. [query, value])")
    return get_peft_model(model, lora)
