"""Answer classes that neither merge nor split wrongly, whatever the order the answers arrive in.

Thousands separators name one number; other scripts' digits are no ASCII digits; equivalence is not
transitive (``0.333333`` equals ``1/3`` and ``\\frac{333333}{1000000}``, which differ), yet group() and vote()
give the same classes and the same winning class for every permutation. Labelling builds pairs with one
group() per problem and shows progress.
"""

from __future__ import annotations

import logging
import random

import math_verify
import pytest

from deepprune.data import answers
from deepprune.data.answers import AnswerChecker, math_equal, strip_thousands_separators
from deepprune.data.pairs import build_pairs, label_problems, labelling_progress
from deepprune.data.schema import Problem, Trace
from tests.helpers.training import data_config, write_traces

SEPARATED = [
    (r"1\,000", "1000"),
    ("1{,}000", "1000"),
    (r"12,\!650", "12650"),
    (r"32,\!000,\!000", "32000000"),
    ("1 000", "1000"),
    ("2 000 000", "2000000"),
    ("1~000", "1000"),
    ("1\u2009000", "1000"),
    ("1,000", "1000"),
    ("-1,000", "-1000"),
    ("1,000.5", "1000.5"),
    (r"\$75{,}000", r"\$75000"),
    (r"9000+0.5\sqrt{5\,000\,000}", r"9000+0.5\sqrt{5000000}"),
    ("x = 1 000", "x = 1000"),
    # Not thousands: tuples, intervals, lists, sets, subscripts, groups that are not exactly 3 digits.
    ("(1, 2)", "(1, 2)"),
    ("(304,260)", "(304,260)"),
    ("[1,000, 2]", "[1,000, 2]"),
    ("1,2,3", "1,2,3"),
    ("1,000, 2", "1,000, 2"),
    (r"\{1,000\}", r"\{1,000\}"),
    ("0,500", "0,500"),
    ("1,0000", "1,0000"),
    ("1 0000", "1 0000"),
    ("12 1 000", "12 1 000"),
    (r"\log_2 101", r"\log_2 101"),
]


@pytest.mark.parametrize(("answer", "stripped"), SEPARATED, ids=[a for a, _ in SEPARATED])
def test_thousands_separators_are_stripped_only_where_unambiguous(answer, stripped):
    assert strip_thousands_separators(answer) == stripped


EQUAL = [
    (r"1\,000", "1000", True),
    (r"1\,000", r"2\,000", False),
    (r"1\,000", "0", False),
    ("1 000", "1000", True),
    ("1 000", "0", False),
    ("1{,}000", r"1\,000", True),
    (r"12,\!650", "12650", True),
    ("1,000", "1000", True),
    (r"1\,000\,000", "10^6", True),
    ("(1, 2)", "12", False),
    ("(1,2)", "(1, 2)", True),
    ("1,2,3", "123", False),
    # Other scripts' digits are no numbers, on the fast path (integers) and the slow one (math-verify) alike.
    ("٣", "3", False),
    ("３", "3", False),
    ("٣", "３", False),
    ("-٣", "-3", False),
    ("١٠٠٠", "1000", False),
    (r"1\,٠٠٠", "1000", False),
    (r"\frac{３}{4}", "0.75", False),
    ("x+３", "x+3", False),
    ("3٣", "33", False),
    ("٣", "٣", True),
    ("３ ", " ３", True),
]


@pytest.mark.parametrize(("a", "b", "same"), EQUAL, ids=[f"{a} vs {b}" for a, b, _ in EQUAL])
def test_separators_and_digits(a, b, same):
    checker = AnswerChecker(equivalence="math")
    assert checker.equivalent(a, b) is same
    assert checker.equivalent(b, a) is same
    assert math_equal(a, b) is same


def test_other_digits_are_their_own_classes():
    assert AnswerChecker().group(["3", "٣", "３", "003", "٣"]) == [0, 1, 2, 0, 1]


# 0.333333 ~ 1/3 ~ 0.3333333 ~ 333333/1000000 but 1/3 !~ 333333/1000000: not transitive. Together the thirds
# have 5 votes and win (halves and thousands have 4); split by the order answers arrive in (333333/1000000
# apart from 1/3, as grouping in arrival order does when 1/3 comes first), the halves' 4 would.
MULTISET = [
    "0.333333",
    "0.3333333",
    "1/3",
    r"\frac{333333}{1000000}",
    r"\frac{333333}{1000000}",
    "0.5",
    "0.5",
    r"\frac{1}{2}",
    r"\frac12",
    r"1\,000",
    "1 000",
    "1000",
    "1{,}000",
    r"2\,000",
    None,
    "",
]


