import pytest

from deepprune.data.tokenizer import TokenCounter
from deepprune.data.truncation import FirstTokens, ReasoningWords, Truncator, truncation_from_config


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


def test_rules_compare_by_value_and_round_trip_through_their_config():
    assert FirstTokens(8) == FirstTokens(8.0) and FirstTokens(8) != FirstTokens(9)
    assert ReasoningWords(2, ["hmm", "so"]) == ReasoningWords(2, ("hmm", "so")) != ReasoningWords(2, ("hmm",))
    assert FirstTokens(8) != ReasoningWords(8)
    for rule in (FirstTokens(8), ReasoningWords(2, ("hmm",))):
        assert truncation_from_config(rule.config()) == rule
    # judge.json format 1 stored the config node with its name
    assert truncation_from_config({"name": "first_tokens", "k": 32}) == FirstTokens(32)
    assert truncation_from_config({"name": "reasoning_words", "k": 2, "words": ["hmm"]}).words == ("hmm",)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"name": "middle", "k": 3}, "unknown truncation rule 'middle'"),
        ({"_target_": "os.system", "k": 3}, "unknown truncation rule 'os.system'"),
        ({"_target_": "deepprune.data.truncation.FirstTokens", "k": 3, "words": ["so"]}, "unexpected keyword"),
        ({"name": "first_tokens"}, "missing 1 required"),
    ],
)
def test_stored_truncation_is_checked(config, message):
    with pytest.raises(ValueError, match=f"^judge.json: .*{message}"):
        truncation_from_config(config, "judge.json")


def test_bad_k_names_the_key():
    with pytest.raises(ValueError, match="truncation.k"):
        FirstTokens(0)
