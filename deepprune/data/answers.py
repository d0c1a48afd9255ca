"""Answer extraction, equivalence and voting.

Extraction is chosen per benchmark (``boxed``, ``answer_is``, ``choice``, ``regex``); equivalence is
``math`` (math-verify), ``choice`` (option letters) or ``string`` (normalised text). Votes group
*equivalent* answers, so ``1/2`` and ``\\frac{1}{2}`` vote together; traces without an answer do not vote.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from functools import lru_cache
from importlib.metadata import version

from deepprune.data.answer_cache import answer_cache

_ANSWER_IS = re.compile(r"answer\s+is\s*[:\-]?\s*(.+?)\s*(?:\.\s*$|\.\s+|\n|$)", re.IGNORECASE)
_CHOICE_PATTERNS = (
    re.compile(r"\\boxed\{\s*\(?([A-Ja-j])\)?\s*\}"),
    re.compile(r"answer\s*(?:is|:)\s*\(?\*{0,2}\s*([A-Ja-j])\b\)?", re.IGNORECASE),
    re.compile(r"\(([A-J])\)"),
)
_QUOTES = "\"'`“”‘’"


def extract_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` (nested braces allowed), or None."""
    start = text.rfind("\\boxed")
    while start != -1:
        brace = start + len("\\boxed")
        while brace < len(text) and text[brace] == " ":
            brace += 1
        if brace < len(text) and text[brace] == "{":
            depth = 0
            for i in range(brace, len(text)):
                if text[i] == "{":
                    depth += 1
                elif text[i] == "}":
                    depth -= 1
                    if depth == 0:
                        return text[brace + 1 : i].strip() or None  # \boxed{} states no answer
        # An unclosed or brace-less \boxed: try an earlier one.
        start = text.rfind("\\boxed", 0, start)
    return None


def extract_answer_is(text: str) -> str | None:
    """The text after the last "The answer is", up to the end of the sentence."""
    matches = list(_ANSWER_IS.finditer(text))
    if not matches:
        return None
    answer = matches[-1].group(1).strip().strip(_QUOTES).strip()
    return answer or None


def extract_choice(text: str) -> str | None:
    """A multiple-choice letter (A-J), upper-cased: boxed letter, "answer is (B)", or "(B)"."""
    for pattern in _CHOICE_PATTERNS:
        found = pattern.findall(text)
        if found:
            return found[-1].upper()
    return None


def normalize_string(answer: str) -> str:
    """Lower-case, strip surrounding quotes/whitespace and a final period, collapse spaces."""
    answer = answer.strip().strip(_QUOTES).strip()
    answer = answer.rstrip(".").strip().strip(_QUOTES).strip()
    return re.sub(r"\s+", " ", answer.lower())


# math-verify bounds parsing and comparison with signal.alarm (whole seconds), which only the main thread may
# set: from any other thread it raises, so there parsing and comparison run without a time bound.
# ASCII digits only: \d also matches other scripts' digits, which math-verify does not read as numbers.
_INTEGER = re.compile(r"^\s*([+-]?)0*([0-9]+)\s*$")
_PARSE_TIMEOUT_S = 5
_VERIFY_TIMEOUT_S = 5
# Already delimited for math-verify: an unescaped "$" anywhere, or a leading "\(" / "\[".
_DELIMITED = re.compile(r"(?<!\\)\$|^\s*\\[(\[]")


def _timeout(seconds: int) -> int | None:
    return seconds if threading.current_thread() is threading.main_thread() else None


@lru_cache(maxsize=65536)
def _math_parse(answer: str):  # noqa: ANN202 - math-verify's parse result is an opaque list
    from math_verify import parse

    # Extracted answers come without delimiters ("3\pi", "\dfrac{3}{4}", "(1, 2)"). Undelimited, math-verify
    # scans the text for something that looks like a number and reads "3\pi" as 3, so wrap it in $...$ to
    # make it parse as one LaTeX expression.
    text = answer if _DELIMITED.search(answer) else f"${answer}$"
    return parse(text, parsing_timeout=_timeout(_PARSE_TIMEOUT_S))


def _squash(answer: str) -> str:
    return " ".join(answer.split())


@lru_cache(maxsize=65536)
def math_equal(a: str, b: str) -> bool:
    """Equivalence by value with math-verify: ``025`` == ``25``, ``\\dfrac{3}{4}`` == ``0.75``, ``3\\pi`` != ``3``.

    Symmetric, as votes need: math-verify's ``verify(gold, target)`` accepts some equivalent forms in one
    direction only (an interval as the target of an inequality), so either direction counts.
    """
    # The fast path forgives whitespace runs only: normalize_string also folds case and strips quotes, which
    # would merge different LaTeX answers (\Gamma and \gamma).
    if _squash(a) == _squash(b):
        return True
    int_a, int_b = _INTEGER.match(a), _INTEGER.match(b)
    if int_a and int_b:  # most competition answers: no parse needed (and no int(), which caps digits)
        return _canonical_int(int_a) == _canonical_int(int_b)
    cache = answer_cache(f"math-verify {version('math-verify')}")
    known = cache.get(a, b) if cache is not None else None
    if known is None:
        known = _math_verify_equal(a, b)
        if cache is not None:
            cache.put(a, b, known)
    return known


