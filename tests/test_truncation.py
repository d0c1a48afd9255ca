import pytest

from deepprune.data.tokenizer import TokenCounter
from deepprune.data.truncation import FirstTokens, ReasoningWords, Truncator, make_truncation


@pytest.fixture(scope="module")
def counter():
    return TokenCounter()


def test_first_tokens_keeps_original_characters(counter):
    text = "The Cat SAT on the mat, then it ran."
    prefix, tokens = Truncator(FirstTokens(4), counter).apply(text)
    assert prefix == "The Cat SAT on" and tokens == 4
    assert Truncator(FirstTokens(100), counter).apply(text) == (text, counter.count(text))


def test_reasoning_words_counts_whole_words_case_insensitive(counter):
    text = "Also, we start. Wait, the sum is 5. Let me check: so it is 5. Therefore done."
    rule = ReasoningWords(3)
    prefix, tokens = Truncator(rule, counter).apply(text)
    # "Also" must not count as "so"; markers: Wait(1), Let me(2), check(3)
    assert prefix == "Also, we start. Wait, the sum is 5. Let me check"
    assert tokens == counter.count(prefix)


def test_reasoning_words_fewer_markers_returns_whole_text(counter):
    text = "no markers at all here"
    assert Truncator(ReasoningWords(2), counter).apply(text)[0] == text


def test_make_truncation_validates():
    assert make_truncation("first_tokens", 8) == FirstTokens(8)
    assert make_truncation("reasoning_words", 2, ["hmm"]).words == ("hmm",)
    with pytest.raises(ValueError, match="truncation.name"):
        make_truncation("middle", 3)
    with pytest.raises(ValueError, match="truncation.k"):
        FirstTokens(0)
