"""Domain checks for numeric config knobs.

Constructors call these so that an out-of-range value stops the run where the object is built, with an
error naming the config key (``method.threshold must be in [0, 1], got 2.0``), instead of running on
silently. NaN is rejected explicitly: every comparison with NaN is False, so a plain ``x < low`` lets it pass.
"""

from __future__ import annotations

import math
from numbers import Integral, Real


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
