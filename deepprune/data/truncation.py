"""What the judge sees: the first part of a trace.

Truncation rules are plain data; an engine interprets them as stopping points (replay cuts stored
text, vLLM stops decoding), and :class:`Truncator` applies them to text for judge training/evaluation.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from deepprune.config_checks import check_int
from deepprune.data.tokenizer import TokenCounter

DEFAULT_REASONING_WORDS = ("wait", "alternatively", "hmm", "but", "so", "therefore", "let me", "check")


@dataclass(frozen=True)
class FirstTokens:
    """The first ``k`` tokens."""

    k: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "k", check_int("truncation.k", self.k))


@dataclass(frozen=True)
class ReasoningWords:
    """Up to and including the ``k``-th discourse marker ("wait", "so", ...; whole words, any case)."""

    k: int
    words: tuple[str, ...] = DEFAULT_REASONING_WORDS
    pattern: re.Pattern = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "k", check_int("truncation.k", self.k))
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


TruncationRule = FirstTokens | ReasoningWords


def make_truncation(name: str, k: int, words: Sequence[str] | None = None) -> TruncationRule:
    """Build a rule from config (``truncation.name`` / ``truncation.k`` / ``truncation.words``)."""
    if name == "first_tokens":
        return FirstTokens(k)
    if name == "reasoning_words":
        return ReasoningWords(k, tuple(words) if words else DEFAULT_REASONING_WORDS)
    raise ValueError(f"truncation.name must be 'first_tokens' or 'reasoning_words', got {name!r}")


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
