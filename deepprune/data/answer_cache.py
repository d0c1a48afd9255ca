"""On-disk memo of slow answer comparisons (math-verify), shared by every run on a machine.

Labelling a MATH trace file compares ~50k answer pairs; the symbolic ones cost 10-30 ms each (minutes per
file), and every train.py / prune.py / eval run over the same file would pay that again. Results are keyed
by the two answer strings (ordered: the comparison is symmetric) and the math-verify version, in SQLite
(WAL: concurrent runs and DDP ranks read and write safely). A result that hit math-verify's timeout is
stored like any other, so later runs agree with the first one whatever the machine's load.

``DEEPPRUNE_ANSWER_CACHE``: the database file (default ``~/.cache/deepprune/answers.sqlite``); ``off``
disables the memo.
"""

from __future__ import annotations

import atexit
import os
import sqlite3
import threading
from pathlib import Path

_COMMIT_EVERY = 256


class AnswerCache:
    """``get(a, b)`` -> bool | None and ``put(a, b, same)`` for one comparison method (``namespace``)."""

    def __init__(self, path: str | Path, namespace: str) -> None:
        self.path, self.namespace = Path(path), namespace
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._pending = 0
        self._db = sqlite3.connect(self.path, timeout=60, check_same_thread=False)
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS equal (ns TEXT, a TEXT, b TEXT, same INTEGER, PRIMARY KEY (ns, a, b))"
            )
            self._db.commit()
        atexit.register(self.flush)

    def get(self, a: str, b: str) -> bool | None:
        a, b = sorted((a, b))
        with self._lock:
            row = self._db.execute(
                "SELECT same FROM equal WHERE ns = ? AND a = ? AND b = ?", (self.namespace, a, b)
            ).fetchone()
        return None if row is None else bool(row[0])

    def put(self, a: str, b: str, same: bool) -> None:
        a, b = sorted((a, b))
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO equal VALUES (?, ?, ?, ?)", (self.namespace, a, b, int(same)))
            self._pending += 1
            if self._pending >= _COMMIT_EVERY:
                self._db.commit()
                self._pending = 0

    def flush(self) -> None:
        with self._lock:
            if self._pending:
                self._db.commit()
                self._pending = 0


_CACHES: dict[str, AnswerCache | None] = {}


def answer_cache(namespace: str) -> AnswerCache | None:
    """The process's cache for ``namespace`` (None when ``DEEPPRUNE_ANSWER_CACHE=off`` or it cannot be opened)."""
    location = os.environ.get("DEEPPRUNE_ANSWER_CACHE", str(Path.home() / ".cache" / "deepprune" / "answers.sqlite"))
    key = f"{location}\x00{namespace}"
    if key not in _CACHES:
        cache = None
        if location.lower() != "off":
            try:
                cache = AnswerCache(location, namespace)
            except (OSError, sqlite3.Error) as err:  # a read-only home: compare without the memo, say so once
                import logging

                logging.getLogger(__name__).warning("answer cache %s unusable (%s): not memoising", location, err)
        _CACHES[key] = cache
    return _CACHES[key]
