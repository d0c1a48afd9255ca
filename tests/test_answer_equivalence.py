"""Math equivalence by value on the answer forms MATH / AIME / GPQA traces produce (extracted \\boxed contents).

Every pair is checked in both directions: votes compare answers in arrival order, so the relation must be
symmetric.
"""

import threading

import math_verify
import pytest

from deepprune.data import answers
from deepprune.data.answers import AnswerChecker, math_equal

# (a, b, equivalent): real-looking extracted answers, no \boxed{} unless stated.
TABLE = [
    # The measured defects: a leading number must not stand for the whole answer.
    (r"3\pi", "3", False),
    (r"2\sqrt{2}", "2", False),
    (r"\dfrac{3}{4}", r"\frac{3}{4}", True),
    (r"\tfrac34", "0.75", True),
    (r"\sqrt{4}", "2", True),
    (r"\pi", "3", False),
    (r"\infty", "1", False),
    # Fractions and decimals.
    ("1/2", r"\frac{1}{2}", True),
    ("0.5", r"\frac12", True),
    (r"-\frac{1}{2}", "-0.5", True),
    (r"-\frac12", r"\frac12", False),
    (r"\frac{9}{4}", "2.25", True),
    (r"\frac94", r"\frac49", False),
    (r"\frac{1}{3}", "0.333", False),
    # Radicals and pi.
    (r"2\sqrt{2}", r"\sqrt{8}", True),
    (r"2\sqrt{3}", r"\sqrt{12}", True),
    (r"\frac{\sqrt{3}}{2}", r"\sqrt3/2", True),
    (r"\frac{\sqrt{2}}{2}", r"\frac{1}{\sqrt{2}}", True),
    (r"\sqrt{2}", r"\sqrt{3}", False),
    (r"3\pi", r"\pi \cdot 3", True),
    (r"\dfrac{\pi}{4}", r"\frac{\pi}{4}", True),
    (r"\frac{\pi}{4}", r"\frac{\pi}{2}", False),
    (r"\pi", "3.14", False),
    (r"\infty", r"-\infty", False),
    # Intervals, tuples, sets.
    ("(1, 2)", "(1,2)", True),
    ("(1,2)", "(2,1)", False),
    (r"\left( 1, 2 \right)", "(1,2)", True),
    ("[1, 2)", "[1,2)", True),
    ("[1,2)", "(1,2]", False),
    ("(0,1)", "(0,1]", False),
    (r"(-\infty, 3]", r"(-\infty,3]", True),
    (r"(-\infty, 3]", r"(-\infty, 3)", False),
    ("0<x<1", "(0,1)", True),
    (r"\{1, 2\}", r"\{2,1\}", True),
    (r"\{1, 2\}", r"\{1, 3\}", False),
    ("(3, -1, 2)", "(3,-1,2)", True),
    ("(3, -1, 2)", "(3, 1, 2)", False),
    # Degrees, units, percent.
    (r"90^\circ", "90", True),
    (r"90^{\circ}", r"90^\circ", True),
    (r"90^\circ", r"45^\circ", False),
    (r"5\text{ cm}", "5", True),
    (r"5\text{ cm}", r"6\text{ cm}", False),
    (r"12.5\%", "12.5", True),
    (r"50\%", r"25\%", False),
    (r"\$5", "5", True),
    # AIME integers: leading zeros, thousands separators.
    ("025", "25", True),
    ("007", "7", True),
    ("025", "250", False),
    ("1,000", "1000", True),
    ("10^{3}", "1000", True),
    # Expressions, equations, complex numbers, matrices.
    ("2x+1", "1+2x", True),
    ("x^2+1", "x^2-1", False),
    ("x=5", "5", True),
    ("x=3", "y=3", False),
    ("3+2i", "2i+3", True),
    ("3+2i", "3-2i", False),
    (r"\begin{pmatrix}1\\2\end{pmatrix}", r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}", True),
    (r"\begin{pmatrix}1\\2\end{pmatrix}", r"\begin{pmatrix}2\\1\end{pmatrix}", False),
    # Words and multiple-choice letters.
    (r"\text{odd}", r"\text{even}", False),
    ("A", r"\text{(A)}", True),
    (r"\textbf{(C)}", "C", True),
    ("(D)", "D", True),
    ("A", "B", False),
    # Case is not folded by the string fast path (math-verify keeps these apart).
    (r"\Gamma", r"\gamma", False),
    # Answers that already carry delimiters or \boxed parse as they are.
    (r"$\frac{1}{2}$", "0.5", True),
    (r"\(\frac12\)", "1/2", True),
    (r"\boxed{\dfrac{3}{4}}", "0.75", True),
    (r"\boxed{3\pi}", "3", False),
]


