"""Judge scoring models: a pair of prefixes in, one logit of P(same final answer) out.

* :class:`EncoderJudgeModel`: cross-encoder (all-MiniLM-L6-v2 by default) reading ``[CLS] a [SEP] b [SEP]``,
  mean- or CLS-pooled, with a linear head.
* :class:`BiEncoderJudgeModel`: Siamese judge (same encoder) embedding each prefix alone, with a linear
  head over the pair's symmetric features; a problem's N prefixes cost N encoder passes, not one per pair.
* :class:`DecoderJudgeModel`: causal LM (Qwen3) reading a judge prompt containing both prefixes; the score
  is a linear head on the last token's hidden state (``scoring=head``) or ``logit(yes) - logit(no)`` of
  the next token (``scoring=yes_no``, the zero-shot judge's reading).

The judge reads the prefixes as the truncation rule cut them (``conf/truncation``): the collators do not
cut again, except to the encoder's own position limit. ``conf/judge/{minilm,bi_encoder,qwen3_4b,tiny_qwen3}.yaml``
configure these classes; ``lora`` is a peft ``LoraConfig`` (or None for a full fine-tune) applied by
:func:`deepprune.judges.lora.apply_lora`. Weights are only read from local files (never downloaded).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig
from torch import nn

from deepprune.config_checks import check_range, remote_code_refusal_names
from deepprune.data.tokenizer import bundled_minilm_path
from deepprune.judges.lora import apply_lora
from deepprune.model_paths import resolve_model_path

# (text_a, text_b, label); label is -1 at inference.
PairItem = tuple[str, str, int]


class EncoderCollator:
    """Tokenises pairs as one ``a [SEP] b`` sequence, padded to the longest in the batch (in workers).

    Only a pair longer than the encoder's positions (``max_length``) is cut, longest prefix first.
    """

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


class BiEncoderCollator:
    """Tokenises every prefix as its own sequence: B pairs become 2B rows, the a's then the b's.

    Only a prefix longer than the encoder's positions (``max_length``) is cut.
    """

    def __init__(self, tokenizer: Any, max_length: int) -> None:
        self.tokenizer, self.max_length = tokenizer, max_length

    def encode(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        """One row per text, padded to the longest (also how the trained judge embeds a problem's prefixes)."""
        return dict(
            self.tokenizer(
                list(texts), truncation=True, max_length=self.max_length, padding="longest", return_tensors="pt"
            )
        )

    def __call__(self, items: Sequence[PairItem]) -> dict[str, torch.Tensor]:
        text_a, text_b, labels = zip(*items, strict=True)
        batch = self.encode([*text_a, *text_b])
        batch["labels"] = torch.tensor(labels, dtype=torch.float32)
        return batch


class DecoderCollator:
    """Fills the judge prompt with both prefixes (each cut to ``max_prefix_tokens`` unless None), left-padded.

    Left padding puts every sequence's last token in the last column, which is where the score is
    read; explicit position ids keep positions independent of the padding.
    """

    _A, _B = "\x00PREFIX_A\x00", "\x00PREFIX_B\x00"

    def __init__(self, tokenizer: Any, prompt: str, chat_template: bool | str, max_prefix_tokens: int | None) -> None:
        if "{a}" not in prompt or "{b}" not in prompt:
            raise ValueError("judge.prompt must contain the placeholders {a} and {b}")
        if chat_template not in ("auto", True, False):
            raise ValueError(f"judge.chat_template must be auto, true or false, got {chat_template!r}")
        self.tokenizer, self.max_prefix_tokens = tokenizer, max_prefix_tokens
        text = prompt.replace("{a}", self._A).replace("{b}", self._B)
        use_chat = bool(tokenizer.chat_template) if chat_template == "auto" else chat_template
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


class JudgeModel(nn.Module):
    """Common interface: ``forward(batch) -> logits [B]``, ``collator()``, ``tokenizer``, ``save(dir)``.

    Args (shared by both models):
        path: local model directory or cached hub id (resolved, never downloaded).
        trust_remote_code: allow Python files shipped with the model (only the command line may set it).
        bf16: load the transformer in bfloat16.
        gradient_checkpointing: recompute activations in the backward pass (memory for time).
        lora: a fresh LoRA adapter to train, or None (full fine-tune, or inference of a loaded adapter).
        adapter: a trained adapter directory to load (frozen) instead.
        tokenizer_path: the tokenizer's directory when it is not ``path`` (an exported judge's copy).
    """

    model: nn.Module
    head: nn.Module | None

    def __init__(
        self,
        auto_class: Any,
        path: str,
        trust_remote_code: bool,
        bf16: bool,
        gradient_checkpointing: bool,
        lora: LoraConfig | None,
        adapter: str | None,
        tokenizer_path: str | None,
    ) -> None:
        super().__init__()
        from transformers import AutoTokenizer

        self.path = path  # resolved (and checked for custom code) by the subclass
        with remote_code_refusal_names(tokenizer_path or path, "judge.trust_remote_code"):
            self.tokenizer = AutoTokenizer.from_pretrained(
                tokenizer_path or path, trust_remote_code=trust_remote_code, local_files_only=True
            )
            base = auto_class.from_pretrained(
                path,
                trust_remote_code=trust_remote_code,
                local_files_only=True,
                dtype=torch.bfloat16 if bf16 else torch.float32,
            )
        if gradient_checkpointing:
            # Non-reentrant checkpointing works with frozen (LoRA) inputs without enable_input_require_grads.
            base.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        self.hidden_size = int(base.config.hidden_size)
        self.model = apply_lora(base, lora, adapter)

    @property
    def uses_lora(self) -> bool:
        from peft import PeftModel

        return isinstance(self.model, PeftModel)

    def collator(self) -> EncoderCollator | BiEncoderCollator | DecoderCollator:
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
            raise ValueError(f"{path}: this judge model has no head to load")
        try:
            state = load_file(str(path))
        except SafetensorError as err:
            raise ValueError(f"{path}: not a readable safetensors file ({err})") from err
        try:
            self.head.load_state_dict(state)
        except RuntimeError as err:
            reason = " ".join(str(err).split())
            raise ValueError(f"{path}: the head's tensors do not fit this backbone ({reason})") from err


class EncoderJudgeModel(JudgeModel):
    """Cross-encoder judge; ``path=None`` is the bundled all-MiniLM-L6-v2.

    Args:
        pooling: ``mean`` over tokens or the ``cls`` token.
        head_dropout: dropout before the linear head.
        (others: see :class:`JudgeModel`)
    """

    def __init__(
        self,
        path: str | None,
        pooling: str,
        head_dropout: float,
        trust_remote_code: bool,
        bf16: bool,
        gradient_checkpointing: bool,
        lora: LoraConfig | None,
        adapter: str | None = None,
        tokenizer_path: str | None = None,
    ) -> None:
        from transformers import AutoModel

        local = encoder_path(path, pooling, trust_remote_code)
        super().__init__(
            AutoModel, local, trust_remote_code, bf16, gradient_checkpointing, lora, adapter, tokenizer_path
        )
        self.pooling = pooling
        self.head = nn.Sequential(nn.Dropout(head_dropout), nn.Linear(self.hidden_size, 1))

    def collator(self) -> EncoderCollator:
        return EncoderCollator(self.tokenizer, int(self.tokenizer.model_max_length))

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        inputs = {k: v for k, v in batch.items() if k != "labels"}
        hidden = self.model(**inputs).last_hidden_state.float()
        return self.head(pool(hidden, batch["attention_mask"], self.pooling)).squeeze(-1)


def encoder_path(path: str | None, pooling: str, trust_remote_code: bool) -> str:
    """The local encoder directory of an encoder judge (``None``: the bundled MiniLM), its pooling checked."""
    if pooling not in ("mean", "cls"):
        raise ValueError(f"judge.pooling must be 'mean' or 'cls', got {pooling!r}")
    if not path:
        return bundled_minilm_path()
    return resolve_model_path(path, "judge.path", "judge.trust_remote_code", trust_remote_code)


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """``[B, T, H] -> [B, H]``: the ``cls`` token, or the ``mean`` over the tokens the mask keeps."""
    if pooling == "cls":
        return hidden[:, 0]
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)


