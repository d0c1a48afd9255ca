import pytest

from deepprune.data.answers import AnswerChecker, extract_answer_is, extract_boxed, extract_choice, normalize_string


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r"so \boxed{42}", "42"),
        (r"first \boxed{1} then \boxed{\frac{1}{2}}", r"\frac{1}{2}"),
        (r"\boxed{x^{2}+\sqrt{y_{1}}}", r"x^{2}+\sqrt{y_{1}}"),
        (r"\boxed {7}", "7"),
        (r"\boxed{5} and an unclosed \boxed{6", "5"),
        ("no box here", None),
    ],
)
def test_extract_boxed(text, expected):
    assert extract_boxed(text) == expected


def test_extract_answer_is_takes_last_and_strips_quotes():
    assert extract_answer_is('The answer is foo. Wait, the answer is "yajo".') == "yajo"
    assert extract_answer_is("Thus the answer is: 12\nDone") == "12"
    assert extract_answer_is("nothing stated") is None


def test_extract_choice():
    assert extract_choice(r"thus \boxed{C}") == "C"
    assert extract_choice("so the answer is (b)") == "B"
    assert extract_choice("no option") is None


def test_regex_extractor_last_match_and_group():
    checker = AnswerChecker(extractor="regex", equivalence="string", regex=r"ANS=(\w+)")
    assert checker.extract("ANS=foo then ANS=bar") == "bar"
    with pytest.raises(ValueError, match="answer.regex"):
        AnswerChecker(extractor="regex")


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("1/2", r"\frac{1}{2}", True),
        ("0.5", "1/2", True),
        ("025", "25", True),
        (r"\boxed{3}", "3", True),
        ("3", "4", False),
        ("x+1", "1+x", True),
    ],
)
def test_math_equivalence(a, b, same):
    assert AnswerChecker(equivalence="math").equivalent(a, b) is same


def test_choice_and_string_equivalence():
    assert AnswerChecker("choice", "choice").equivalent("(a)", "A")
    assert not AnswerChecker("choice", "choice").equivalent("A", "B")
    assert AnswerChecker("answer_is", "string").equivalent("'Yajo'.", "yajo")
    assert normalize_string('  "Hello   World". ') == "hello world"


def test_invalid_config_names_key():
    with pytest.raises(ValueError, match="answer.extractor"):
        AnswerChecker(extractor="nope")
    with pytest.raises(ValueError, match="answer.equivalence"):
        AnswerChecker(equivalence="nope")


def test_vote_groups_equivalent_answers_and_skips_missing():
    checker = AnswerChecker(equivalence="math")
    # Raw strings "3" win 2-to-1 per string, but 1/2, 0.5 and \frac{1}{2} are one answer with 3 votes.
    assert checker.vote(["3", "1/2", "3", "0.5", r"\frac{1}{2}", None, None, None]) == "1/2"
    assert checker.vote([None, None]) is None


def test_vote_weights_and_first_seen_tie_break():
    checker = AnswerChecker(equivalence="string")
    assert checker.vote(["a", "b", "b"], [3.0, 1.0, 1.0]) == "a"
    assert checker.vote(["b", "a"]) == "b"
    with pytest.raises(ValueError):
        checker.vote(["a"], [1.0, 2.0])
