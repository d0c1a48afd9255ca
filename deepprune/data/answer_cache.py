"""On-disk memo of slow answer comparisons (math-verify), shared by every run on a machine.

Labelling the MATH dev file compares 73k answer pairs; the symbolic ones cost 10-300 ms each (minutes per
file), and every train.py / prune.py / eval run over the same file would pay that again. Results are keyed
by the two answer strings (ordered: the comparison is symmetric) and a namespace that names everything else
that decides them: the checker's own rules version and the versions of math-verify, latex2sympy2_extended
and sympy (``answers._memo_namespace``). A comparison that ran out of time has no result and is never stored
(the checker raises instead of returning one), so a stored row is what any run computes, with a time limit
(main thread) or without one (other threads), and the first writer's row equals any later writer's.

SQLite in WAL mode, one short transaction per write: concurrent runs and DDP ranks never hold the lock while
comparing; a write that still finds the database busy is skipped (and counted), as the memo only saves time.
Each process opens its own connection (a connection must not cross a fork).

``DEEPPRUNE_ANSWER_CACHE``: the database file (default ``~/.cache/deepprune/answers.sqlite``); ``off``
disables the memo.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger(__name__)


class AnswerCache:
    """``get(a, b)`` -> bool | None and ``put(a, b, same)`` for one comparison method (``namespace``)."""

    def __init__(self, path: str | Path, namespace: str) -> None:
        self.path, self.namespace = Path(path), namespace
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._skipped_writes = 0
        # Autocommit: each INSERT is its own transaction, so the write lock is held for microseconds.
        self._db = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS equal (ns TEXT, a TEXT, b TEXT, same INTEGER, PRIMARY KEY (ns, a, b))"
            )

    def get(self, a: str, b: str) -> bool | None:
        a, b = sorted((a, b))
        with self._lock:
            row = self._db.execute(
                "SELECT same FROM equal WHERE ns = ? AND a = ? AND b = ?", (self.namespace, a, b)
            ).fetchone()
        return None if row is None else bool(row[0])

    def put(self, a: str, b: str, same: bool) -> None:
        """Store a finished comparison (never one cut short by a time limit: see the module docstring)."""
        a, b = sorted((a, b))
        with self._lock:
            try:
                # A row already there came from another run with the same namespace: the same result.
                self._db.execute("INSERT OR IGNORE INTO equal VALUES (?, ?, ?, ?)", (self.namespace, a, b, int(same)))
            except sqlite3.OperationalError as err:  # busy past the timeout: the result is still returned
                self._skipped_writes += 1
                if self._skipped_writes == 1:
                    log.warning("answer cache %s: write skipped (%s); comparisons go on without it", self.path, err)


_CACHES: dict[tuple[int, str, str], AnswerCache | None] = {}


def answer_cache(namespace: str) -> AnswerCache | None:
    """The process's cache for ``namespace`` (None when ``DEEPPRUNE_ANSWER_CACHE=off`` or it cannot be opened)."""
    location = os.environ.get("DEEPPRUNE_ANSWER_CACHE", str(Path.home() / ".cache" / "deepprune" / "answers.sqlite"))
    # Keyed by process too: a child forked after the parent opened the memo must open its own connection.
    key = (os.getpid(), location, namespace)
    if key not in _CACHES:
        cache = None
        if location.lower() != "off":
            try:
                cache = AnswerCache(location, namespace)
            except (OSError, sqlite3.Error) as err:  # a read-only home: compare without the memo, say so once
                log.warning("answer cache %s unusable (%s): not memoising", location, err)
        _CACHES[key] = cache
    return _CACHES[key]
