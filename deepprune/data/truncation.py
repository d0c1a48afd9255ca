"""What the judge sees: the first part of a trace.

Truncation rules are plain data built once per run from ``conf/truncation/*.yaml`` (``_target_``); an
engine interprets them as stopping points (replay cuts stored text, vLLM stops decoding), and
:class:`Truncator` applies them to text for judge training/evaluation. Rules compare by value, so a trained
judge's rule (stored in ``judge.json`` as :meth:`config`) is checked against a run's with ``==``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from deepprune.config_checks import check_int
from deepprune.data.tokenizer import TokenCounter

DEFAULT_REASONING_WORDS = ("wait", "alternatively", "hmm", "but", "so", "therefore", "let me", "check")


@dataclass(frozen=True)
class FirstTokens:
    """The first ``k`` tokens."""

    k: int
    name: ClassVar[str] = "first_tokens"

    def __post_init__(self) -> None:
        object.__setattr__(self, "k", check_int("truncation.k", self.k))

    def describe(self) -> dict[str, Any]:
        """What metrics.json records: ``{"name": "first_tokens", "k": k}``."""
        return {"name": self.name, "k": self.k}

    def config(self) -> dict[str, Any]:
        """The rule as a ``_target_`` config (plain containers: stored in judge.json)."""
        return {"_target_": _target(type(self)), "k": self.k}


@dataclass(frozen=True)
class ReasoningWords:
    """Up to and including the ``k``-th discourse marker ("wait", "so", ...; whole words, any case)."""

    k: int
    words: tuple[str, ...] = DEFAULT_REASONING_WORDS
    pattern: re.Pattern = field(init=False, repr=False, compare=False)
    name: ClassVar[str] = "reasoning_words"

    def __post_init__(self) -> None:
        object.__setattr__(self, "k", check_int("truncation.k", self.k))
        words = self.words
        if (
            not isinstance(words, Sequence)
            or isinstance(words, str)
            or not all(isinstance(w, str) and w.strip() for w in words)
        ):
            # A bare string would become one marker per character ("wait" -> w, a, i, t).
            raise ValueError(f"truncation.words must be a list of non-empty words, e.g. [wait], got {self.words!r}")
        if not self.words:
            raise ValueError("truncation.words must not be empty")
        # Longest first so "let me" wins over a shorter marker starting at the same place.
        alternatives = "|".join(re.escape(w) for w in sorted(self.words, key=len, reverse=True))
        object.__setattr__(self, "words", tuple(self.words))
        object.__setattr__(self, "pattern", re.compile(rf"\b(?:{alternatives})\b", re.IGNORECASE))

    def cut_index(self, text: str) -> int | None:
        """Character index just after the k-th marker, or None when the text has fewer markers."""
        for count, match in enumerate(self.pattern.finditer(text), start=1):
            if count == self.k:
                return match.end()
        return None

    def describe(self) -> dict[str, Any]:
        """What metrics.json records: name, k and the marker words."""
        return {"name": self.name, "k": self.k, "words": list(self.words)}

    def config(self) -> dict[str, Any]:
        """The rule as a ``_target_`` config (plain containers: stored in judge.json)."""
        return {"_target_": _target(type(self)), "k": self.k, "words": list(self.words)}


TruncationRule = FirstTokens | ReasoningWords
_RULES: tuple[type[FirstTokens] | type[ReasoningWords], ...] = (FirstTokens, ReasoningWords)


def _target(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def truncation_from_config(config: Mapping[str, Any], where: str = "truncation") -> TruncationRule:
    """A rule from a stored config: ``{"_target_": ..., "k": ...}`` (:meth:`config`), or judge.json format 1's
    ``{"name": "first_tokens", "k": ...}``.

    Only the rule classes above are accepted: a judge directory must not be able to name arbitrary code.
    """
    fields = dict(config)
    by_target = {_target(cls): cls for cls in _RULES}
    by_name = {cls.name: cls for cls in _RULES}
    target, name = fields.pop("_target_", None), fields.pop("name", None)
    cls = by_target.get(target) if target is not None else by_name.get(name)
    if cls is None:
        raise ValueError(
            f"{where}: unknown truncation rule {target or name!r}; expected one of "
            f"{sorted(by_target) if target is not None else sorted(by_name)}"
        )
    try:
        return cls(**fields)
    except TypeError as err:  # unknown or missing fields
        raise ValueError(f"{where}: {err}") from err


class Truncator:
    """Applies a truncation rule to text: ``(prefix_text, prefix_tokens)``."""

    def __init__(self, rule: TruncationRule, counter: TokenCounter) -> None:
        self.rule, self.counter = rule, counter

    def apply(self, text: str) -> tuple[str, int]:
        if isinstance(self.rule, FirstTokens):
            return self.counter.cut(text, self.rule.k)
        end = self.rule.cut_index(text)
        prefix = text if end is None else text[:end]
        return prefix, self.counter.count(prefix)
