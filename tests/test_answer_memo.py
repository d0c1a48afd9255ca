"""The on-disk answer memo stores only finished comparisons, under a key that names everything deciding them.

A comparison cut short by the time limit (main thread) is counted and never stored, so a run without the
limit (another thread) computes and stores the true answer, which later runs then read. Several processes
writing one database lose no rows and store no wrong ones.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from importlib.metadata import version
from pathlib import Path

import pytest

from deepprune.data import answer_cache, answers
from deepprune.data.answer_cache import AnswerCache
from deepprune.data.answers import AnswerChecker, ComparisonTimeout

# Equal, but the expansion takes sympy ~0.1 s to compare (and ~0.4 s to parse).
FACTORED = r"\left(x + y + 1\right)^{6}"
EXPANDED = (
    "x^{6} + 6 x^{5} y + 6 x^{5} + 15 x^{4} y^{2} + 30 x^{4} y + 15 x^{4} + 20 x^{3} y^{3} + 60 x^{3} y^{2} + "
    "60 x^{3} y + 20 x^{3} + 15 x^{2} y^{4} + 60 x^{2} y^{3} + 90 x^{2} y^{2} + 60 x^{2} y + 15 x^{2} + "
    "6 x y^{5} + 30 x y^{4} + 60 x y^{3} + 60 x y^{2} + 30 x y + 6 x + y^{6} + 6 y^{5} + 15 y^{4} + 20 y^{3} + "
    "15 y^{2} + 6 y + 1"
)


@pytest.fixture
def memo(tmp_path, monkeypatch) -> Path:
    """A fresh memo file and empty in-process caches (nothing remembered from other tests)."""
    path = tmp_path / "answers.sqlite"
    monkeypatch.setenv("DEEPPRUNE_ANSWER_CACHE", str(path))
    monkeypatch.setattr(answers, "_PARSE_TIMED_OUT", set())
    monkeypatch.setattr(answers, "_VERIFY_TIMED_OUT", set())
    answers.math_equal.cache_clear()
    answers._math_parse.cache_clear()
    yield path
    answers.math_equal.cache_clear()
    answers._math_parse.cache_clear()


def rows(path: Path) -> list[tuple]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT ns, a, b, same FROM equal ORDER BY a, b").fetchall()


def in_thread(function, *args):
    results: list[object] = []
    thread = threading.Thread(target=lambda: results.append(function(*args)))
    thread.start()
    thread.join(timeout=120)
    return results[0]


def test_namespace_names_the_rules_and_every_deciding_library():
    namespace = answers._memo_namespace()
    assert f"rules={answers.CHECKER_RULES}" in namespace
    for library in ("math-verify", "latex2sympy2_extended", "sympy"):
        assert f"{library}={version(library)}" in namespace


def test_a_time_out_is_counted_never_stored_and_a_run_without_limit_stores_the_truth(memo, monkeypatch):
    monkeypatch.setattr(answers, "_VERIFY_LIMIT_S", 0.005)
    checker = AnswerChecker(equivalence="math")
    assert checker.equivalent(FACTORED, EXPANDED) is False  # ran out of time: counted as different
    assert checker.stats.timeouts == 1 and rows(memo) == []
    # Not retried in this process under the limit (it would cost the limit again), still not stored.
    assert checker.equivalent(EXPANDED, FACTORED) is False
    assert checker.stats.timeouts == 2 and rows(memo) == []
    # Off the main thread there is no time limit: the comparison finishes and its result is stored.
    assert in_thread(checker.equivalent, FACTORED, EXPANDED) is True
    assert checker.stats.timeouts == 2
    assert [(a, b, same) for _, a, b, same in rows(memo)] == [tuple(sorted((FACTORED, EXPANDED))) + (1,)]
    # Another run (fresh in-process caches) in the main thread reads the stored truth, with no time-out.
    answers.math_equal.cache_clear()
    monkeypatch.setattr(answers, "_VERIFY_TIMED_OUT", set())
    fresh = AnswerChecker(equivalence="math")
    assert fresh.equivalent(FACTORED, EXPANDED) is True
    assert fresh.stats.timeouts == 0


def test_a_parse_time_out_is_not_cached_either(memo, monkeypatch):
    monkeypatch.setattr(answers, "_PARSE_LIMIT_S", 0.001)
    # A string no other test parses: math-verify keeps parses of its own, which would return at once.
    answer = EXPANDED.replace("+ 1", "+ 7")
    with pytest.raises(ComparisonTimeout, match="parsing"):
        answers.math_equal(answer, "0")
    assert answers._math_parse.cache_info().currsize == 0 and rows(memo) == []
    assert in_thread(answers.math_equal, answer, "0") is False  # finished: a real answer, stored
    assert [same for *_, same in rows(memo)] == [0]


def test_rows_of_other_rules_or_versions_are_not_read(memo, monkeypatch):
    with sqlite3.connect(memo) as db:
        db.execute("CREATE TABLE equal (ns TEXT, a TEXT, b TEXT, same INTEGER, PRIMARY KEY (ns, a, b))")
        # What an older checker stored (a time-out as "different"), under the math-verify-only key it used.
        for old in (f"math-verify {version('math-verify')}", f"math rules=1 {answers._library_versions()}"):
            db.execute("INSERT INTO equal VALUES (?, '0.5', '1/2', 0)", (old,))
    assert AnswerChecker().equivalent("1/2", "0.5") is True
    assert ("0.5", "1/2", 1) in [(a, b, same) for ns, a, b, same in rows(memo) if ns == answers._memo_namespace()]


def test_a_forked_child_opens_its_own_connection(memo, monkeypatch):
    parent = answer_cache.answer_cache("ns")
    monkeypatch.setattr(answer_cache.os, "getpid", lambda: -1)
    child = answer_cache.answer_cache("ns")
    assert child is not None and child is not parent


def _write(path: str, writer: int, count: int) -> None:
    cache = AnswerCache(path, "ns")
    for i in range(count):
        # Every writer stores the shared rows (the same result for the same pair, as two runs would) and its own.
        cache.put(f"shared {i}", f"other {i}", i % 3 == 0)
        cache.put(f"own {writer} {i}", f"x {i}", i % 2 == 0)
        assert cache.get(f"shared {i}", f"other {i}") is (i % 3 == 0)


def test_concurrent_writers_lose_no_rows_and_store_no_wrong_ones(tmp_path):
    path, writers, count = str(tmp_path / "answers.sqlite"), 4, 300
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_write, args=(path, w, count)) for w in range(writers)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    assert [p.exitcode for p in processes] == [0] * writers
    stored = {(a, b): same for _, a, b, same in rows(Path(path))}
    expected = {tuple(sorted((f"shared {i}", f"other {i}"))): int(i % 3 == 0) for i in range(count)}
    expected |= {
        tuple(sorted((f"own {w} {i}", f"x {i}"))): int(i % 2 == 0) for w in range(writers) for i in range(count)
    }
    assert stored == expected
