"""Binary losses on logits for the judge (label 1 = same final answer).

Different-answer pairs are the minority (~12-20%); the paper trains with focal loss. All losses take
raw logits (one per pair) and float targets in {0, 1} and return the batch mean. ``conf/loss/*.yaml`` holds
their settings (``_target_``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class FocalLoss(nn.Module):
    """Binary focal loss (Lin et al. 2017): ``-alpha_t (1 - p_t)^gamma log p_t``.

    ``alpha`` weights the positive class (same answer) and ``1 - alpha`` the negative one, so 0.25 (the
    YAML's) up-weights the different-answer minority; ``alpha=None`` disables class weighting.
    """

    def __init__(self, alpha: float | None, gamma: float) -> None:
        super().__init__()
        if alpha is not None and not 0.0 <= alpha <= 1.0:
            raise ValueError(f"loss.alpha must be in [0, 1] or null, got {alpha}")
        if gamma < 0:
            raise ValueError(f"loss.gamma must be >= 0, got {gamma}")
        self.alpha, self.gamma = alpha, gamma

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        targets = targets.to(logits.dtype)
        # log p_t computed from logits for stability (no log(sigmoid) underflow).
        log_p_t = -F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
        p_t = log_p_t.exp()
        loss = -((1.0 - p_t) ** self.gamma) * log_p_t
        if self.alpha is not None:
            loss = loss * (self.alpha * targets + (1.0 - self.alpha) * (1.0 - targets))
        return loss.mean()


class BCELoss(nn.Module):
    """Plain binary cross-entropy on logits."""

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(logits, targets.to(logits.dtype))


class WeightedBCELoss(nn.Module):
    """Class-weighted BCE: ``-(w_pos y log p + w_neg (1 - y) log(1 - p))``, batch mean."""

    def __init__(self, pos_weight: float, neg_weight: float) -> None:
        super().__init__()
        if pos_weight <= 0 or neg_weight <= 0:
            raise ValueError(f"loss.pos_weight and loss.neg_weight must be > 0, got {pos_weight}, {neg_weight}")
        self.pos_weight, self.neg_weight = pos_weight, neg_weight

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        targets = targets.to(logits.dtype)
        weights = self.pos_weight * targets + self.neg_weight * (1.0 - targets)
        return F.binary_cross_entropy_with_logits(logits, targets, weight=weights)