def _partition(answers, labels):
    classes: dict[int, set[str]] = {}
    for answer, label in zip(answers, labels, strict=True):
        if label is not None:
            classes.setdefault(label, set()).add(answer)
    return frozenset(frozenset(members) for members in classes.values())


def test_non_transitive_equivalence_really_is():
    assert math_equal("0.333333", "1/3") and math_equal("0.333333", r"\frac{333333}{1000000}")
    assert not math_equal("1/3", r"\frac{333333}{1000000}")


def test_classes_and_winner_do_not_depend_on_order():
    checker = AnswerChecker(equivalence="math")
    rng = random.Random(0)
    partitions, winners = set(), set()
    for _ in range(200):
        answers = MULTISET[:]
        rng.shuffle(answers)
        partition = _partition(answers, checker.group(answers))
        partitions.add(partition)
        winner = checker.vote(answers)
        winners.add(next(members for members in partition if winner in members))
    assert len(partitions) == 1 and len(winners) == 1
    (partition,) = partitions
    assert frozenset({r"1\,000", "1 000", "1000", "1{,}000"}) in partition
    assert frozenset({r"2\,000"}) in partition
    assert frozenset({"0.5", r"\frac{1}{2}", r"\frac12"}) in partition
    assert frozenset({"0.333333", "0.3333333", "1/3", r"\frac{333333}{1000000}"}) in partition
    (winner,) = winners
    assert "1/3" in winner


def test_weighted_ties_are_exact_and_go_to_the_class_seen_first():
    # 0.1 + 0.2 + 0.3 is 0.6000000000000001 added in that order and 0.6 in the reverse one: exact sums make
    # the tie with a single 0.6 a tie in every order, won by the class that arrives first.
    checker = AnswerChecker(equivalence="string")
    votes = [("b", 0.1), ("b", 0.2), ("b", 0.3), ("a", 0.6)]
    rng = random.Random(1)
    for _ in range(50):
        rng.shuffle(votes)
        assert checker.vote([a for a, _ in votes], [w for _, w in votes]) == votes[0][0]
    assert checker.vote(["b", "a", "a", "b", "c"], [1.0, 0.5, 0.5, 0.0, 0.9]) == "b"


def test_the_winners_most_weighted_spelling_is_returned():
    checker = AnswerChecker(equivalence="math")
    assert checker.vote(["0.5", r"\frac12", r"\frac12", "3"]) == r"\frac12"
    assert checker.vote([r"\frac12", "0.5", "3"]) == r"\frac12"  # equal weights: the first seen


def test_group_compares_distinct_answers_once_per_class():
    checker = AnswerChecker(equivalence="math")
    checker.group(["1/2", "0.5", "3", "1/2", "0.5", "3", None, ""] * 64)
    # 3 distinct strings in sorted order: "0.5" founds a class, "1/2" joins it, "3" founds another.
    assert checker.stats.comparisons == 2


class _WholeText:
    """Stands in for a Truncator: the whole trace, counted in words."""

    def apply(self, text):
        return text, len(text.split())


def _problem(pid, answers):
    traces = [Trace(text=f"trace {i} says {a}", answer=a) for i, a in enumerate(answers)]
    return Problem(id=pid, question="q", gold="1", traces=traces)


def test_pairs_never_pair_empty_answers_as_same():
    problems = [_problem("p", ["", "  ", "1", "1.0", None])]
    checker = AnswerChecker(equivalence="math")
    examples = build_pairs(problems, _WholeText(), checker, pairs_per_problem=10)
    # Only "1" and "1.0" have answers: one pair, the same answer.
    assert [(e.text_a, e.text_b, e.label) for e in examples] == [("trace 2 says 1", "trace 3 says 1.0", 1)]


def test_labelling_logs_progress_every_tenth_when_not_a_terminal(caplog):
    problems = [_problem(f"p{i}", ["1", "2"]) for i in range(25)]
    with caplog.at_level(logging.INFO, logger="deepprune.data.pairs"):
        seen = list(labelling_progress(iter(problems), len(problems), "pairs (train)"))
    assert seen == problems
    lines = [r.getMessage() for r in caplog.records if r.name == "deepprune.data.pairs"]
    assert len(lines) == 9  # every 3 problems (ceil(25 / 10)), and the last
    assert lines[0].startswith("pairs (train): 3/25 problems (12%)")
    assert lines[-1].startswith("pairs (train): 25/25 problems (100%)")


