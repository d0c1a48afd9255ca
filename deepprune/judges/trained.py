"""A judge trained by ``train.py``: loads ``RUN_DIR/judge`` (``judge=trained judge.path=...``)."""

from __future__ import annotations

import torch

from deepprune.config_checks import check_int
from deepprune.judges.backbone import BackboneJudge
from deepprune.judges.exported import load_exported


class TrainedJudge(BackboneJudge):
    """Batched scoring with an exported judge (cross-encoder or LoRA decoder).

    It reads both prefixes of every pair (no per-prefix cache: a cross-encoder sees them jointly), so
    ``tokens_read`` grows by both prefixes' token counts per pair. ``truncation`` is the rule the judge was
    trained on (None for an export that did not record one): callers compare it with theirs by ``==``.
    The defaults are conf/judge/trained.yaml's, for callers that build the judge in code.
    """

    name = "trained"

    def __init__(self, path: str, batch_size: int = 64, device: str = "cpu", trust_remote_code: bool = False) -> None:
        super().__init__()
        self.batch_size = check_int("judge.batch_size", batch_size)
        # Only the caller (judge.trust_remote_code) may allow the judge's model code to run, never judge.json.
        self.backbone, self.meta, self.truncation = load_exported(path, device, trust_remote_code)
        self.collate = self.backbone.collator()
        self.device = torch.device(device)
