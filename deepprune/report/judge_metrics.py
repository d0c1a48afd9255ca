"""Judge quality metrics (torchmetrics): AUROC, average precision, TNR at a fixed FNR, ROC plot.

Label 1 = same final answer (the positive class). The paper reports TNR at FNR 0.2: the share of
different-answer pairs caught while wrongly splitting at most 20% of same-answer pairs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torchmetrics.functional.classification import binary_auroc, binary_average_precision, binary_roc


def tnr_at_fnr(scores: np.ndarray, labels: np.ndarray, fnr: float = 0.2) -> tuple[float, float]:
    """Best TNR among thresholds whose FNR <= ``fnr``, and that threshold."""
    fpr, tpr, thresholds = binary_roc(torch.as_tensor(scores, dtype=torch.float32), torch.as_tensor(labels))
    ok = (1.0 - tpr) <= fnr + 1e-9
    tnr = 1.0 - fpr
    best = int(torch.argmax(torch.where(ok, tnr, torch.full_like(tnr, -1.0))))
    return float(tnr[best]), float(thresholds[best].clamp(max=1.0))


def judge_metrics(scores: np.ndarray, labels: np.ndarray, prefix: str = "test/") -> dict[str, float]:
    """AUROC, AP and TNR@FNR0.2 of ``scores`` (P(same answer)) against binary ``labels``."""
    scores_t = torch.as_tensor(np.asarray(scores), dtype=torch.float32)
    labels_t = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    if labels_t.unique().numel() < 2:
        raise ValueError("judge metrics need both same-answer and different-answer pairs")
    tnr, threshold = tnr_at_fnr(scores_t.numpy(), labels_t.numpy())
    return {
        f"{prefix}auroc": float(binary_auroc(scores_t, labels_t)),
        f"{prefix}ap": float(binary_average_precision(scores_t, labels_t)),
        f"{prefix}tnr@fnr0.2": tnr,
        f"{prefix}threshold@fnr0.2": threshold,
    }


def plot_roc(scores: np.ndarray, labels: np.ndarray, path: str | Path, title: str) -> Path:
    """Write the ROC curve as a PNG (atomic: rendered to a temp name, then renamed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fpr, tpr, _ = binary_roc(torch.as_tensor(scores, dtype=torch.float32), torch.as_tensor(labels))
    auroc = float(binary_auroc(torch.as_tensor(scores, dtype=torch.float32), torch.as_tensor(labels)))
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot(fpr.numpy(), tpr.numpy(), label=f"AUROC {auroc:.3f}")
    ax.plot([0, 1], [0, 1], "--", color="grey", linewidth=0.8)
    ax.axhline(0.8, color="tab:red", linewidth=0.6, linestyle=":", label="FNR 0.2")
    ax.set(xlabel="false positive rate (different answers judged same)", ylabel="true positive rate", title=title)
    ax.legend(loc="lower right")
    fig.tight_layout()
    return save_figure(fig, path)


def save_figure(fig, path: str | Path) -> Path:  # noqa: ANN001 - matplotlib Figure
    import io

    import matplotlib.pyplot as plt

    from deepprune.data.io import atomic_write_bytes

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)
