"""Domain checks for numeric config knobs.

Constructors call these so that an out-of-range value stops the run where the object is built, with an
error naming the config key (``method.threshold must be in [0, 1], got 2.0``), instead of running on
silently. NaN is rejected explicitly: every comparison with NaN is False, so a plain ``x < low`` lets it pass.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from numbers import Integral, Real
from typing import Any


def check_int(key: str, value: object, minimum: int = 1) -> int:
    """``value`` as an int >= ``minimum``; booleans, fractional numbers, NaN and infinities are config errors."""
    whole = isinstance(value, Integral) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not whole:
        raise ValueError(f"{key} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{key} must be >= {minimum}, got {value!r}")
    return int(value)


def check_range(
    key: str, value: object, low: float, high: float, *, low_open: bool = False, high_open: bool = False
) -> float:
    """``value`` as a finite float in the interval from ``low`` to ``high`` (open ends as flagged)."""
    interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise ValueError(f"{key} must be a number in {interval}, got {value!r}")
    below = value <= low if low_open else value < low
    above = value >= high if high_open else value > high
    if below or above:
        raise ValueError(f"{key} must be in {interval}, got {value!r}")
    return float(value)


def check_device(key: str, value: object) -> str:
    """``value`` as a torch device string this machine has (``cpu``, ``cuda``, ``cuda:1``, ``mps``).

    Checked before a model loads: torch's own errors for ``gpu`` (a list of 20 device types) or a missing GPU
    (an AssertionError from deep inside a model's ``.to()``) name no config key.
    """
    import torch

    try:
        device = torch.device(str(value))
    except (RuntimeError, TypeError):
        raise ValueError(f"{key} must be a torch device (cpu, cuda, cuda:N, mps), got {value!r}") from None
    if device.type == "cuda":
        count = torch.cuda.device_count()
        if (device.index or 0) >= count:
            raise ValueError(f"{key}={value!s}: this machine has {count} CUDA GPU(s) visible to torch; use {key}=cpu")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"{key}={value!s}: MPS is not available on this machine; use {key}=cpu")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"{key} must be cpu, cuda, cuda:N or mps, got {value!r}")
    return str(device)


# Keys of ``conf/data`` that name one file: a list or a number there is a typo, not a path.
_FILE_KEYS = ("traces", "train", "val", "test")


def check_entry_config(cfg: Any) -> None:
    """The top-level knobs every entry script reads (``seed``, ``subsamples``, ``data.*`` files, ``data.limit``),
    checked before anything is built, so a wrong value is reported by its key and not by a traceback later."""
    check_int("seed", cfg.get("seed", 0), minimum=0)
    if "subsamples" in cfg:
        check_int("subsamples", cfg.subsamples)
    data = cfg.get("data")
    if data is None:
        return
    for key in _FILE_KEYS:
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            hint = f" (quote a numeric file name: data.{key}=\"'{value}'\")" if isinstance(value, int | float) else ""
            raise ValueError(f"data.{key} must be one file path, got {value!r} ({type(value).__name__}){hint}")
    if data.get("limit") is not None:
        check_int("data.limit", data.limit)
    if "seed" in data:
        check_int("data.seed", data.seed, minimum=0)


@contextmanager
def remote_code_refusal_names(path: object, flag: str) -> Iterator[None]:
    """Around a transformers ``from_pretrained``: its refusal of a model or tokenizer that ships its own Python
    code asks for a Python argument; re-raise it naming the config key (``flag``) that alone may allow it."""
    try:
        yield
    except ValueError as err:
        if "trust_remote_code" not in str(err):
            raise
        raise ValueError(
            f"{path}: this model or tokenizer runs Python files shipped with it (auto_map); they run only with "
            f"{flag}=true on the command line: review them first"
        ) from err
