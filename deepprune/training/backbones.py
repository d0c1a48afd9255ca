"""Judge backbones: a pair of prefixes in, one logit of P(same final answer) out.

* ``encoder``: cross-encoder (all-MiniLM-L6-v2 by default) reading ``[CLS] a [SEP] b [SEP]``, mean-
  pooled, with a linear head.
* ``decoder``: causal LM (Qwen3) reading a judge prompt containing both prefixes; the score is either a
  linear head on the last token's hidden state (``judge.scoring=head``) or ``logit(yes) - logit(no)``
  of the next token (``judge.scoring=yes_no``, the zero-shot judge's reading).

LoRA (peft) is applied to the transformer when ``judge.lora.enabled``; the head always trains. Weights
are only ever read from local directories or the local Hugging Face cache, never downloaded.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from deepprune.data.tokenizer import bundled_minilm_path

# (text_a, text_b, label); label is -1 at inference.
PairItem = tuple[str, str, int]

DEFAULT_PROMPT = (
    "Two partial solutions to the same problem follow.\n\nSolution A:\n{a}\n\nSolution B:\n{b}\n\n"
    "Will these two partial solutions reach the same final answer? Answer yes or no.\nAnswer:"
)


def check_custom_code(model_dir: str | Path, trust_remote_code: bool, flag: str) -> None:
    """Refuse, naming ``flag``, a model that only loads by running its own Python code (``auto_map``).

    Transformers would refuse too, but its message asks for a Python argument; this one names the config
    key, the only place that may allow it.
    """
    import json

    from transformers import CONFIG_MAPPING

    config_file = Path(model_dir) / "config.json"
    if trust_remote_code or not config_file.is_file():
        return
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{config_file}: not valid JSON ({err})") from err
    if isinstance(config, dict) and config.get("auto_map") and config.get("model_type") not in CONFIG_MAPPING:
        raise ValueError(
            f"{config_file}: model_type {config.get('model_type')!r} is defined by Python files shipped with the "
            f"model (auto_map); they run only with {flag}=true on the command line: review them first"
        )


def resolve_model_path(path: str | None, key: str = "judge.path") -> str:
    """A local directory holding the weights at ``path`` (a directory or a hub id already cached).

    Never downloads: a hub id that is not in the local Hugging Face cache is an error telling the user
    to set ``key`` to a local copy.
    """
    if path is None:
        return bundled_minilm_path()
    if Path(path).is_dir():
        if not (Path(path) / "config.json").exists():
            raise FileNotFoundError(f"{key}={path} is a directory without config.json: not a model directory")
        return str(path)
    looks_like_hub_id = path.count("/") == 1 and not path.startswith((".", "/", "~"))
    if looks_like_hub_id:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(path, "config.json")
        if isinstance(cached, str):
            return str(Path(cached).parent)
    raise FileNotFoundError(
        f"{key}={path!r}: no local weights found (not a directory, not in the Hugging Face cache "
        f"{os.environ.get('HF_HUB_CACHE') or os.environ.get('HF_HOME') or '~/.cache/huggingface'}). "
        f"Weights are never downloaded at run time: download them once (e.g. `hf download {path} "
        f"--local-dir DIR`) and set {key}=DIR."
    )


def make_tiny_qwen3(
    out_dir: str | Path,
    seed: int = 0,
    hidden_size: int = 64,
    num_layers: int = 2,
    tokenizer_path: str | None = None,
) -> str:
    """Write a random-init Qwen3 (head_dim 64) with a local tokenizer to ``out_dir`` (CI/testing only).

    The bundled MiniLM WordPiece tokenizer is reused, so nothing is downloaded; the model is the real
    Qwen3 architecture, so the decoder + LoRA code path is the one used for Qwen3-4B.
    """
    from transformers import AutoTokenizer, Qwen3Config, Qwen3ForCausalLM

    out_dir = Path(out_dir)
    if (out_dir / "config.json").exists() and (out_dir / "tokenizer_config.json").exists():
        return str(out_dir)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path or bundled_minilm_path(), local_files_only=True)
    config = Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=64,
        max_position_embeddings=2048,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    model = Qwen3ForCausalLM(config)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return str(out_dir)


def _lora_cfg(cfg: DictConfig) -> DictConfig:
    return cfg.get("lora") or OmegaConf.create({"enabled": False})


def _apply_peft(model: nn.Module, cfg: DictConfig, adapter_dir: str | None) -> nn.Module:
    """Wrap ``model`` with LoRA: a trained adapter from ``adapter_dir``, or a fresh one from ``judge.lora``."""
    from peft import LoraConfig, PeftModel, get_peft_model

    if adapter_dir is not None:
        # peft treats a path without adapter_config.json as a hub id: never let it go looking online.
        if not (Path(adapter_dir) / "adapter_config.json").is_file():
            raise FileNotFoundError(f"{adapter_dir}: no adapter_config.json (not a peft LoRA adapter directory)")
        return PeftModel.from_pretrained(model, adapter_dir, is_trainable=False)
    lora = _lora_cfg(cfg)
    if not lora.get("enabled", False):
        return model
    if not lora.get("target_modules"):
        raise ValueError("judge.lora.target_modules must list the modules to adapt (e.g. [query, value])")
    config = LoraConfig(
        r=int(lora.r),
        lora_alpha=int(lora.alpha),
        lora_dropout=float(lora.get("dropout", 0.0)),
        target_modules=list(lora.target_modules),
        modules_to_save=list(lora.modules_to_save) if lora.get("modules_to_save") else None,
        bias="none",
    )
    return get_peft_model(model, config)


def _dtype(cfg: DictConfig) -> torch.dtype:
    return torch.bfloat16 if cfg.get("bf16", False) else torch.float32


class EncoderCollator:
    """Tokenises pairs as one ``a [SEP] b`` sequence, padded to the longest in the batch (in workers)."""

    def __init__(self, tokenizer: Any, max_length: int) -> None:
        self.tokenizer, self.max_length = tokenizer, max_length

    def __call__(self, items: Sequence[PairItem]) -> dict[str, torch.Tensor]:
        text_a, text_b, labels = zip(*items, strict=True)
        batch = dict(
            self.tokenizer(
                list(text_a),
                list(text_b),
                truncation="longest_first",
                max_length=self.max_length,
                padding="longest",
                return_tensors="pt",
            )
        )
        batch["labels"] = torch.tensor(labels, dtype=torch.float32)
        return batch


class DecoderCollator:
    """Fills the judge prompt with both prefixes (each cut to ``max_prefix_tokens``), left-padded.

    Left padding puts every sequence's last token in the last column, which is where the score is
    read; explicit position ids keep positions independent of the padding.
    """

    _A, _B = "\x00PREFIX_A\x00", "\x00PREFIX_B\x00"

    def __init__(self, tokenizer: Any, prompt: str, chat_template: bool | str, max_prefix_tokens: int) -> None:
        if "{a}" not in prompt or "{b}" not in prompt:
            raise ValueError("judge.prompt must contain the placeholders {a} and {b}")
        self.tokenizer, self.max_prefix_tokens = tokenizer, max_prefix_tokens
        text = prompt.replace("{a}", self._A).replace("{b}", self._B)
        use_chat = bool(tokenizer.chat_template) if chat_template == "auto" else bool(chat_template)
        if use_chat:
            if not tokenizer.chat_template:
                raise ValueError("judge.chat_template=true but the tokenizer has no chat template")
            text = tokenizer.apply_chat_template(
                [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True
            )
        before, rest = text.split(self._A)
        middle, after = rest.split(self._B)
        self.pieces = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in (before, middle, after)]
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        if self.pad_id is None:
            raise ValueError("the judge tokenizer has neither a pad nor an eos token")

    def __call__(self, items: Sequence[PairItem]) -> dict[str, torch.Tensor]:
        text_a, text_b, labels = zip(*items, strict=True)
        ids_a = self.tokenizer(list(text_a), add_special_tokens=False)["input_ids"]
        ids_b = self.tokenizer(list(text_b), add_special_tokens=False)["input_ids"]
        before, middle, after = self.pieces
        k = self.max_prefix_tokens
        sequences = [before + a[:k] + middle + b[:k] + after for a, b in zip(ids_a, ids_b, strict=True)]
        width = max(len(s) for s in sequences)
        input_ids = torch.full((len(sequences), width), self.pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(sequences), width), dtype=torch.long)
        for row, seq in enumerate(sequences):
            input_ids[row, width - len(seq) :] = torch.tensor(seq, dtype=torch.long)
            attention_mask[row, width - len(seq) :] = 1
        position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        return {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "position_ids": position_ids,
            "labels": torch.tensor(labels, dtype=torch.float32),
        }


class JudgeBackbone(nn.Module):
    """Common interface: ``forward(batch) -> logits [B]``, ``collator()``, ``tokenizer``, ``save(dir)``."""

    kind: str
    model: nn.Module
    head: nn.Module | None
    tokenizer: Any

    def __init__(self, cfg: DictConfig) -> None:
        super().__init__()
        self.cfg = cfg

    def load_pretrained(self, auto_class: Any, model_path: str, tokenizer_path: str | None) -> nn.Module:
        """Set ``self.tokenizer`` and return the base model, both from local files only (never downloaded)."""
        from transformers import AutoTokenizer

        trust = bool(self.cfg.get("trust_remote_code", False))
        check_custom_code(model_path, trust, "judge.trust_remote_code")
        self.tokenizer = AutoTokenizer.from_pretrained(
            tokenizer_path or model_path, trust_remote_code=trust, local_files_only=True
        )
        base = auto_class.from_pretrained(
            model_path, trust_remote_code=trust, local_files_only=True, dtype=_dtype(self.cfg)
        )
        self.enable_gradient_checkpointing(base)
        return base

    @property
    def uses_lora(self) -> bool:
        from peft import PeftModel

        return isinstance(self.model, PeftModel)

    def collator(self) -> EncoderCollator | DecoderCollator:
        raise NotImplementedError

    def save(self, out_dir: Path) -> dict[str, str]:
        """Write trained weights (adapter or full model, head) and the tokenizer; return their file names."""
        from safetensors.torch import save_file

        files: dict[str, str] = {"tokenizer": "tokenizer"}
        if self.uses_lora:
            self.model.save_pretrained(out_dir / "adapter")  # safetensors by default
            files["adapter"] = "adapter"
        else:
            self.model.save_pretrained(out_dir / "model")
            files["model"] = "model"
        if self.head is not None:
            save_file(
                {k: v.detach().cpu().contiguous() for k, v in self.head.state_dict().items()},
                str(out_dir / "head.safetensors"),
            )
            files["head"] = "head.safetensors"
        self.tokenizer.save_pretrained(out_dir / "tokenizer")
        return files

    def load_head(self, path: Path) -> None:
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        if self.head is None:
            raise ValueError(f"{path}: this backbone has no head to load")
        try:
            state = load_file(str(path))
        except SafetensorError as err:
            raise ValueError(f"{path}: not a readable safetensors file ({err})") from err
        try:
            self.head.load_state_dict(state)
        except RuntimeError as err:
            reason = " ".join(str(err).split())
            raise ValueError(f"{path}: the head's tensors do not fit this backbone ({reason})") from err

    def enable_gradient_checkpointing(self, base: nn.Module) -> None:
        if self.cfg.get("gradient_checkpointing", False):
            # Non-reentrant checkpointing works with frozen (LoRA) inputs without enable_input_require_grads.
            base.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})


class EncoderBackbone(JudgeBackbone):
    kind = "encoder"

    def __init__(
        self, cfg: DictConfig, model_path: str, adapter_dir: str | None = None, tokenizer_path: str | None = None
    ) -> None:
        super().__init__(cfg)
        from transformers import AutoModel

        base = self.load_pretrained(AutoModel, model_path, tokenizer_path)
        self.model = _apply_peft(base, cfg, adapter_dir)
        self.pooling = cfg.get("pooling", "mean")
        if self.pooling not in ("mean", "cls"):
            raise ValueError(f"judge.pooling must be 'mean' or 'cls', got {self.pooling!r}")
        dropout = float(cfg.get("head_dropout", 0.1))
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(base.config.hidden_size, 1))

    def collator(self) -> EncoderCollator:
        return EncoderCollator(self.tokenizer, int(self.cfg.get("max_length", 256)))

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        inputs = {k: v for k, v in batch.items() if k != "labels"}
        hidden = self.model(**inputs).last_hidden_state.float()
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return self.head(pooled).squeeze(-1)


def _single_token_ids(tokenizer: Any, words: Sequence[str], key: str) -> list[int]:
    ids = []
    for word in words:
        encoded = tokenizer(word, add_special_tokens=False)["input_ids"]
        if len(encoded) == 1 and encoded[0] not in ids:
            ids.append(encoded[0])
    if not ids:
        raise ValueError(f"{key}: none of {list(words)} is a single token for this tokenizer")
    return ids


class DecoderBackbone(JudgeBackbone):
    kind = "decoder"

    def __init__(
        self, cfg: DictConfig, model_path: str, adapter_dir: str | None = None, tokenizer_path: str | None = None
    ) -> None:
        super().__init__(cfg)
        from transformers import AutoModelForCausalLM

        base = self.load_pretrained(AutoModelForCausalLM, model_path, tokenizer_path)
        self.model = _apply_peft(base, cfg, adapter_dir)
        self.scoring = cfg.get("scoring", "head")
        if self.scoring == "head":
            self.head = nn.Linear(base.config.hidden_size, 1)
        elif self.scoring == "yes_no":
            self.head = None
            self.yes_ids = _single_token_ids(self.tokenizer, cfg.get("yes_words", [" yes"]), "judge.yes_words")
            self.no_ids = _single_token_ids(self.tokenizer, cfg.get("no_words", [" no"]), "judge.no_words")
        else:
            raise ValueError(f"judge.scoring must be 'head' or 'yes_no', got {self.scoring!r}")

    def collator(self) -> DecoderCollator:
        return DecoderCollator(
            self.tokenizer,
            self.cfg.get("prompt") or DEFAULT_PROMPT,
            self.cfg.get("chat_template", "auto"),
            int(self.cfg.get("max_prefix_tokens", 512)),
        )

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        # Run the decoder stack only; the LM head (vocab-sized) is applied to the last position alone.
        decoder = self.model.get_decoder()
        hidden = decoder(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            position_ids=batch["position_ids"],
            use_cache=False,
        ).last_hidden_state[:, -1]
        if self.head is not None:
            return self.head(hidden.float()).squeeze(-1)
        logits = self.model.get_output_embeddings()(hidden).float()
        return torch.logsumexp(logits[:, self.yes_ids], -1) - torch.logsumexp(logits[:, self.no_ids], -1)


def build_backbone(
    cfg: DictConfig, adapter_dir: str | None = None, model_path: str | None = None, tokenizer_path: str | None = None
) -> JudgeBackbone:
    """Backbone for ``judge.backbone`` (``encoder`` | ``decoder``) with weights at ``judge.path``."""
    path = model_path or resolve_model_path(cfg.get("path"))
    kind = cfg.get("backbone")
    if kind == "encoder":
        return EncoderBackbone(cfg, path, adapter_dir, tokenizer_path)
    if kind == "decoder":
        return DecoderBackbone(cfg, path, adapter_dir, tokenizer_path)
    raise ValueError(f"judge.backbone must be 'encoder' or 'decoder', got {kind!r}")
