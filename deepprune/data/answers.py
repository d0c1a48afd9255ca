"""Answer extraction, equivalence and voting.

Extraction is chosen per benchmark (``boxed``, ``answer_is``, ``choice``, ``regex``); equivalence is
``math`` (math-verify), ``choice`` (option letters) or ``string`` (normalised text). Votes group
*equivalent* answers, so ``1/2`` and ``\\frac{1}{2}`` vote together; traces without an answer do not vote.
"""

from __future__ import annotations

import logging
import math
import re
import signal
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import version
from typing import Any

from deepprune.data.answer_cache import answer_cache

log = logging.getLogger(__name__)


class _OwnTimeLimit(logging.Filter):
    """Drops math-verify's "Timeout is disabled" warning: the time limits here are set by :func:`_time_limit`."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Timeout is disabled")


for _name in ("math_verify.parser", "math_verify.grader"):
    logging.getLogger(_name).addFilter(_OwnTimeLimit())

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


# Version of this module's own equivalence rules (separators, digits, fast paths, which directions are verified).
# It keys the on-disk memo together with the versions of the libraries that decide: bump it whenever a rule
# here changes which answers are equal, or runs would read answers stored under the old rules.
CHECKER_RULES = 2

# ASCII digits only: \d also matches other scripts' digits, which math-verify does not read as numbers.
_INTEGER = re.compile(r"^\s*([+-]?)0*([0-9]+)\s*$")
# Answers with digits of other scripts ("٣", "３") equal only the same string: no path reads them as numbers.
_OTHER_DIGIT = re.compile(r"(?![0-9])\d")
# Already delimited for math-verify: an unescaped "$" anywhere, or a leading "\(" / "\[".
_DELIMITED = re.compile(r"(?<!\\)\$|^\s*\\[(\[]")

# Thousands separators, removed before any comparison (math-verify reads "1\,000" and "1 000" as 1*000 = 0):
# * always, between two ASCII digits: "\," (thin space), "{,}", ",\!", "\thinspace", U+2009 and U+202F;
# * a plain space, "~", "\ " or U+00A0 only inside a number whose first group has 1-3 digits (not starting with
#   0) and every further group exactly 3, with one separator throughout ("12 345 678"); the number must not
#   follow a letter, digit, "_", "^", "}", "\", "." or another group ("\log_2 101" and "12 1 000" stay as they
#   are) nor go on with more digits;
# * "," by the same 3-digit rule, and only in an answer with no brackets and no other comma: "(304,260)",
#   "[1,000, 2]", "1,2,3" and "\{1,000\}" keep their commas (tuples, intervals, lists, sets).
_ALWAYS_SEPARATOR = re.compile(r"(?<=[0-9])(?:\\,|\{,\}|,\\!\s*|\\thinspace\s*|[\u2009\u202f])(?=[0-9])")
_GROUP_SEPARATORS = (" ", "~", "\\ ", "\u00a0", ",")
_GROUPED = {
    sep: re.compile(
        rf"(?<![0-9A-Za-z_^}}\\.])(?<![0-9]{re.escape(sep)})[1-9][0-9]{{0,2}}(?:{re.escape(sep)}[0-9]{{3}})+"
        rf"(?![0-9]|{re.escape(sep)}[0-9])"
    )
    for sep in _GROUP_SEPARATORS
}
_BRACKETS = re.compile(r"[()\[\]]|\\[{}]|\\langle|\\rangle")

# Time limits for math-verify in CPU seconds of this process, set from the main thread with a SIGVTALRM timer
# (signals reach only the main thread: elsewhere parsing and comparison run unbounded). CPU time, not wall time,
# so a loaded machine does not cut more comparisons short (nor label differently); SIGVTALRM, not SIGALRM, so
# alarms set by others (pytest-timeout) are left alone. On the MATH dev file (29k distinct answers, 73k
# comparisons) every parse takes under 1 s and all but ~80 comparisons under 0.2 s; the limits cut off the few
# that sympy would work on for minutes.
_PARSE_LIMIT_S = 2.0
_VERIFY_LIMIT_S = 1.0
# Parses and comparisons that ran out of time in this process: not retried under a limit (each retry would cost
# the full limit again), never cached in the lru caches or the on-disk memo (a run without a limit, off the main
# thread, may finish them and find another answer).
_PARSE_TIMED_OUT: set[str] = set()
_VERIFY_TIMED_OUT: set[tuple[str, str]] = set()


class ComparisonTimeout(Exception):
    """math-verify ran out of time parsing or comparing an answer: the comparison has no answer."""


class _Expired(BaseException):
    # BaseException, so that math-verify's and sympy's `except Exception` clauses let it through.
    pass


def _limited() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def _time_limit(seconds: float, what: str) -> Iterator[None]:
    """Raise ComparisonTimeout when the body runs past ``seconds`` (main thread only; elsewhere no limit)."""
    if not _limited():
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise _Expired

    previous = signal.signal(signal.SIGVTALRM, expire)
    try:
        # One shot: the timer fires at most once, so the only _Expired is the one converted below, wherever
        # it lands (in the body or just before the timer is disarmed).
        signal.setitimer(signal.ITIMER_VIRTUAL, seconds)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_VIRTUAL, 0)
    except _Expired:
        raise ComparisonTimeout(f"{what}: no result within {seconds:g} s of CPU time") from None
    finally:
        signal.signal(signal.SIGVTALRM, previous)


def strip_thousands_separators(answer: str) -> str:
    """``answer`` with its thousands separators removed (the rules are above this function's definition)."""
    answer = _ALWAYS_SEPARATOR.sub("", answer)
    for sep, pattern in _GROUPED.items():
        if sep not in answer:
            continue
        if sep == ",":
            numbers = pattern.findall(answer)
            if _BRACKETS.search(answer) or answer.count(",") != sum(number.count(",") for number in numbers):
                continue
        answer = pattern.sub(lambda match, sep=sep: match.group(0).replace(sep, ""), answer)
    return answer


@lru_cache(maxsize=65536)
def _math_parse(answer: str):  # noqa: ANN202 - math-verify's parse result is an opaque list
    """math-verify's parse of one answer; raises ComparisonTimeout (not cached) when it runs out of time.

    The cache holds every distinct answer of a 6,000-problem x 8-trace file (~30k strings with the golds); the
    answers of one problem are compared together, so an eviction only costs a re-parse of a finished problem.
    """
    from math_verify import parse

    if _limited() and answer in _PARSE_TIMED_OUT:
        raise ComparisonTimeout(f"parsing {answer!r}: ran out of time before")
    # Extracted answers come without delimiters ("3\pi", "\dfrac{3}{4}", "(1, 2)"). Undelimited, math-verify
    # scans the text for something that looks like a number and reads "3\pi" as 3, so wrap it in $...$ to
    # make it parse as one LaTeX expression.
    text = answer if _DELIMITED.search(answer) else f"${answer}$"
    try:
        with _time_limit(_PARSE_LIMIT_S, f"parsing {answer!r}"):
            return parse(text, parsing_timeout=None)
    except ComparisonTimeout:
        _PARSE_TIMED_OUT.add(answer)
        raise


def _squash(answer: str) -> str:
    return " ".join(answer.split())


@lru_cache(maxsize=1)
def _library_versions() -> str:
    return " ".join(f"{name}={version(name)}" for name in ("math-verify", "latex2sympy2_extended", "sympy"))


def _memo_namespace() -> str:
    # Everything that decides a stored answer: this module's rules and the libraries that parse and compare.
    # Whether a time limit applied is not in it: results cut short by a limit are never stored.
    return f"math rules={CHECKER_RULES} {_library_versions()}"


@lru_cache(maxsize=65536)
def math_equal(a: str, b: str) -> bool:
    """Equivalence by value with math-verify: ``025`` == ``25``, ``\\dfrac{3}{4}`` == ``0.75``, ``3\\pi`` != ``3``.

    Symmetric, as votes need: math-verify's ``verify(gold, target)`` accepts some equivalent forms in one
    direction only (an interval as the target of an inequality), so either direction counts. Raises
    :class:`ComparisonTimeout` when math-verify ran out of time (main thread only); such a result is never
    cached, here or in the on-disk memo.
    """
    a, b = strip_thousands_separators(a), strip_thousands_separators(b)
    # The fast path forgives whitespace runs only: normalize_string also folds case and strips quotes, which
    # would merge different LaTeX answers (\Gamma and \gamma).
    if _squash(a) == _squash(b):
        return True
    if _OTHER_DIGIT.search(a) or _OTHER_DIGIT.search(b):
        return False
    int_a, int_b = _INTEGER.match(a), _INTEGER.match(b)
    if int_a and int_b:  # most competition answers: no parse needed (and no int(), which caps digits)
        return _canonical_int(int_a) == _canonical_int(int_b)
    cache = answer_cache(_memo_namespace())
    known = cache.get(a, b) if cache is not None else None
    if known is None:
        known = _math_verify_equal(a, b)
        if cache is not None:
            cache.put(a, b, known)
    return known


def _canonical_int(match: re.Match[str]) -> str:
    sign, digits = match.group(1), match.group(2).lstrip("0") or "0"
    return digits if digits == "0" or sign != "-" else f"-{digits}"


def _one_way(parsed: list) -> bool:
    """True when verify treats this parse the same as gold or as target: plain expressions and strings.

    math-verify's asymmetries (assignments and equations, relations against sets, tuples against sets,
    intervals) all involve relations, sets, tuples or matrices; for anything else ``verify(a, b)`` and
    ``verify(b, a)`` take the same branches, so the second direction would repeat the first.
    """
    from sympy import Expr
    from sympy.matrices.expressions import MatrixExpr

    return all(isinstance(x, str) or (isinstance(x, Expr) and not isinstance(x, MatrixExpr)) for x in parsed)


# Values of a "generic" point: free symbols of answers are evaluated there (see _values_differ). Irrational-looking
# and unrelated, so that two different expressions are unlikely to agree there by coincidence.
_POINT = (0.7390851332, 1.3247179572, 0.5671432904, 1.6180339887, 2.2360679775, 0.3183098862, 1.4142135624)


@lru_cache(maxsize=1)
def _plain_assumptions() -> tuple[dict, ...]:
    from sympy import Symbol

    # What latex2sympy gives letters: real symbols, or symbols with no assumption but commutativity.
    return Symbol("t", real=True).assumptions0, Symbol("t").assumptions0


def _values_differ(x: object, y: object) -> bool:
    """True when x and y are expressions of different value: at a generic real point of their free symbols
    (``6\\sqrt{5}`` vs ``4``: no symbols; ``a + \\frac{a^2}{b}`` vs ``2(a+b)``).

    math-verify can only call two such expressions equal when they are the same structure, when ``evalf`` of
    their difference is 0, when ``simplify`` reduces it to 0 (an identity, so 0 at every point of its domain)
    or, with a float, when they agree to 6 decimals; a difference above 1e-5 (relative to the larger of 1 and
    their sizes) at one point, found by two evaluations, fails all of these. Symbols and symbols with other
    assumptions (integers, positive numbers: identities may need them) are left to verify, as are relations
    and intervals. Evaluating costs ~1 ms where verify's ``simplify`` costs 10-300 ms, and most answer pairs
    of a MATH problem are different.
    """
    import mpmath
    from sympy import Expr, Float, N, Symbol
    from sympy.matrices.expressions import MatrixExpr

    if not all(isinstance(v, Expr) and not isinstance(v, (MatrixExpr, Symbol)) for v in (x, y)):
        return False
    symbols = sorted(x.free_symbols | y.free_symbols, key=str)  # type: ignore[union-attr]
    if len(symbols) > len(_POINT):
        return False
    if any(type(s) is not Symbol or s.assumptions0 not in _plain_assumptions() for s in symbols):
        return False
    point = {s: Float(value, 30) for s, value in zip(symbols, _POINT, strict=False)}
    try:
        value_x, value_y, difference = (N(v, 30, subs=point) for v in (x, y, x - y))  # type: ignore[operator]
        sizes = [_size(v) for v in (value_x, value_y, difference, value_x - value_y)]
    except Exception:  # undefined functions, 0/0...: evalf fails in many ways, and verify decides
        return False
    if any(size is None for size in sizes):
        return False
    size_x, size_y, size_difference, size_gap = sizes
    tolerance = mpmath.mpf("1e-5") * max(1, size_x, size_y)
    return bool(size_difference > tolerance and size_gap > tolerance)


def _size(value: Any) -> Any:
    """|value| as an mpmath number, for a number evalf gave (complex, or past a float's range: 3^{2^{2007}});
    None for anything else (infinities, nan, expressions)."""
    import mpmath
    from sympy import Float

    parts = value.as_real_imag()
    if not all(part.is_Number and part.is_finite for part in parts):
        return None
    return mpmath.hypot(*(mpmath.mpf(Float(part, 30)._mpf_) for part in parts))


def _differ(x: object, y: object) -> bool:
    """True when verify cannot find x and y equal (False: it might).

    Strings (math-verify's fallback parse) only ever equal the same string; expressions go to
    :func:`_values_differ`. Tuples and matrices are equal only with the same length / shape and equal
    elements in order, and two finite sets only when each element of one equals one of the other.
    """
    from sympy import FiniteSet, MatrixBase, Tuple

    if isinstance(x, str) or isinstance(y, str):
        return not (isinstance(x, str) and isinstance(y, str) and x.strip() == y.strip())
    if isinstance(x, Tuple) and isinstance(y, Tuple):
        return len(x) != len(y) or any(_differ(a, b) for a, b in zip(x, y, strict=True))
    if isinstance(x, MatrixBase) and isinstance(y, MatrixBase):
        return x.shape != y.shape or any(_differ(a, b) for a, b in zip(x, y, strict=True))
    if isinstance(x, FiniteSet) and isinstance(y, FiniteSet):
        return any(all(_differ(a, b) for b in y) for a in x) or any(all(_differ(a, b) for a in x) for b in y)
    return _values_differ(x, y)


def _surely_different(parsed_a: list, parsed_b: list) -> bool:
    """True when no pair of parses verify tries can match (:func:`_differ`)."""
    return all(_differ(x, y) for x in parsed_a for y in parsed_b)


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
    pair = (min(a, b), max(a, b))
    if _limited() and pair in _VERIFY_TIMED_OUT:
        raise ComparisonTimeout(f"comparing {a!r} with {b!r}: ran out of time before")
    try:
        # One limit for everything, both directions included: a comparison costs at most _VERIFY_LIMIT_S.
        with _time_limit(_VERIFY_LIMIT_S, f"comparing {a!r} with {b!r}"):
            if _surely_different(parsed_a, parsed_b):
                return False
            if verify(parsed_a, parsed_b, timeout_seconds=None):
                return True
            if _one_way(parsed_a) and _one_way(parsed_b):
                return False
            return bool(verify(parsed_b, parsed_a, timeout_seconds=None))
    except ComparisonTimeout:
        _VERIFY_TIMED_OUT.add(pair)
        raise


@dataclass
class ComparisonStats:
    """What an :class:`AnswerChecker` has compared: equivalence checks of two answers, and those of them that
    ran out of time (counted as different answers). Approximate when several threads check at once."""

    comparisons: int = 0
    timeouts: int = 0


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
        self.stats = ComparisonStats()
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
        """Whether two answers are the same; an empty answer equals nothing, and a comparison that ran out of
        time counts as different (and in ``stats.timeouts``)."""
        if a is None or b is None or not a.strip() or not b.strip():
            return False
        self.stats.comparisons += 1
        if self.equivalence == "choice":
            return a.strip().strip("()").upper() == b.strip().strip("()").upper()
        if self.equivalence == "string":
            return normalize_string(a) == normalize_string(b)
        try:
            return math_equal(a, b)
        except ComparisonTimeout as err:
            self.stats.timeouts += 1
            log.debug("%s: counted as different answers", err)
            return False

    def _classes(self, answers: Sequence[str | None]) -> dict[str, int]:
        """Each distinct non-empty answer -> its class, numbered in canonical order (see :meth:`group`)."""
        representatives: list[str] = []
        classes: dict[str, int] = {}
        for answer in sorted({a for a in answers if a is not None and a.strip()}):
            found = next((i for i, rep in enumerate(representatives) if self.equivalent(answer, rep)), None)
            if found is None:
                found = len(representatives)
                representatives.append(answer)
            classes[answer] = found
        return classes

    def group(self, answers: Sequence[str | None]) -> list[int | None]:
        """Assign each answer the index of its equivalence class (None for no answer, "" included).

        The classes depend only on the set of distinct strings, never on their order: the strings are taken in
        sorted (code point) order and each joins the class of the earliest representative it is equivalent to,
        else founds a class. A fixed order matters because equivalence is not transitive (``0.333333`` equals
        both ``1/3`` and ``\\frac{333333}{1000000}``, which differ). Labels are numbered by first appearance.
        Each distinct string is compared with each representative at most once, so 512 traces with a handful
        of distinct answers cost a handful of equivalence checks.
        """
        classes = self._classes(answers)
        numbers: dict[int, int] = {}
        labels: list[int | None] = []
        for answer in answers:
            if answer is None or answer not in classes:
                labels.append(None)
                continue
            labels.append(numbers.setdefault(classes[answer], len(numbers)))
        return labels

    def vote(self, answers: Sequence[str | None], weights: Sequence[float] | None = None) -> str | None:
        """Weighted majority over equivalence classes; returns the winner's most weighted spelling.

        The classes are those of :meth:`group`, the same for any order of ``answers``, and their weights are
        exact sums (``math.fsum``, so the order of adding cannot make or break a tie): the winner does not
        depend on arrival order unless classes tie. Arrival order decides only ties: between classes, the one
        whose first member arrives first wins (as DeepConf's reference voting does), and within the winner,
        of equally weighted spellings the one seen first is returned.
        """
        weights = [1.0] * len(answers) if weights is None else list(weights)
        if len(weights) != len(answers):
            raise ValueError(f"{len(answers)} answers but {len(weights)} weights")
        classes = self._classes(answers)
        spellings: dict[str, list[float]] = {}  # insertion order = arrival order, here and below
        for answer, weight in zip(answers, weights, strict=True):
            if answer is not None and answer in classes:
                spellings.setdefault(answer, []).append(float(weight))
        if not spellings:
            return None
        by_class: dict[int, list[float]] = {}
        for answer, answer_weights in spellings.items():
            by_class.setdefault(classes[answer], []).extend(answer_weights)
        totals = {label: math.fsum(class_weights) for label, class_weights in by_class.items()}
        best = max(totals, key=totals.__getitem__)  # max() keeps the first of equal keys: the first seen
        return max((a for a in spellings if classes[a] == best), key=lambda a: math.fsum(spellings[a]))

    def is_correct(self, predicted: str | None, gold: str) -> bool:
        return self.equivalent(predicted, gold)
