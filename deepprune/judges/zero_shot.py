"""Zero-shot judge: a prompted causal LM asked whether two partial solutions reach the same answer.

P(same) = P(yes) / (P(yes) + P(no)) from the next-token logits after the prompt, with "yes"/"no"
spelled as listed in ``judge.yes_words`` / ``judge.no_words`` (those that are single tokens). Any
local causal LM works (``judge.path``); the paper's baseline is Qwen3-4B-Instruct-2507 (AUROC 0.66).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from deepprune.config_checks import check_device, check_int
from deepprune.judges.backbone import BackboneJudge
from deepprune.judges.networks import DecoderJudgeModel

# conf/judge/zero_shot.yaml's prompt, the default for callers that build the judge in code.
DEFAULT_PROMPT = (
    "Two partial solutions to the same problem follow.\n\nSolution A:\n{a}\n\nSolution B:\n{b}\n\n"
    "Will these two partial solutions reach the same final answer? Answer yes or no."
)


class ZeroShotJudge(BackboneJudge):
    """Scores pairs with :class:`DecoderJudgeModel` in ``yes_no`` mode, no training (``conf/judge/zero_shot.yaml``).

    The defaults are the YAML's, for callers that build the judge in code (tests, benchmarks).
    """

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
        max_prefix_tokens: int | None = 512,
        bf16: bool = False,
        trust_remote_code: bool = False,
    ) -> None:
        super().__init__()
        self.batch_size = check_int("judge.batch_size", batch_size)
        self.device = torch.device(check_device("judge.device", device))
        self.backbone = DecoderJudgeModel(
            path=path,
            scoring="yes_no",
            yes_words=yes_words,
            no_words=no_words,
            prompt=prompt,
            chat_template=chat_template,
            trust_remote_code=trust_remote_code,
            bf16=bf16,
            gradient_checkpointing=False,
            lora=None,
            max_prefix_tokens=max_prefix_tokens,
        )
        self.backbone.to(self.device).eval()
        self.collate = self.backbone.collator()
