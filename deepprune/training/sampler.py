"""Oversampling of the minority class (different-answer pairs), correct under DDP.

Each epoch, every rank draws the same number of indices, only from its own disjoint shard of each
class, so the ranks together see each example at most as often as the class mix requires and each
rank's epoch has the configured class mix (not just in expectation). The sampler subclasses
:class:`DistributedSampler`, which tells Lightning not to wrap it in another distributed sampler.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
from torch.utils.data import DistributedSampler


class OversamplingSampler(DistributedSampler):
    """Draw minority examples ``ratio`` times as often as under uniform sampling.

    With ``m`` minority and ``M`` majority examples the epoch's minority fraction is
    ``ratio*m / (ratio*m + M)`` (exactly, up to rounding), and each rank draws ``ceil(N / world)`` indices.

    Args:
        labels: 0/1 label of every dataset index.
        ratio: oversampling factor of the minority class (1 = natural mix).
        num_replicas, rank: DDP world size and this process's rank.
        seed: base seed; call :meth:`set_epoch` each epoch (Lightning does) to reshuffle.
        minority: the minority label; None = the rarer one.
    """

    def __init__(
        self,
        labels: Sequence[int],
        ratio: float = 2.0,
        num_replicas: int = 1,
        rank: int = 0,
        seed: int = 0,
        minority: int | None = None,
    ) -> None:
        if ratio <= 0:
            raise ValueError(f"sampler.ratio must be > 0, got {ratio}")
        labels_array = np.asarray(labels, dtype=np.int64)
        if labels_array.size == 0:
            raise ValueError("OversamplingSampler needs at least one example")
        super().__init__(labels_array, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed)
        positives = int(labels_array.sum())
        if minority is None:
            minority = 1 if positives < labels_array.size - positives else 0
        self.minority, self.ratio = minority, float(ratio)
        self.class_indices = {label: np.flatnonzero(labels_array == label) for label in (minority, 1 - minority)}
        m, big_m = self.class_indices[minority].size, self.class_indices[1 - minority].size
        self.minority_fraction = ratio * m / (ratio * m + big_m)
        self.num_samples = math.ceil(labels_array.size / num_replicas)
        self.total_size = self.num_samples * num_replicas

    def _shard(self, indices: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        shuffled = rng.permutation(indices)
        shard = shuffled[self.rank :: self.num_replicas]
        # Fewer examples of a class than ranks: this rank must still reach its class mix, so it
        # draws from the whole class (overlap across ranks is unavoidable then).
        return shard if shard.size else shuffled

    def _draw(self, pool: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
        # Whole passes over the pool before any repeat: oversampling repeats every example evenly.
        if count == 0 or pool.size == 0:
            return pool[:0]
        passes = [rng.permutation(pool) for _ in range(math.ceil(count / pool.size))]
        return np.concatenate(passes)[:count]

    def __iter__(self) -> Iterator[int]:
        # Same generator on every rank (seed + epoch), so the shards are a consistent partition.
        rng = np.random.default_rng([self.seed, self.epoch])
        minority_pool = self._shard(self.class_indices[self.minority], rng)
        majority_pool = self._shard(self.class_indices[1 - self.minority], rng)
        n_minority = round(self.num_samples * self.minority_fraction) if minority_pool.size else 0
        if not majority_pool.size:
            n_minority = self.num_samples
        local = np.random.default_rng([self.seed, self.epoch, self.rank])
        drawn = np.concatenate(
            [
                self._draw(minority_pool, n_minority, local),
                self._draw(majority_pool, self.num_samples - n_minority, local),
            ]
        )
        return iter(local.permutation(drawn).tolist())

    def __len__(self) -> int:
        return self.num_samples
