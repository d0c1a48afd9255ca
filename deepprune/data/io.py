"""Streaming reads and atomic writes of trace datasets (JSONL, JSONL.gz, Parquet).

Files are read one problem at a time so a 512-trace x 10k-token file with confidences replays in
bounded memory. Malformed records raise :class:`TraceFormatError` naming file, line and field, or,
with ``on_error="skip"``, are logged and counted in :class:`ReadStats` (never dropped silently).
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deepprune.data.schema import Problem, TraceFormatError, problem_from_record

log = logging.getLogger(__name__)


@dataclass
class ReadStats:
    """What a read produced: records read and records skipped (with their errors)."""

    read: int = 0
    skipped: int = 0
    errors: list[str] = field(default_factory=list)


def _is_parquet(path: Path) -> bool:
    return path.suffix == ".parquet"


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def iter_records(path: str | Path) -> Iterator[tuple[int, Any]]:
    """Yield ``(line_number, decoded_record)``; JSON errors surface as :class:`TraceFormatError`.

    For Parquet the "line" is the 1-based row number.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"trace file not found: {path}")
    if _is_parquet(path):
        import pyarrow.parquet as pq

        parquet = pq.ParquetFile(path)
        row = 0
        for batch in parquet.iter_batches(batch_size=1):
            for record in batch.to_pylist():
                row += 1
                yield row, record
        return
    with _open_text(path) as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield line_number, json.loads(line)
            except json.JSONDecodeError as err:
                yield line_number, TraceFormatError(str(path), line_number, "<json>", f"invalid JSON: {err.msg}")


def read_problems(
    path: str | Path,
    on_error: str = "raise",
    stats: ReadStats | None = None,
    extract_answer: Callable[[str], str | None] | None = None,
) -> Iterator[Problem]:
    """Stream the problems of a trace file.

    Args:
        path: ``.jsonl``, ``.jsonl.gz`` or ``.parquet`` file.
        on_error: ``"raise"`` (default) or ``"skip"`` (log, count in ``stats``, continue).
        stats: filled in as the file is read.
        extract_answer: used for traces that carry no ``answer`` key.
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"data.on_error must be 'raise' or 'skip', got {on_error!r}")
    stats = stats if stats is not None else ReadStats()
    for line_number, record in iter_records(path):
        try:
            if isinstance(record, TraceFormatError):
                raise record
            problem = problem_from_record(record, str(path), line_number, extract_answer)
        except TraceFormatError as err:
            if on_error == "raise":
                raise
            stats.skipped += 1
            stats.errors.append(str(err))
            log.warning("skipping malformed record: %s", err)
            continue
        stats.read += 1
        yield problem


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file in the same directory and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp creates 0600 files; results should get the usual permissions.
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    # numpy scalars and Paths appear in metrics; make them plain JSON.
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def write_problems(path: str | Path, problems: Iterable[Problem]) -> int:
    """Write a whole trace file atomically (format from the suffix); returns the number of problems."""
    path = Path(path)
    records = [p.to_dict() for p in problems]
    if _is_parquet(path):
        import pyarrow as pa
        import pyarrow.parquet as pq

        buffer = io.BytesIO()
        pq.write_table(pa.Table.from_pylist(records), buffer)
        atomic_write_bytes(path, buffer.getvalue())
    else:
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        data = gzip.compress(text.encode("utf-8"), mtime=0) if path.suffix == ".gz" else text.encode("utf-8")
        atomic_write_bytes(path, data)
    return len(records)