@pytest.mark.parametrize(("a", "b", "same"), TABLE, ids=[f"{a} vs {b}" for a, b, _ in TABLE])
def test_math_equivalence_table(a, b, same):
    checker = AnswerChecker(equivalence="math")
    assert checker.equivalent(a, b) is same
    assert checker.equivalent(b, a) is same


def test_table_covers_both_outcomes():
    assert len(TABLE) >= 40
    assert sum(same for *_, same in TABLE) >= 20 and sum(not same for *_, same in TABLE) >= 20


def test_vote_never_merges_non_equivalent_answers():
    checker = AnswerChecker(equivalence="math")
    answers_ = [r"3\pi", "3", r"2\sqrt{2}", "2", r"\sqrt{8}", "003", r"\pi \cdot 3", None]
    assert checker.group(answers_) == [0, 1, 2, 3, 2, 1, 0, None]
    # Merged (the old defect), 3pi with 3 and 2sqrt2 with 2 would tie 4-4 and "3" would win; by value 2sqrt2
    # (with sqrt8) wins 3 to 2, and two more 3pi make 3pi win.
    vote = ["3", "3", r"3\pi", r"3\pi", "2", r"2\sqrt{2}", r"\sqrt{8}", r"2\sqrt{2}"]
    assert checker.vote(vote) == r"2\sqrt{2}"
    assert checker.vote(vote + [r"3\pi", r"3\pi"]) == r"3\pi"


def test_parsing_is_cached_per_distinct_string(monkeypatch):
    """A 512-trace vote over 8 distinct answer strings (plus missing answers) costs 8 math-verify parses, and
    grading the winner against the gold costs 1 more: 9 in all, not one per trace or per pair of traces."""
    answers.math_equal.cache_clear()
    answers._math_parse.cache_clear()
    real_parse, calls = math_verify.parse, []

    def counting_parse(*args, **kwargs):
        calls.append(args[0])
        return real_parse(*args, **kwargs)

    monkeypatch.setattr(math_verify, "parse", counting_parse)
    distinct = [r"\dfrac{5}{8}", "0.625", r"5\pi", "5", r"3\sqrt{3}", "005", r"\sqrt{27}", r"\frac{10}{16}", None]
    traces = [distinct[i % len(distinct)] for i in range(512)]
    checker = AnswerChecker(equivalence="math")
    winner = checker.vote(traces)
    assert winner == r"\dfrac{5}{8}"  # 5/8 has three spellings, more votes than any other class
    assert len(calls) == 8 and len(set(calls)) == 8
    assert checker.is_correct(winner, "5/8")
    assert len(calls) == 9


def test_math_equal_works_off_the_main_thread():
    # math-verify's default time bound uses signal.alarm, which raises outside the main thread.
    math_equal.cache_clear()
    answers._math_parse.cache_clear()
    results: list[object] = []

    def work() -> None:
        try:
            results.append((math_equal(r"\frac{7}{8}", "0.875"), math_equal(r"7\pi", "7")))
        except Exception as err:  # noqa: BLE001 - the failure itself is what the test reports
            results.append(err)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(timeout=60)
    assert results == [(True, False)]
