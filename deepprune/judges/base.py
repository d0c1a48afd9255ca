"""The judge interface shared by every method, engine and the evaluation/training entry points."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from deepprune.data.pairs import PrefixPairExample
from deepprune.data.truncation import TruncationRule


@dataclass(frozen=True)
class Prefix:
    """What a judge reads of one trace.

    ``final_answer`` is the trace's eventual answer when it is already known (``final_known``: replay
    of stored traces); only the judges that read stored answers (oracle, synthetic) may look at it. ``key`` identifies
    the trace within a problem so judges can cache per-prefix work (e.g. SBERT embeds each prefix once).
    ``trace_id`` names the stored trace across runs (replay: problem id and stored position), so a judge can tie
    a per-pair draw to the pair whatever the order, subsample or prefix length (judge=synthetic).
    """

    text: str
    num_tokens: int
    final_answer: str | None = None
    final_known: bool = False
    key: int | None = None
    trace_id: str | None = None


PrefixPair = tuple[Prefix, Prefix]


class Judge(ABC):
    """Scores prefix pairs: ``score(pairs) -> P(same final answer)`` in [0, 1], batched.

    Implementations count what they read in ``pairs_scored`` / ``tokens_read`` so methods can report
    judge cost separately from generation tokens.
    """

    name: str = "judge"
    # The truncation rule the judge was trained on, compared with a run's by ``==`` (None: reads any prefix).
    truncation: TruncationRule | None = None
    # judge.json of a judge exported by train.py (judges loaded from an export set it; None for the others).
    meta: dict[str, Any] | None = None
    # Reads the traces' final answers (the oracle): only engines that store whole traces can serve it.
    needs_final_answers: bool = False

    def __init__(self) -> None:
        self.pairs_scored = 0
        self.tokens_read = 0

    def score(self, pairs: Sequence[PrefixPair]) -> np.ndarray:
        if not pairs:
            return np.zeros(0, dtype=np.float64)
        probabilities = np.asarray(self._score(pairs), dtype=np.float64)
        if probabilities.shape != (len(pairs),):
            raise RuntimeError(f"{type(self).__name__} returned shape {probabilities.shape} for {len(pairs)} pairs")
        self.pairs_scored += len(pairs)
        return probabilities

    @abstractmethod
    def _score(self, pairs: Sequence[PrefixPair]) -> np.ndarray:
        """Return one probability per pair; add the tokens read to ``self.tokens_read``."""

    def recorded_metrics(self) -> dict[str, Any]:
        """What training recorded about this judge (judge.json's ``metrics``, e.g. ``val/threshold@fnr0.2``)."""
        metrics = (self.meta or {}).get("metrics")
        return metrics if isinstance(metrics, dict) else {}

    def reset(self) -> None:
        """Forget per-problem caches (called before each problem)."""

    def prepare(self, prefixes: Sequence[Prefix]) -> None:
        """Precompute per-prefix work for a problem in one batch (e.g. SBERT embeddings).

        Clustering scores pairs trace by trace, in arrival order; judges whose cost is per prefix rather
        than per pair override this so that work is batched instead of paid one prefix at a time.
        """


def score_examples(judge: Judge, examples: Sequence[PrefixPairExample], desc: str | None = None) -> np.ndarray:
    """``judge``'s P(same answer) for labelled prefix pairs (``data.pairs.build_pairs``), problem by problem.

    The judge is reset before each problem, as in online pruning (per-problem caches such as SBERT's embeddings).
    ``desc``: show a progress bar over problems with this label.
    """
    from tqdm.auto import tqdm

    by_problem: dict[str, list[int]] = {}
    for i, example in enumerate(examples):
        by_problem.setdefault(example.problem_id, []).append(i)
    scores = np.empty(len(examples))
    for indices in tqdm(by_problem.values(), desc=desc, unit="problem", disable=desc is None):
        judge.reset()
        pairs = [
            (Prefix(examples[i].text_a, examples[i].tokens_a), Prefix(examples[i].text_b, examples[i].tokens_b))
            for i in indices
        ]
        scores[indices] = judge.score(pairs)
    return scores