@pytest.mark.slow
def test_worker_processes_label_like_one_process():
    problems = [
        _problem("p0", ["1/2", "0.5", r"1\,000", "1000", None]),
        _problem("p1", [r"3\pi", "3", r"\pi \cdot 3", ""]),
        _problem("p2", ["(1, 2)", "(1,2)", "(2,1)"]),
    ]
    alone, pooled = AnswerChecker(), AnswerChecker()
    expected = label_problems(problems, alone)
    assert expected == [[0, 0, 1, 1], [0, 1, 0], [0, 0, 1]]
    assert label_problems(problems, pooled, workers=2) == expected
    assert pooled.stats == alone.stats


# Pairs the checker rejects without verify (different values, tuple lengths, matrix shapes, set elements),
# and some it must leave to verify (equal ones, relations, intervals, symbols, integer symbols).
FAST = [
    (r"6\sqrt{5}", "4"),
    (r"\frac{9\pi}{4}", r"2\sqrt{5} - 2\sqrt{2}"),
    (r"a + \frac{a^2}{b}", "2(a+b)"),
    (r"\frac{1}{x^2 - x^{-2}}", r"\frac{1}{x^2 - 1}"),
    (r"\sqrt{8}", r"2\sqrt{2}"),
    (r"\frac{x}{3}", r"\frac{1}{3}x"),
    ("0.333333", r"\frac{1}{3}"),
    ("0.3333334", "0.3333336"),
    ("(1, 2, 3)", "(1, 2, 3, 4)"),
    (r"(\sqrt{2}, 1, 0)", r"(\sqrt{2}, 2, 0)"),
    (r"(\sqrt{2}, 1, 0)", r"(\frac{2}{\sqrt{2}}, 1, 0)"),
    (r"\begin{pmatrix}1\\2\end{pmatrix}", r"\begin{pmatrix}1 & 2\end{pmatrix}"),
    (r"\begin{pmatrix}1\\2\end{pmatrix}", r"\begin{pmatrix}1\\\sqrt{4}\end{pmatrix}"),
    (r"\{1, 2\}", r"\{2, \sqrt{4}, 1\}"),
    (r"\{1, 2\}", r"\{1, 3\}"),
    ("3^{2^{2007}}", "2"),
    ("x = 5", "5"),
    ("y = 2x + 1", "y - 1 = 2x"),
    ("[1, 2)", "(1, 2]"),
    ("ab", "a b"),
    (r"\text{odd}", r"\text{even}"),
    ("e", r"e^{1}"),
    ("3+2i", "2i+3"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("a", "b"), FAST, ids=[f"{a} vs {b}" for a, b in FAST])
def test_fast_rejections_agree_with_verify(a, b):
    parse = answers._math_parse
    verified = math_verify.verify(parse(a), parse(b)) or math_verify.verify(parse(b), parse(a))
    assert math_equal(a, b) is verified


def test_different_values_need_no_verify(monkeypatch):
    def no_verify(*args, **kwargs):
        raise AssertionError("verify called")

    answers.math_equal.cache_clear()
    monkeypatch.setattr(math_verify, "verify", no_verify)
    for a, b in FAST[:4] + FAST[8:10] + FAST[11:12] + FAST[14:16]:
        assert not math_equal(a, b), (a, b)


def test_values_verify_misjudges_are_told_apart():
    """sympy's evalf(chop=True) of the difference returns 0 for these, so verify calls them equal; the value
    check (two evaluations at 30 digits) keeps them apart: -1/3 is not 1/3, and (4/3)^1003 is not 2^-2006."""
    for a, b in [
        (r"\frac{5 - 4^{100}}{3 \cdot 4^{100}}", r"\frac{4^{98} + 455}{3 \cdot 4^{98}}"),
        (r"\frac{2^{2006}}{3^{1003}}", r"\frac{1}{2^{2006}}"),
    ]:
        assert math_verify.verify(answers._math_parse(a), answers._math_parse(b))
        assert not math_equal(a, b)


def test_datamodule_logs_labelling_progress_and_cost(tmp_path, caplog):
    from deepprune.data.truncation import FirstTokens
    from deepprune.training.datamodule import JudgeDataModule

    data = data_config(write_traces(tmp_path / "t.jsonl", num_problems=20), pairs_per_problem=4, batch_size=4)
    checker = AnswerChecker("answer_is", "string", None)
    module = JudgeDataModule(data, FirstTokens(64), checker, lambda items: items, None)
    with caplog.at_level(logging.INFO):
        module.setup("fit")
    lines = [r.getMessage() for r in caplog.records]
    assert "pairs (train): 12/12 problems (100%)" in " ".join(lines)
    assert "pairs (test): 5/5 problems (100%)" in " ".join(lines)
    (summary,) = [line for line in lines if line.startswith("labelled ")]
    assert summary.startswith("labelled 20 problems in ")
    assert f"{checker.stats.comparisons} answer comparisons, 0 time-outs" in summary
