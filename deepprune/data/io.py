"""Streaming reads and atomic writes of trace datasets (JSONL, JSONL.gz, Parquet).

Files are read one problem at a time so a 512-trace x 10k-token file with confidences replays in
bounded memory (peak about 3x the largest record's size on disk, see ``benchmarks/bench_io.py``).
Malformed records raise :class:`TraceFormatError` naming file, line and field, or, with
``on_error="skip"``, are logged and counted in :class:`ReadStats` (never dropped silently). Besides the
per-record checks of :func:`~deepprune.data.schema.problem_from_record`, a file is checked for

* lines that are not UTF-8 (decoded line by line, so a bad line is skipped and the rest read);
* duplicate problem ids (the later record is the bad one; the message names the first's line);
* a truncated or corrupt ``.gz``: the error names the line where the compressed stream broke and how
  many records were read before it; with ``on_error="skip"`` the torn tail counts as one skipped record
  (nothing after a break in the stream can be recovered) and the records before it are kept.

Results (``metrics.json``) are written with :func:`atomic_write_json`, which never writes ``NaN`` or
``Infinity`` (not JSON): a non-finite number becomes ``null`` with a warning naming its key path.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import math
import os
import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deepprune.data.schema import Problem, TraceFormatError, WrittenNumber, confs_as_array, problem_from_record

log = logging.getLogger(__name__)


@dataclass
class ReadStats:
    """What a read produced: records read and records skipped (with their errors)."""

    read: int = 0
    skipped: int = 0
    errors: list[str] = field(default_factory=list)


def _is_parquet(path: Path) -> bool:
    return path.suffix == ".parquet"


def _open_binary(path: Path) -> io.BufferedIOBase:
    # Bytes, decoded per line: a stray non-UTF-8 byte is then one bad line, not a crash of the whole read.
    if path.suffix == ".gz":
        return gzip.open(path, "rb")
    return open(path, "rb")


def iter_records(path: str | Path) -> Iterator[tuple[int, Any]]:
    """Yield ``(line_number, decoded_record)``; a line that cannot be decoded is yielded as a
    :class:`TraceFormatError` in place of its record (the caller raises or skips it).

    For Parquet the "line" is the 1-based row number. A broken ``.gz`` stream ends the iteration with
    an error (field ``<gzip>``) at the line where it broke.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"trace file not found: {path}")
    if _is_parquet(path):
        yield from _iter_parquet(path)
        return
    line_number = 0
    with _open_binary(path) as handle:
        try:
            for line_number, raw in enumerate(handle, start=1):
                if not raw.strip():
                    continue
                record = _utf8(raw, path, line_number)
                del raw  # one copy of a large line at a time: the str while parsing, then the record
                if isinstance(record, str):
                    record = _parse_json(record, path, line_number)
                yield line_number, record
        except (EOFError, zlib.error, gzip.BadGzipFile) as err:
            # The line in progress is lost with the stream; the lines before it were complete. Corrupt
            # data is detected a read buffer at a time, so the line named may precede the damage.
            yield (
                line_number + 1,
                TraceFormatError(
                    str(path),
                    line_number + 1,
                    "<gzip>",
                    f"compressed stream is truncated or corrupt; nothing from here on can be read ({err})",
                ),
            )


def _utf8(raw: bytes, path: Path, line_number: int) -> str | TraceFormatError:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        return TraceFormatError(
            str(path), line_number, "<encoding>", f"not UTF-8: byte {raw[err.start]:#04x} at offset {err.start}"
        )


def _parse_json(line: str, path: Path, line_number: int) -> Any:
    try:
        # The hook turns each trace's confs into an array as soon as that trace is parsed, so a record's
        # confidences never all exist as Python floats (32 bytes each instead of 8).
        record = json.loads(line, object_hook=confs_as_array)
        if isinstance(record, dict) and type(record.get("gold")) is float:
            # A gold written as a number is graded as written ("0.00001", not "1e-05"): parse it again
            # keeping the text (rare, so the common path keeps the fast C float parser).
            record["gold"] = json.loads(line, parse_float=WrittenNumber)["gold"]
        return record
    except json.JSONDecodeError as err:
        return TraceFormatError(str(path), line_number, "<json>", f"invalid JSON: {err.msg}")
    except RecursionError:
        return TraceFormatError(str(path), line_number, "<json>", "nested too deeply to be a trace record")
    except ValueError as err:  # Python's limit on integer digits (4300): no trace record needs more
        return TraceFormatError(str(path), line_number, "<json>", f"unreadable number ({err.args[0].split(';')[0]})")


