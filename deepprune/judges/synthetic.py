"""A judge of chosen quality for what-if runs: the stored final answers, blurred to a target AUROC (replay only).

Noise model (binormal, equal variances): a pair of traces has label y = 1 when their stored final answers are
equivalent (a pair with an unanswered trace is 0, as for the oracle). The judge's latent score is

    s = y * d + e,   e ~ N(0, 1),   d = sqrt(2) * Phi^-1(auroc),

so a same-answer pair outscores a different-answer pair with probability Phi(d / sqrt(2)) = ``auroc``: the
AUROC over same/different pairs is ``auroc`` in expectation. ``e`` is drawn once per pair from a hash of ``seed``
and the two stored traces' ids (problem id and position), sorted: the judge is symmetric in the pair and gives a
pair the same score in every run, subsample, prefix length and AUROC (the map's points then differ by judge
quality, not by fresh noise), while different pairs get independent draws. The judge returns the posterior

    P(same | s) = sigmoid(logit(prior) + d * s - d^2 / 2),

calibrated for a pair base rate ``prior`` (the share of same-answer pairs before the judge reads a pair; a fixed
number, never the problem's own share, which would tell the judge about the problem's answers). The pay-off map
sets it to the file's same-answer share of all trace pairs. At ``auroc = 1`` the judge is the oracle (0 or 1).
It reads no text, so it counts no judge tokens.

What it is not: a real judge's errors are correlated, not independent per pair. A misleading prefix fools it on
every pair the trace is in, hard problems are hard for every pair, and similar-looking prefixes are judged alike.
Clustering reacts to that pattern, not to the AUROC alone, so a real judge of the same AUROC lands off this judge's
line, either way: wrong traces merged together hurt more than scattered errors, while errors that are consistent
across a cluster keep it coherent. The trained judges measured so far land on or above the line (docs/payoff.md):
place a judge's own point beside the map (``deepprune payoff --judge-run``) rather than take a break-even AUROC as
a bound.

``recorded_metrics`` returns what a validation set would record for this judge, exactly: its AUROC and
``val/threshold@fnr0.2`` (the probability below which 20% of same-answer pairs fall), so ``method.threshold=auto``
puts tau where the recipe puts a trained judge's.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from statistics import NormalDist
from typing import Any

import numpy as np

from deepprune.config_checks import check_int, check_range
from deepprune.data.answers import AnswerChecker
from deepprune.judges.base import Judge, PrefixPair

_NORMAL = NormalDist()
# The operating point ``method.threshold=auto`` reads by default (DeepPruneMethod.threshold_key).
_RECORDED_FNR = 0.2


class SyntheticJudge(Judge):
    name = "synthetic"
    needs_final_answers = True

    def __init__(self, checker: AnswerChecker, auroc: float = 0.8, seed: int = 0, prior: float = 0.5) -> None:
        super().__init__()
        self.checker = checker
        # (0.5, 1]: at exactly 0.5 every pair would score the prior, a tie no threshold can split.
        self.auroc = check_range("judge.auroc", auroc, 0.5, 1.0, low_open=True)
        self.seed = check_int("judge.seed", seed, minimum=0)
        self.prior = check_range("judge.prior", prior, 0.0, 1.0, low_open=True, high_open=True)
        # How far apart the two classes' scores sit, in noise standard deviations (infinite: the oracle).
        self.separation = math.sqrt(2.0) * _NORMAL.inv_cdf(self.auroc) if self.auroc < 1.0 else math.inf

    def recorded_metrics(self) -> dict[str, Any]:
        if math.isinf(self.separation):
            threshold = 0.5  # scores are exactly 0 or 1: any tau in (0, 1) splits them alike
        else:
            threshold = self.probability(self.separation + _NORMAL.inv_cdf(_RECORDED_FNR))
        return {"val/auroc": self.auroc, f"val/threshold@fnr{_RECORDED_FNR:g}": threshold}

    def probability(self, score: float) -> float:
        """P(same answer | latent ``score``) for the pair base rate ``prior``."""
        d = self.separation
        logit = math.log(self.prior / (1.0 - self.prior)) + d * score - d * d / 2.0
        # Written for either sign so that exp never overflows.
        return 1.0 / (1.0 + math.exp(-logit)) if logit >= 0 else math.exp(logit) / (1.0 + math.exp(logit))

    def noise(self, first: str, second: str) -> float:
        """The pair's standard normal draw: a hash of the seed and the two trace ids in sorted order."""
        message = json.dumps([self.seed, *sorted((first, second))]).encode()
        draw = int.from_bytes(hashlib.blake2b(message, digest_size=8).digest(), "little")
        return _NORMAL.inv_cdf((draw + 0.5) / 2.0**64)

    def _score(self, pairs: Sequence[PrefixPair]) -> np.ndarray:
        scores = []
        for a, b in pairs:
            if not (a.final_known and b.final_known and a.trace_id is not None and b.trace_id is not None):
                raise RuntimeError(
                    "judge=synthetic needs the stored traces' final answers and ids, which only replay of a trace "
                    "file has (engine=replay); use a learned judge with engine=vllm"
                )
            # The same order for either order of the pair: an answer checker need not be symmetric.
            first, second = sorted((a, b), key=lambda p: p.trace_id)
            same = self.checker.equivalent(first.final_answer, second.final_answer)
            if math.isinf(self.separation):
                scores.append(float(same))
            else:
                scores.append(self.probability(same * self.separation + self.noise(a.trace_id, b.trace_id)))
        return np.asarray(scores)