def _canonical_int(match: re.Match[str]) -> str:
    sign, digits = match.group(1), match.group(2).lstrip("0") or "0"
    return digits if digits == "0" or sign != "-" else f"-{digits}"


def _math_verify_equal(a: str, b: str) -> bool:
    from math_verify import verify
    from sympy import Rational

    parsed_a, parsed_b = _math_parse(a), _math_parse(b)
    if not parsed_a or not parsed_b:
        return False
    # Two exact rationals (025, \dfrac{9}{14}, 2/4) are equal iff their values are: what verify concludes too,
    # after a symbolic comparison that costs ~10 ms.
    if isinstance(parsed_a[0], Rational) and isinstance(parsed_b[0], Rational):
        return bool(parsed_a[0] == parsed_b[0])
    timeout = _timeout(_VERIFY_TIMEOUT_S)
    return bool(
        verify(parsed_a, parsed_b, timeout_seconds=timeout) or verify(parsed_b, parsed_a, timeout_seconds=timeout)
    )


class AnswerChecker:
    """Extracts answers from trace text and decides when two answers are the same.

    Args:
        extractor: ``boxed`` | ``answer_is`` | ``choice`` | ``regex``.
        equivalence: ``math`` | ``choice`` | ``string``.
        regex: pattern for ``extractor=regex``; group 1 (or the whole match) is the answer, last match wins.
    """

    EXTRACTORS = ("boxed", "answer_is", "choice", "regex")
    EQUIVALENCES = ("math", "choice", "string")

    def __init__(self, extractor: str = "boxed", equivalence: str = "math", regex: str | None = None) -> None:
        if extractor not in self.EXTRACTORS:
            raise ValueError(f"answer.extractor must be one of {self.EXTRACTORS}, got {extractor!r}")
        if equivalence not in self.EQUIVALENCES:
            raise ValueError(f"answer.equivalence must be one of {self.EQUIVALENCES}, got {equivalence!r}")
        if extractor == "regex" and not regex:
            raise ValueError("answer.extractor=regex needs answer.regex")
        self.extractor, self.equivalence = extractor, equivalence
        try:
            self._regex = re.compile(regex) if regex else None
        except re.error as err:
            raise ValueError(f"benchmark.answer.regex={regex!r} is not a valid regular expression ({err})") from None

    def extract(self, text: str) -> str | None:
        if self.extractor == "boxed":
            return extract_boxed(text)
        if self.extractor == "answer_is":
            return extract_answer_is(text)
        if self.extractor == "choice":
            return extract_choice(text)
        matches = list(self._regex.finditer(text))  # type: ignore[union-attr]
        if not matches:
            return None
        last = matches[-1]
        return ((last.group(1) if last.groups() else last.group(0)) or "").strip() or None

    def equivalent(self, a: str | None, b: str | None) -> bool:
        if a is None or b is None or not a.strip() or not b.strip():  # an empty answer equals nothing
            return False
        if self.equivalence == "choice":
            return a.strip().strip("()").upper() == b.strip().strip("()").upper()
        if self.equivalence == "string":
            return normalize_string(a) == normalize_string(b)
        return math_equal(a, b)

    def group(self, answers: Sequence[str | None]) -> list[int | None]:
        """Assign each answer the index of its equivalence class (None for no answer).

        Distinct raw strings are compared once each against class representatives, so 512 traces with
        a handful of distinct answers cost a handful of equivalence checks.
        """
        representatives: list[str] = []
        class_of_raw: dict[str, int] = {}
        labels: list[int | None] = []
        for answer in answers:
            if answer is None or not answer.strip():  # an empty answer (stored "") states nothing: no vote
                labels.append(None)
                continue
            if answer not in class_of_raw:
                for index, rep in enumerate(representatives):
                    if self.equivalent(answer, rep):
                        class_of_raw[answer] = index
                        break
                else:
                    class_of_raw[answer] = len(representatives)
                    representatives.append(answer)
            labels.append(class_of_raw[answer])
        return labels

    def vote(self, answers: Sequence[str | None], weights: Sequence[float] | None = None) -> str | None:
        """Weighted majority over equivalence classes; returns the first-seen member of the winner.

        Ties go to the class seen first (arrival order), which keeps replay deterministic.
        """
        weights = [1.0] * len(answers) if weights is None else list(weights)
        if len(weights) != len(answers):
            raise ValueError(f"{len(answers)} answers but {len(weights)} weights")
        labels = self.group(answers)
        totals: dict[int, float] = {}
        first: dict[int, str] = {}
        for answer, label, weight in zip(answers, labels, weights, strict=True):
            if label is None:
                continue
            totals[label] = totals.get(label, 0.0) + float(weight)
            first.setdefault(label, answer)  # type: ignore[arg-type]
        if not totals:
            return None
        best = max(totals, key=lambda label: (totals[label], -label))
        return first[best]

    def is_correct(self, predicted: str | None, gold: str) -> bool:
        return self.equivalent(predicted, gold)
