"""Trace-prefix pairs labelled by answer equivalence (judge training and evaluation).

Pairs are drawn within a problem, only among traces with an answer; label 1 = same final answer.
Splits are always by problem, never by pair, so no problem leaks across train/test.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import re
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from deepprune.config_checks import check_int
from deepprune.data.answers import AnswerChecker
from deepprune.data.schema import Problem, Trace
from deepprune.data.truncation import Truncator

log = logging.getLogger(__name__)
T = TypeVar("T")


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


def labelling_progress(items: Iterable[T], total: int, desc: str) -> Iterator[T]:
    """Yield ``items`` (``total`` problems) while showing progress: a tqdm bar on a terminal, else a log line
    per ~10%.

    Labelling a MATH file takes minutes; redirected to a file, a bar would be one endless line of carriage
    returns, so there the progress is logged instead.
    """
    if sys.stderr.isatty():
        from tqdm.auto import tqdm

        yield from tqdm(items, total=total, desc=desc, unit="problem", dynamic_ncols=True)
        return
    start, step = time.monotonic(), max(1, math.ceil(total / 10))
    for done, item in enumerate(items, 1):
        yield item
        if done % step == 0 or done == total:
            log.info(
                "%s: %d/%d problems (%.0f%%), %.0f s", desc, done, total, 100 * done / total, time.monotonic() - start
            )


def answered_traces(problem: Problem) -> list[Trace]:
    """The traces that state an answer: pairs are drawn among these only."""
    # An empty answer ("") states nothing, like a missing one: group() gives both None, which must not make two
    # answerless traces a "same answer" pair.
    return [t for t in problem.traces if t.answer is not None and t.answer.strip()]


_WORKER_CHECKER: AnswerChecker | None = None


def _start_worker(checker: AnswerChecker) -> None:
    global _WORKER_CHECKER
    _WORKER_CHECKER = checker


def _group_in_worker(answers: list[str | None]) -> tuple[list[int | None], int, int]:
    checker = _WORKER_CHECKER
    assert checker is not None, "_start_worker runs first in every worker"
    comparisons, timeouts = checker.stats.comparisons, checker.stats.timeouts
    labels = checker.group(answers)
    return labels, checker.stats.comparisons - comparisons, checker.stats.timeouts - timeouts


def label_problems(
    problems: Sequence[Problem], checker: AnswerChecker, workers: int = 1, progress: str | None = None
) -> list[list[int | None]]:
    """Answer classes of each problem's answered traces (:func:`answered_traces`), one ``checker.group`` per
    problem: its distinct answers compared once per class, never pair by pair.

    ``workers`` > 1 labels the problems in that many processes (math-verify is CPU-bound Python: threads would
    not run in parallel, and only a main thread can bound its time); their comparisons and time-outs are added
    to ``checker.stats``. ``progress``: a description to show progress under (:func:`labelling_progress`), or
    None for none.
    """
    return [labels for _, labels in _labelled(problems, checker, workers, progress)]


def _labelled(
    problems: Iterable[Problem], checker: AnswerChecker, workers: int, progress: str | None
) -> Iterator[tuple[Problem, list[int | None]]]:
    workers = check_int("workers", workers, minimum=1)
    if workers == 1 and progress is None:
        # Lazily, problem by problem: a caller iterating a progress bar of its own over ``problems`` sees it move.
        for problem in problems:
            yield problem, checker.group(_answers(problem))
        return
    listed = list(problems)
    results: Iterable[tuple[Problem, list[int | None], int, int]]
    with ExitStack() as stack:
        if workers == 1:
            # Counted in checker.stats as they are made: nothing to add.
            results = ((p, checker.group(_answers(p)), 0, 0) for p in listed)
        else:
            # Spawned, not forked: the caller may hold threads (tokenizers, torch) and an open memo connection.
            pool = stack.enter_context(
                ProcessPoolExecutor(
                    workers,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_start_worker,
                    initargs=(checker,),
                )
            )
            # Small chunks: the slow (symbolic) problems cluster by subject, and one worker must not get them all.
            grouped = pool.map(_group_in_worker, [_answers(p) for p in listed], chunksize=8)
            results = ((p, *result) for p, result in zip(listed, grouped, strict=True))
        if progress is not None:
            results = labelling_progress(results, len(listed), progress)
        for problem, labels, comparisons, timeouts in results:
            checker.stats.comparisons += comparisons
            checker.stats.timeouts += timeouts
            yield problem, labels


def _answers(problem: Problem) -> list[str | None]:
    return [t.answer for t in answered_traces(problem)]


def build_pairs(
    problems: Iterable[Problem],
    truncator: Truncator,
    checker: AnswerChecker,
    pairs_per_problem: int,
    seed: int = 0,
    progress: str | None = None,
    workers: int = 1,
) -> list[PrefixPairExample]:
    """Seeded pairs of truncated traces for every problem (each prefix truncated once), labelled as by
    :func:`label_problems` (``progress`` and ``workers`` are its arguments)."""
    pairs_per_problem = check_int("data.pairs_per_problem", pairs_per_problem)
    examples: list[PrefixPairExample] = []
    for problem, labels in _labelled(problems, checker, workers, progress):
        answered = answered_traces(problem)
        if len(answered) < 2:
            continue
        # Per-problem generator: the pairs of a problem do not depend on which other problems are read.
        rng = np.random.default_rng([seed, _stable_hash(problem.id)])
        index_pairs = sample_index_pairs(len(answered), pairs_per_problem, rng)
        needed = sorted({i for pair in index_pairs for i in pair})
        prefixes = {i: truncator.apply(answered[i].text) for i in needed}
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
