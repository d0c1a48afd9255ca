"""Zero-shot judge: a prompted causal LM asked whether two partial solutions reach the same answer.

P(same) = P(yes) / (P(yes) + P(no)) from the next-token logits after the prompt, with "yes"/"no"
spelled as listed in ``judge.yes_words`` / ``judge.no_words`` (those that are single tokens). Any
local causal LM works (``judge.path``); the paper's baseline is Qwen3-4B-Instruct-2507 (AUROC 0.66).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from omegaconf import DictConfig, OmegaConf

from deepprune.judges.backbone import BackboneJudge
from deepprune.training.backbones import DEFAULT_PROMPT, build_backbone


class ZeroShotJudge(BackboneJudge):
    name = "zero_shot"

    def __init__(
        self,
        path: str,
        prompt: str = DEFAULT_PROMPT,
        batch_size: int = 8,
        device: str = "cpu",
        yes_words: Sequence[str] = (" yes", "yes", " Yes", "Yes"),
        no_words: Sequence[str] = (" no", "no", " No", "No"),
        chat_template: bool | str = "auto",
        max_prefix_tokens: int = 512,
        bf16: bool = False,
        trust_remote_code: bool = False,
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"judge.batch_size must be >= 1, got {batch_size}")
        cfg = OmegaConf.create(
            {
                "backbone": "decoder",
                "path": path,
                "scoring": "yes_no",
                "prompt": prompt,
                "yes_words": list(yes_words),
                "no_words": list(no_words),
                "chat_template": chat_template,
                "max_prefix_tokens": max_prefix_tokens,
                "bf16": bf16,
                "trust_remote_code": trust_remote_code,
                "lora": {"enabled": False},
            }
        )
        self.device = torch.device(device)
        self.backbone = build_backbone(cfg).to(self.device).eval()
        self.collate = self.backbone.collator()
        self.batch_size = batch_size

    @classmethod
    def from_config(cls, cfg: DictConfig) -> ZeroShotJudge:
        """From ``conf/judge/zero_shot.yaml``."""
        keys = ("prompt", "batch_size", "device", "yes_words", "no_words", "chat_template", "max_prefix_tokens",
                "bf16", "trust_remote_code")
        return cls(path=cfg.path, **{k: cfg[k] for k in keys if cfg.get(k) is not None})
