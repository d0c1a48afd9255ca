"""The trace-dataset record: one problem with its sampled reasoning traces.

On disk (JSONL, optionally gzipped, or Parquet) a record is::

    {"id": str, "question": str, "gold": str, "benchmark"?: str, "model"?: str, "tokenizer"?: str,
     "traces": [{"text": str, "answer"?: str|null, "num_tokens"?: int,
                 "confs"?: [float], "finish_reason"?: str}]}

``answer`` is extracted from ``text`` when absent; ``tokenizer`` names the tokenizer that counted the
stored ``num_tokens`` (``generate.py`` writes the model's path or hub name); ``num_tokens`` is counted with
the configured tokenizer when absent; ``confs`` holds per-token DeepConf confidences (needed by DeepConf methods).

Checked on read (each failure is a :class:`TraceFormatError` naming file, line and field): required keys and
types; ``traces`` not empty; ``num_tokens >= 0``; ``confs`` finite numbers (JSON ``NaN``/``Infinity`` are
rejected), exactly ``num_tokens`` of them when both are stored, and not empty for a non-empty text when
``num_tokens`` is absent, and in [0, MAX_CONF]; ``num_tokens`` in [0, MAX_NUM_TOKENS]; ``gold`` not empty, and
a numeric ``gold`` finite and kept as written. Confidences are loaded as float64 numpy arrays:
a quarter of the memory of a list of Python floats, and they slice and ``len()`` like one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

# Sane bounds: a trace of more than 2^40 tokens, or a confidence (a mean of -log p over the top-k tokens; a
# float32 log-probability is > -1e5) above 1e6, can only be a corrupt value.
MAX_NUM_TOKENS = 2**40
MAX_CONF = 1e6


class WrittenNumber(float):
    """A JSON number that remembers how it was written (``0.00001``, not ``1e-05``); the reader gives a
    record's numeric ``gold`` this type so a gold is graded as written."""

    text: str

    def __new__(cls, text: str) -> WrittenNumber:
        number = super().__new__(cls, text)
        number.text = text
        return number


class TraceFormatError(ValueError):
    """A malformed trace record; the message names the file, line and field."""

    def __init__(self, path: str, line: int, field_name: str, reason: str) -> None:
        self.path, self.line, self.field_name, self.reason = path, line, field_name, reason
        super().__init__(f"{path}:{line}: field '{field_name}': {reason}")


@dataclass
class Trace:
    text: str
    answer: str | None = None
    num_tokens: int | None = None
    # Read from a file: a float64 array; built in memory (generate.py, tests): a list works the same.
    confs: np.ndarray | list[float] | None = None
    finish_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        record = {k: v for k, v in asdict(self).items() if v is not None or k == "answer"}
        if isinstance(record.get("confs"), np.ndarray):
            record["confs"] = record["confs"].tolist()
        return record


@dataclass
class Problem:
    id: str
    question: str
    gold: str
    traces: list[Trace] = field(default_factory=list)
    benchmark: str | None = None
    model: str | None = None
    tokenizer: str | None = None

    def to_dict(self) -> dict[str, Any]:
        record: dict[str, Any] = {"id": self.id, "question": self.question, "gold": self.gold}
        if self.benchmark is not None:
            record["benchmark"] = self.benchmark
        if self.model is not None:
            record["model"] = self.model
        if self.tokenizer is not None:
            record["tokenizer"] = self.tokenizer
        record["traces"] = [t.to_dict() for t in self.traces]
        return record


def _expect(value: Any, types: type | tuple[type, ...], path: str, line: int, name: str) -> Any:
    # bool is an int subclass: a `true` where a count belongs is a format error, not 1.
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise TraceFormatError(path, line, name, f"expected {_type_names(types)}, got bool")
    if not isinstance(value, types):
        raise TraceFormatError(path, line, name, f"expected {_type_names(types)}, got {type(value).__name__}")
    return value


def _type_names(types: type | tuple[type, ...]) -> str:
    types = types if isinstance(types, tuple) else (types,)
    return " or ".join("null" if t is type(None) else t.__name__ for t in types)


