"""Judge quality metrics (torchmetrics): AUROC, average precision, TNR at a fixed FNR, ROC plot.

Label 1 = same final answer (the positive class). The paper reports TNR at FNR 0.2: the share of
different-answer pairs caught while wrongly splitting at most 20% of same-answer pairs. Training
(LightningModule) and ``eval_judge.py`` share these functions.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from torchmetrics.functional.classification import binary_auroc, binary_average_precision, binary_roc

TARGET_FNR = 0.2


def tnr_at_fnr(
    fpr: torch.Tensor, tpr: torch.Tensor, thresholds: torch.Tensor, fnr: float = TARGET_FNR
) -> tuple[float, float]:
    """Best TNR with FNR <= ``fnr`` on a ROC curve, and the score threshold achieving it.

    ROC points run from high to low threshold, so fpr and tpr are non-decreasing: the first point with
    tpr >= 1 - fnr has the smallest fpr among the admissible ones.
    """
    admissible = torch.nonzero(tpr >= 1.0 - fnr - 1e-12)
    index = int(admissible[0]) if admissible.numel() else len(tpr) - 1
    return float(1.0 - fpr[index]), float(thresholds[index].clamp(max=1.0))


def judge_metrics(scores: np.ndarray, labels: np.ndarray, prefix: str = "test/") -> dict[str, float]:
    """AUROC, AP and TNR@FNR0.2 of ``scores`` (P(same answer)) against binary ``labels``."""
    scores_t = torch.as_tensor(np.asarray(scores), dtype=torch.float32)
    labels_t = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    if labels_t.unique().numel() < 2:
        raise ValueError("judge metrics need both same-answer and different-answer pairs")
    tnr, threshold = tnr_at_fnr(*binary_roc(scores_t, labels_t))
    return {
        f"{prefix}auroc": float(binary_auroc(scores_t, labels_t)),
        f"{prefix}ap": float(binary_average_precision(scores_t, labels_t)),
        f"{prefix}tnr@fnr0.2": tnr,
        f"{prefix}threshold@fnr0.2": threshold,
    }


def plot_roc(fpr: torch.Tensor, tpr: torch.Tensor, auroc: float, tnr: float, path: str | Path, title: str) -> Path:
    """Write a ROC curve PNG (atomically) with the FNR-0.2 operating line marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot(fpr.cpu().numpy(), tpr.cpu().numpy(), label=f"AUROC {auroc:.3f}")
    ax.plot([0, 1], [0, 1], "--", color="grey", linewidth=0.8)
    ax.axhline(1 - TARGET_FNR, color="tab:red", linewidth=0.8, linestyle=":", label=f"FNR {TARGET_FNR} (TNR {tnr:.2f})")
    ax.set(xlabel="false positive rate (different answers judged same)", ylabel="true positive rate", title=title)
    ax.legend(loc="lower right")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_roc_from_scores(scores: np.ndarray, labels: np.ndarray, path: str | Path, title: str) -> Path:
    scores_t = torch.as_tensor(np.asarray(scores), dtype=torch.float32)
    labels_t = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    fpr, tpr, thresholds = binary_roc(scores_t, labels_t)
    return plot_roc(fpr, tpr, float(binary_auroc(scores_t, labels_t)), tnr_at_fnr(fpr, tpr, thresholds)[0], path, title)


def save_figure(fig, path: str | Path) -> Path:  # noqa: ANN001 - matplotlib Figure
    """Render a figure to PNG and write it atomically."""
    import matplotlib.pyplot as plt

    from deepprune.data.io import atomic_write_bytes

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)
