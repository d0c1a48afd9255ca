"""95% intervals over problems: a difference is a result only if it is larger than its noise.

One problem in 50 is 2 points of accuracy. The intervals here resample *problems* with replacement (a paired
bootstrap: a run and the cons@n curve it is compared with are resampled on the same problems, so what they share
cancels) and report the 2.5th and 97.5th percentiles of ``resamples`` seeded resamples.

* :func:`accuracy_interval` -- a run's accuracy;
* :func:`delta_interval` -- Δacc@budget: on each resample the run's accuracy and tokens *and the cons@n curve*
  (each point's mean accuracy and summed tokens over the resampled problems) are recomputed, then compared as in
  :func:`deepprune.report.budget.delta_acc_at_budget`.

A cons run with ``method.curve=true`` stores what the resampling needs per problem: ``curve_accuracy`` (the exact
accuracy at each n) and ``pool_tokens`` (the tokens of its whole pool; cons@n is charged n/N of them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from deepprune.report.budget import delta_acc_at_budget

RESAMPLES = 2000
LEVEL = 0.95


def _percentiles(values: np.ndarray) -> tuple[float, float]:
    tail = 100 * (1 - LEVEL) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def resample_indices(num_problems: int, resamples: int = RESAMPLES, seed: int = 0) -> np.ndarray:
    """``resamples`` x ``num_problems`` problem indices drawn with replacement (seeded)."""
    if num_problems < 1:
        raise ValueError("an interval over problems needs at least one problem")
    return np.random.default_rng(seed).integers(0, num_problems, size=(resamples, num_problems))


def accuracy_interval(correct: Sequence[float], resamples: int = RESAMPLES, seed: int = 0) -> tuple[float, float]:
    """95% bootstrap interval of the mean of per-problem ``correct`` (0/1, or a share over subsamples)."""
    values = np.asarray(correct, dtype=np.float64)
    return _percentiles(values[resample_indices(len(values), resamples, seed)].mean(axis=1))


def delta_interval(
    run: Sequence[Mapping[str, Any]],
    curve: Sequence[Mapping[str, Any]],
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> tuple[float, float]:
    """95% paired bootstrap interval of Δacc@budget.

    Args:
        run: the run's per-problem records (``id``, ``correct``, ``tokens``).
        curve: the cons run's per-problem records (``id``, ``curve_accuracy`` {n: accuracy}, ``pool_tokens``,
            ``pool_size``), on the same problems (matched by id).
    """
    by_id = {str(record["id"]): record for record in curve}
    missing = [str(r["id"]) for r in run if str(r["id"]) not in by_id]
    if missing or len(by_id) != len(run):
        raise ValueError(f"the run and the cons@n curve cover different problems (e.g. {missing[:3]})")
    paired = [by_id[str(r["id"])] for r in run]
    sizes = sorted(int(n) for n in paired[0]["curve_accuracy"])
    correct = np.array([float(r["correct"]) for r in run])
    tokens = np.array([float(r["tokens"]) for r in run])
    curve_accuracy = np.array([[float(p["curve_accuracy"][str(n)]) for n in sizes] for p in paired])
    pool_tokens = np.array([float(p["pool_tokens"]) for p in paired])
    pool = int(paired[0]["pool_size"])
    deltas = np.empty(resamples)
    for b, sample in enumerate(resample_indices(len(run), resamples, seed)):
        points = [
            {"n": n, "accuracy": curve_accuracy[sample, i].mean(), "total_tokens": pool_tokens[sample].sum() * n / pool}
            for i, n in enumerate(sizes)
        ]
        deltas[b] = delta_acc_at_budget(points, correct[sample].mean(), tokens[sample].sum())
    return _percentiles(deltas)