def problem_from_record(
    record: Any,
    path: str = "<memory>",
    line: int = 0,
    extract_answer: Callable[[str], str | None] | None = None,
) -> Problem:
    """Validate one decoded record and build a :class:`Problem` (raises :class:`TraceFormatError`).

    A trace without an ``answer`` key gets ``extract_answer(text)``; an explicit ``null`` means the
    trace states no answer and stays ``None``.
    """
    if not isinstance(record, dict):
        raise TraceFormatError(path, line, "<record>", f"expected an object, got {type(record).__name__}")
    for name in ("id", "question", "gold", "traces"):
        if name not in record:
            raise TraceFormatError(path, line, name, "missing")
    gold = record["gold"]
    # Numeric golds (e.g. AIME answers written as numbers) are legitimate; the reader keeps them as written
    # (WrittenNumber: 0.00001 stays "0.00001", not Python's "1e-05").
    if isinstance(gold, int | float) and not isinstance(gold, bool):
        if isinstance(gold, float) and not math.isfinite(gold):
            raise TraceFormatError(path, line, "gold", f"must be finite, got {gold}")
        gold = gold.text if isinstance(gold, WrittenNumber) else str(gold)
    if isinstance(gold, str) and not gold.strip():
        # An empty gold would equal every empty answer: the problem cannot be graded.
        raise TraceFormatError(path, line, "gold", "empty: a problem needs a reference answer")
    problem = Problem(
        id=str(_expect(record["id"], (str, int), path, line, "id")),
        question=_expect(record["question"], str, path, line, "question"),
        gold=_expect(gold, str, path, line, "gold"),
        benchmark=_expect(record.get("benchmark"), (str, type(None)), path, line, "benchmark"),
        model=_expect(record.get("model"), (str, type(None)), path, line, "model"),
        tokenizer=_expect(record.get("tokenizer"), (str, type(None)), path, line, "tokenizer"),
    )
    traces = _expect(record["traces"], list, path, line, "traces")
    if not traces:
        # Scored, it would count as a wrong answer that cost 0 tokens.
        raise TraceFormatError(path, line, "traces", "empty: a problem needs at least one trace")
    for i, raw in enumerate(traces):
        where = f"traces[{i}]"
        _expect(raw, dict, path, line, where)
        if "text" not in raw:
            raise TraceFormatError(path, line, f"{where}.text", "missing")
        text = _expect(raw["text"], str, path, line, f"{where}.text")
        num_tokens = _expect(raw.get("num_tokens"), (int, type(None)), path, line, f"{where}.num_tokens")
        if num_tokens is not None and not 0 <= num_tokens <= MAX_NUM_TOKENS:
            shown = num_tokens if abs(num_tokens) < 10**20 else f"a {len(str(abs(num_tokens)))}-digit integer"
            raise TraceFormatError(path, line, f"{where}.num_tokens", f"must be in [0, {MAX_NUM_TOKENS}], got {shown}")
        confs = _confs_array(raw.get("confs"), text, num_tokens, path, line, f"{where}.confs")
        problem.traces.append(
            Trace(
                text=text,
                answer=(
                    _expect(raw["answer"], (str, type(None)), path, line, f"{where}.answer")
                    if "answer" in raw
                    else (extract_answer(text) if extract_answer else None)
                ),
                num_tokens=num_tokens,
                confs=confs,
                finish_reason=_expect(
                    raw.get("finish_reason"), (str, type(None)), path, line, f"{where}.finish_reason"
                ),
            )
        )
    return problem


def confs_as_array(obj: dict[str, Any]) -> dict[str, Any]:
    """``json.loads`` object hook: a ``confs`` list of numbers becomes a float64 array.

    Anything else is left as it is for :func:`problem_from_record` to report.
    """
    confs = obj.get("confs")
    if type(confs) is list and _numbers_only(confs):
        try:
            obj["confs"] = np.asarray(confs, dtype=np.float64)
        except OverflowError:
            pass  # an integer beyond float range: reported by problem_from_record
    return obj


def _numbers_only(values: list) -> bool:
    # One pass over the element types (a per-element isinstance loop took 5 s on a 12.8M-value record);
    # bool is excluded because numpy would turn `true` into 1.0.
    return set(map(type, values)) <= {float, int}


def _confs_array(confs: Any, text: str, num_tokens: int | None, path: str, line: int, name: str) -> np.ndarray | None:
    """Validated per-token confidences as a float64 array (one per stored token, all finite)."""
    if confs is None:
        return None
    if not isinstance(confs, np.ndarray):  # already a float64 array when parsed with confs_as_array
        _expect(confs, list, path, line, name)
        if not _numbers_only(confs):
            raise TraceFormatError(path, line, name, "expected a list of numbers")
        try:
            confs = np.asarray(confs, dtype=np.float64)
        except OverflowError:
            raise TraceFormatError(path, line, name, "must be finite, got an integer beyond float range") from None
    bad = np.flatnonzero(~np.isfinite(confs))
    if bad.size:
        # JSON NaN/Infinity parse as floats; one would turn DeepConf's threshold into NaN.
        raise TraceFormatError(path, line, name, f"must be finite, got {confs[bad[0]]} at index {bad[0]}")
    bad = np.flatnonzero((confs < 0) | (confs > MAX_CONF))
    if bad.size:
        # A confidence is a mean of negated log-probabilities: never negative (a negative one inverts the
        # confidence-weighted vote), and far below MAX_CONF (huge ones overflow the window sums to NaN).
        raise TraceFormatError(
            path, line, name, f"must be in [0, {MAX_CONF:g}], got {confs[bad[0]]:g} at index {bad[0]}"
        )
    if num_tokens is not None and len(confs) != num_tokens:
        raise TraceFormatError(path, line, name, f"{len(confs)} values but num_tokens={num_tokens}")
    if num_tokens is None and not len(confs) and text:
        raise TraceFormatError(path, line, name, "empty, but the trace has text (one confidence per token)")
    return confs
