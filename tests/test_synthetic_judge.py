"""judge=synthetic: a judge of chosen AUROC over the stored answers (binormal noise, one draw per pair)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchmetrics.functional.classification import binary_auroc

from deepprune.build import build_checker, build_judge
from deepprune.data.answers import AnswerChecker
from deepprune.judges.base import Prefix, PrefixPair
from deepprune.judges.synthetic import SyntheticJudge
from tests.helpers.configs import compose_entry

CHECKER = AnswerChecker("answer_is", "string")
NUM_PAIRS = 20_000


def trace(problem: int, position: int, answer: str | None) -> Prefix:
    return Prefix(f"prefix {position}", 2, final_answer=answer, final_known=True, trace_id=f"p{problem}/{position}")


@pytest.fixture(scope="module")
def labelled_pairs() -> tuple[list[PrefixPair], np.ndarray]:
    """20k pairs of two traces of distinct problems, 30% with the same answer (as on MATH traces)."""
    same = np.random.default_rng(7).random(NUM_PAIRS) < 0.3
    pairs = [(trace(i, 0, "x"), trace(i, 1, "x" if s else "y")) for i, s in enumerate(same)]
    return pairs, same.astype(int)


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    return float(binary_auroc(torch.tensor(scores), torch.tensor(labels)))


@pytest.mark.parametrize("target", [0.6, 0.75, 0.87, 0.95, 0.99])
def test_auroc_over_same_and_different_pairs_is_the_target(labelled_pairs, target):
    pairs, labels = labelled_pairs
    scores = SyntheticJudge(CHECKER, auroc=target, prior=0.3).score(pairs)
    assert auroc(scores, labels) == pytest.approx(target, abs=0.01)
    assert np.all((scores > 0) & (scores < 1))


def test_auroc_one_is_the_oracle_and_unanswered_pairs_are_different():
    pairs = [(trace(0, 0, "x"), trace(0, 1, "x")), (trace(0, 0, "x"), trace(0, 2, "y"))]
    pairs += [(trace(0, 3, None), trace(0, 4, None))]
    assert SyntheticJudge(CHECKER, auroc=1.0).score(pairs).tolist() == [1.0, 0.0, 0.0]


def test_the_recorded_threshold_splits_a_fifth_of_same_answer_pairs(labelled_pairs):
    """threshold=auto reads val/threshold@fnr0.2: the probability below which 20% of same-answer pairs score."""
    pairs, labels = labelled_pairs
    judge = SyntheticJudge(CHECKER, auroc=0.8, prior=0.3)
    tau = judge.recorded_metrics()["val/threshold@fnr0.2"]
    assert np.mean(judge.score(pairs)[labels == 1] < tau) == pytest.approx(0.2, abs=0.01)


def test_probabilities_are_calibrated_for_the_prior(labelled_pairs):
    """Among pairs scored near p, a share p has the same answer (the prior is the pairs' base rate, 0.3)."""
    pairs, labels = labelled_pairs
    scores = SyntheticJudge(CHECKER, auroc=0.85, prior=0.3).score(pairs)
    for low, high in ((0.1, 0.2), (0.4, 0.6), (0.8, 0.9)):
        band = (scores >= low) & (scores < high)
        assert labels[band].mean() == pytest.approx(scores[band].mean(), abs=0.04)


def test_symmetric_in_the_pair_and_deterministic_per_pair(labelled_pairs):
    pairs = labelled_pairs[0][:500]
    judge = SyntheticJudge(CHECKER, auroc=0.8, seed=3)
    forward = judge.score(pairs)
    assert judge.score([(b, a) for a, b in pairs]).tolist() == forward.tolist()
    # A pair's score depends on the pair alone: not on the batch, its order or another judge object.
    again = SyntheticJudge(CHECKER, auroc=0.8, seed=3)
    assert again.score(pairs[::-1]).tolist() == forward[::-1].tolist()
    assert [float(again.score([pair])[0]) for pair in pairs[:20]] == forward[:20].tolist()


def test_the_seed_changes_the_draws_not_the_quality(labelled_pairs):
    pairs, labels = labelled_pairs
    first = SyntheticJudge(CHECKER, auroc=0.8, seed=0).score(pairs)
    second = SyntheticJudge(CHECKER, auroc=0.8, seed=1).score(pairs)
    assert np.mean(first == second) < 0.01
    assert auroc(second, labels) == pytest.approx(0.8, abs=0.01)


def test_the_same_pair_keeps_its_draw_across_aurocs():
    """Common random numbers: a higher AUROC only moves the two classes apart, so scores rank alike within a class."""
    pairs = [(trace(i, 0, "x"), trace(i, 1, "y")) for i in range(200)]
    low, high = (SyntheticJudge(CHECKER, auroc=a).score(pairs) for a in (0.7, 0.9))
    assert np.array_equal(np.argsort(low), np.argsort(high))


def test_replay_only_it_needs_stored_answers_and_trace_ids():
    judge = SyntheticJudge(CHECKER, auroc=0.8)
    live = (Prefix("a b", 2), Prefix("a c", 2))
    no_ids = (Prefix("a", 1, "x", True), Prefix("b", 1, "x", True))
    for pair in (live, no_ids):
        with pytest.raises(RuntimeError, match=r"judge=synthetic needs .* \(engine=replay\)"):
            judge.score([pair])


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("auroc", 0.5, r"judge\.auroc must be in \(0\.5, 1\], got 0\.5"),
        ("auroc", 1.2, r"judge\.auroc must be in \(0\.5, 1\]"),
        ("prior", 1.0, r"judge\.prior must be in \(0, 1\)"),
        ("seed", -1, r"judge\.seed must be >= 0"),
    ],
)
def test_bad_settings_name_their_key(key, value, message):
    cfg = compose_entry("prune", "judge=synthetic", f"judge.{key}={value}")
    with pytest.raises(ValueError, match=message):
        build_judge(cfg, build_checker(cfg))