class BiEncoderJudgeModel(JudgeModel):
    """Siamese judge: the encoder embeds each prefix alone (u, v); a linear head reads ``[u + v, |u - v|, u * v]``.

    Symmetric by construction, exactly (``score(a, b) == score(b, a)`` bit for bit): SBERT's classifier
    features ``[u, v, |u - v|, u * v]`` depend on the order, and a linear head over them averaged over both
    orders is a linear head over ``[(u + v) / 2, |u - v|, u * v]``, so these features are that same family
    at one head pass instead of two. Because the prefixes never meet inside the encoder, a problem's N
    prefixes cost N encoder passes (the trained judge caches them) and each pair costs only the head.
    The embeddings are the pooled hidden states, unnormalised (as SBERT's classifier reads them).

    Args:
        pooling: ``mean`` over tokens or the ``cls`` token.
        head_dropout: dropout before the linear head, in [0, 1).
        (others: see :class:`JudgeModel`; ``path=None`` is the bundled all-MiniLM-L6-v2)
    """

    def __init__(
        self,
        path: str | None,
        pooling: str,
        head_dropout: float,
        trust_remote_code: bool,
        bf16: bool,
        gradient_checkpointing: bool,
        lora: LoraConfig | None,
        adapter: str | None = None,
        tokenizer_path: str | None = None,
    ) -> None:
        from transformers import AutoModel

        local = encoder_path(path, pooling, trust_remote_code)
        dropout = check_range("judge.head_dropout", head_dropout, 0, 1, high_open=True)
        super().__init__(
            AutoModel, local, trust_remote_code, bf16, gradient_checkpointing, lora, adapter, tokenizer_path
        )
        self.pooling = pooling
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(3 * self.hidden_size, 1))

    def collator(self) -> BiEncoderCollator:
        return BiEncoderCollator(self.tokenizer, int(self.tokenizer.model_max_length))

    def embed(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """``[N, H]`` embeddings of N tokenised prefixes (:meth:`BiEncoderCollator.encode`): one encoder pass."""
        hidden = self.model(**inputs).last_hidden_state.float()
        return pool(hidden, inputs["attention_mask"], self.pooling)

    def pair_logits(self, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """``[B]`` logits of "same final answer" from the two sides' ``[B, H]`` embeddings (the head only)."""
        return self.head(torch.cat([u + v, (u - v).abs(), u * v], dim=-1)).squeeze(-1)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        embeddings = self.embed({k: v for k, v in batch.items() if k != "labels"})
        half = len(batch["labels"])
        return self.pair_logits(embeddings[:half], embeddings[half:])


def _single_token_ids(tokenizer: Any, words: Sequence[str], key: str) -> list[int]:
    ids = []
    for word in words:
        encoded = tokenizer(word, add_special_tokens=False)["input_ids"]
        if len(encoded) == 1 and encoded[0] not in ids:
            ids.append(encoded[0])
    if not ids:
        raise ValueError(f"{key}: none of {list(words)} is a single token for this tokenizer")
    return ids


class DecoderJudgeModel(JudgeModel):
    """Causal-LM judge reading ``prompt`` (with ``{a}`` and ``{b}``), optionally in the chat template.

    Args:
        scoring: ``head`` (linear head on the last token) or ``yes_no`` (next-token ``logit(yes) - logit(no)``).
        yes_words, no_words: spellings of yes/no; those that are single tokens are used.
        prompt: the judge prompt; ``{a}`` and ``{b}`` receive the two prefixes.
        chat_template: ``auto`` (the tokenizer's template when it has one), true or false.
        max_prefix_tokens: a memory bound on each prefix in this model's tokens (the zero-shot judge's
            ``judge.max_prefix_tokens``); None, for trained judges, leaves the cut to the truncation rule.
        (others: see :class:`JudgeModel`)
    """

    def __init__(
        self,
        path: str,
        scoring: str,
        yes_words: Sequence[str],
        no_words: Sequence[str],
        prompt: str,
        chat_template: bool | str,
        trust_remote_code: bool,
        bf16: bool,
        gradient_checkpointing: bool,
        lora: LoraConfig | None,
        max_prefix_tokens: int | None = None,
        adapter: str | None = None,
        tokenizer_path: str | None = None,
    ) -> None:
        from transformers import AutoModelForCausalLM

        if scoring not in ("head", "yes_no"):
            raise ValueError(f"judge.scoring must be 'head' or 'yes_no', got {scoring!r}")
        local = resolve_model_path(path, "judge.path", "judge.trust_remote_code", trust_remote_code)
        super().__init__(
            AutoModelForCausalLM, local, trust_remote_code, bf16, gradient_checkpointing, lora, adapter, tokenizer_path
        )
        self.scoring, self.prompt, self.chat_template = scoring, prompt, chat_template
        self.max_prefix_tokens = max_prefix_tokens
        self.head = nn.Linear(self.hidden_size, 1) if scoring == "head" else None
        if scoring == "yes_no":
            self.yes_ids = _single_token_ids(self.tokenizer, yes_words, "judge.yes_words")
            self.no_ids = _single_token_ids(self.tokenizer, no_words, "judge.no_words")

    def collator(self) -> DecoderCollator:
        return DecoderCollator(self.tokenizer, self.prompt, self.chat_template, self.max_prefix_tokens)

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
