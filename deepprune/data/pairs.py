"""Trace-prefix pairs labelled by answer equivalence (judge training and evaluation).

Pairs are drawn within a problem, only among traces with an answer; label 1 = same final answer.
Splits are always by problem, never by pair, so no problem leaks across train/test.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from deepprune.config_checks import check_int
from deepprune.data.answers import AnswerChecker
from deepprune.data.schema import Problem
from deepprune.data.truncation import Truncator


@dataclass(frozen=True)
class PrefixPairExample:
    problem_id: str
    text_a: str
    text_b: str
    tokens_a: int
    tokens_b: int
    label: int  # 1 = the two traces reach equivalent answers


def sample_index_pairs(num_traces: int, pairs_per_problem: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """Distinct unordered pairs (i < j), all of them when there are fewer than requested."""
    rows, cols = np.triu_indices(num_traces, k=1)
    if pairs_per_problem < rows.size:
        chosen = np.sort(rng.choice(rows.size, size=pairs_per_problem, replace=False))
        rows, cols = rows[chosen], cols[chosen]
    return list(zip(rows.tolist(), cols.tolist(), strict=True))


def build_pairs(
    problems: Iterable[Problem],
    truncator: Truncator,
    checker: AnswerChecker,
    pairs_per_problem: int,
    seed: int = 0,
) -> list[PrefixPairExample]:
    """Seeded pairs of truncated traces for every problem (each prefix truncated once)."""
    pairs_per_problem = check_int("data.pairs_per_problem", pairs_per_problem)
    examples: list[PrefixPairExample] = []
    for problem in problems:
        answered = [t for t in problem.traces if t.answer is not None]
        if len(answered) < 2:
            continue
        # Per-problem generator: the pairs of a problem do not depend on which other problems are read.
        rng = np.random.default_rng([seed, _stable_hash(problem.id)])
        index_pairs = sample_index_pairs(len(answered), pairs_per_problem, rng)
        needed = sorted({i for pair in index_pairs for i in pair})
        prefixes = {i: truncator.apply(answered[i].text) for i in needed}
        labels = checker.group([t.answer for t in answered])
        for i, j in index_pairs:
            (text_a, tokens_a), (text_b, tokens_b) = prefixes[i], prefixes[j]
            examples.append(
                PrefixPairExample(problem.id, text_a, text_b, tokens_a, tokens_b, int(labels[i] == labels[j]))
            )
    return examples


def _stable_hash(text: str) -> int:
    # Python's hash() is salted per process; pair sampling must be reproducible across runs and ranks.
    import zlib

    return zlib.crc32(text.encode("utf-8"))


def split_by_problem(problem_ids: list[str], fraction: float, seed: int = 0) -> tuple[set[str], set[str]]:
    """Split problem ids into (rest, held_out) with ``fraction`` held out (seeded)."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"split fraction must be in (0, 1), got {fraction}")
    order = np.random.default_rng(seed).permutation(len(problem_ids))
    held = max(1, int(round(fraction * len(problem_ids))))
    held_out = {problem_ids[i] for i in order[:held]}
    return set(problem_ids) - held_out, held_out


def split_by_group(problem_ids: list[str], fraction: float, pattern: str, seed: int = 0) -> tuple[set[str], set[str]]:
    """Split problem ids into (rest, held_out) by whole groups: ``fraction`` of the groups is held out (seeded).

    A problem's group is what ``pattern`` (a regex searched in its id) matches: its first capture group if it
    has one, else the whole match (``^[^/]+`` on MATH ids ``algebra/0/0`` = the subject). Used to measure
    transfer to unseen kinds of problems (no group is on both sides).
    """
    regex = re.compile(pattern)
    groups: dict[str, str] = {}
    for problem_id in problem_ids:
        match = regex.search(problem_id)
        if match is None:
            raise ValueError(f"data.test_group={pattern!r} does not match problem id {problem_id!r}")
        groups[problem_id] = match.group(1) if regex.groups else match.group(0)
    names = sorted(set(groups.values()))
    if len(names) < 2:
        raise ValueError(f"data.test_group={pattern!r} finds {len(names)} group(s) ({names}); a split needs >= 2")
    _, held_names = split_by_problem(names, fraction, seed)
    if len(held_names) == len(names):
        held_names.discard(sorted(held_names)[0])
    held_out = {p for p, group in groups.items() if group in held_names}
    return set(problem_ids) - held_out, held_out