def _iter_parquet(path: Path) -> Iterator[tuple[int, Any]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as err:
        raise ValueError(f"{path}: not a readable Parquet file ({err})") from err
    row = 0
    for batch in parquet.iter_batches(batch_size=1):
        for record in batch.to_pylist():
            row += 1
            yield row, record


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

    Only the ids seen are remembered (to reject duplicates), so memory stays that of one record.
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"data.on_error must be 'raise' or 'skip', got {on_error!r}")
    stats = stats if stats is not None else ReadStats()
    first_line: dict[str, int] = {}
    read_here = 0
    for line_number, record in iter_records(path):
        try:
            if isinstance(record, TraceFormatError):
                if record.field_name == "<gzip>":
                    record = TraceFormatError(
                        record.path,
                        record.line,
                        record.field_name,
                        f"{record.reason}; {read_here} records were read before it",
                    )
                raise record
            problem = problem_from_record(record, str(path), line_number, extract_answer)
            if problem.id in first_line:
                raise TraceFormatError(
                    str(path),
                    line_number,
                    "id",
                    f"duplicate problem id {problem.id!r} (first at line {first_line[problem.id]})",
                )
        except TraceFormatError as err:
            if on_error == "raise":
                raise
            stats.skipped += 1
            stats.errors.append(str(err))
            log.warning("skipping malformed record: %s", err)
            continue
        first_line[problem.id] = line_number
        read_here += 1
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
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        if err.filename is None:  # a failed write (disk full) names no file: name the one being written
            raise OSError(err.errno, err.strerror, str(path)) from err
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as strict JSON (atomically).

    ``NaN`` and ``Infinity`` are not JSON, and most readers reject a file holding them. A run's results
    must not be lost at the end, so a non-finite float is written as ``null`` and a warning names its
    key path (e.g. ``metrics.json: 'problems'[3]['threshold'] is nan; written as null``).
    """
    clean = _finite_or_null(obj, path, "")
    atomic_write_text(path, json.dumps(clean, indent=2, sort_keys=False, allow_nan=False) + "\n")


def _finite_or_null(obj: Any, path: str | Path, where: str) -> Any:
    if isinstance(obj, dict):
        return {key: _finite_or_null(value, path, f"{where}[{key!r}]") for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite_or_null(value, path, f"{where}[{i}]") for i, value in enumerate(obj)]
    obj = _plain(obj)
    if isinstance(obj, list):  # a numpy array
        return _finite_or_null(obj, path, where)
    if isinstance(obj, float) and not math.isfinite(obj):
        log.warning("%s: %s is %s; written as null (JSON has no NaN/Infinity)", Path(path).name, where or "<root>", obj)
        return None
    return obj


def _plain(obj: Any) -> Any:
    # numpy scalars/arrays and Paths appear in metrics; make them plain JSON.
    if isinstance(obj, str | int | float | bool | type(None)):
        return obj
    if hasattr(obj, "tolist"):
        return obj.tolist()
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
        text = "".join(_jsonl_line(r, path) for r in records)
        data = gzip.compress(text.encode("utf-8"), mtime=0) if path.suffix == ".gz" else text.encode("utf-8")
        atomic_write_bytes(path, data)
    return len(records)


def _jsonl_line(record: dict[str, Any], path: Path) -> str:
    try:
        return json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n"
    except ValueError as err:
        # NaN/Infinity are not JSON, and read_problems rejects them: refuse to write a file it cannot read.
        raise ValueError(f"{path}: problem {record['id']!r}: {err}") from err


def claim_output_dir(directory: str | Path, marker: str, key: str) -> bool:
    """Whether ``directory`` is one of ours to replace: True when it holds our ``marker`` file, False when it
    is absent or empty (ours to create). Anything else is the user's and is refused, naming the config ``key``.

    The rule of every writer of whole directories (models, exports): never delete or overwrite a path this
    project did not create.
    """
    path = Path(directory)
    if not path.exists():
        return False
    if not path.is_dir():
        raise ValueError(f"{key}: {directory} exists and is not a directory: refusing to write there")
    if (path / marker).is_file():
        return True
    if any(path.iterdir()):
        raise ValueError(
            f"{key}: {directory} is a non-empty directory this project did not create (no {marker}): "
            "refusing to write there; point it at a new or empty directory"
        )
    return False
