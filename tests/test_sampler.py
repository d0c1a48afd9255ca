import numpy as np
import pytest
from torch.utils.data import DistributedSampler

from deepprune.training.sampler import OversamplingSampler


def _labels(num: int = 1000, minority: int = 120) -> list[int]:
    labels = [1] * num
    for i in np.random.default_rng(0).choice(num, size=minority, replace=False):
        labels[i] = 0
    return labels


def _minority_share(labels: list[int], indices: list[int]) -> float:
    return sum(1 - labels[i] for i in indices) / len(indices)


@pytest.mark.parametrize("ratio", [1.0, 2.0, 3.0])
def test_realised_minority_fraction_matches_ratio(ratio):
    labels = _labels()
    sampler = OversamplingSampler(labels, ratio=ratio)
    expected = ratio * 120 / (ratio * 120 + 880)
    indices = list(sampler)
    assert len(indices) == len(sampler) == 1000
    assert _minority_share(labels, indices) == pytest.approx(expected, abs=1.5 / 1000)
    assert sampler.minority == 0


def test_oversampling_repeats_minority_evenly_and_keeps_majority_unique():
    labels = _labels()
    indices = list(OversamplingSampler(labels, ratio=2.0))
    counts = np.bincount(indices, minlength=len(labels))
    minority = np.flatnonzero(np.asarray(labels) == 0)
    # 2x the natural share of a 1000-draw epoch = ~214 draws over 120 examples: each drawn once or twice.
    assert set(counts[minority]) <= {1, 2}
    majority = np.flatnonzero(np.asarray(labels) == 1)
    assert counts[majority].max() == 1


@pytest.mark.parametrize("world", [2, 3])
def test_ddp_ranks_draw_disjoint_shards_with_the_configured_mix(world):
    labels = _labels(1001, 150)
    samplers = [OversamplingSampler(labels, ratio=2.0, num_replicas=world, rank=r, seed=7) for r in range(world)]
    expected = 2 * 150 / (2 * 150 + 851)
    drawn = [list(s) for s in samplers]
    assert len({len(d) for d in drawn}) == 1  # equal lengths, or DDP ranks hang
    assert all(len(d) == len(s) == -(-1001 // world) for d, s in zip(drawn, samplers, strict=True))
    for d in drawn:
        assert _minority_share(labels, d) == pytest.approx(expected, abs=1.0 / len(d))
    for a in range(world):
        for b in range(a + 1, world):
            assert not set(drawn[a]) & set(drawn[b])
    # Together the ranks cover every minority example.
    assert {i for i, y in enumerate(labels) if y == 0} <= set().union(*map(set, drawn))
    # Lightning must not wrap it in another DistributedSampler.
    assert isinstance(samplers[0], DistributedSampler)


def test_set_epoch_reshuffles_and_is_deterministic():
    labels = _labels()
    first, second = OversamplingSampler(labels, seed=3), OversamplingSampler(labels, seed=3)
    assert list(first) == list(second)
    epoch0 = list(first)
    first.set_epoch(1)
    assert list(first) != epoch0


def test_single_class_and_bad_ratio():
    assert sorted(OversamplingSampler([1, 1, 1, 1])) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="sampler.ratio"):
        OversamplingSampler([0, 1], ratio=0.0)
