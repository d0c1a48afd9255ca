"""One token unit per trace in replay: a stopped trace's prefix and a finished trace's length are counted by
the same tokenizer, with and without a known generating tokenizer, and a prefix never costs more than the
whole trace."""

import json
import shutil

import pytest

from deepprune.data.answers import AnswerChecker
from deepprune.data.tokenizer import TokenCounter, bundled_minilm_path
from deepprune.data.truncation import FirstTokens
from deepprune.engines.base import ConfidenceBelow, End
from deepprune.engines.replay import ReplayEngine

CHECKER = AnswerChecker("answer_is", "string")
# Words the MiniLM WordPiece splits into several tokens, so its counts differ from a word count.
TEXT = "unbelievably complicated reasoning about photosynthesis " * 6 + "so the answer is 7"


def write(path, tokenizer=None, num_tokens=3, confs=None):
    record = {"id": "p", "question": "q", "gold": "7", "traces": [{"text": TEXT, "num_tokens": num_tokens}]}
    if confs is not None:
        record["traces"][0]["confs"] = confs
    if tokenizer is not None:
        record["tokenizer"] = tokenizer
    path.write_text(json.dumps(record) + "\n")
    return str(path)


def run(engine, until):
    spec = next(engine.problems())
    [handle] = engine.start(spec, None)
    engine.advance([handle], until)
    return handle


@pytest.fixture(scope="module")
def minilm_count():
    return TokenCounter().count(TEXT)


def test_unknown_tokenizer_recounts_both_prefix_and_full_trace(tmp_path, minilm_count):
    # Stored count 3 was made by who knows what: replay ignores it and counts everything with MiniLM.
    engine = ReplayEngine(write(tmp_path / "t.jsonl"), None, extract_answer=CHECKER.extract)
    assert run(engine, End()).num_tokens == minilm_count > 3
    engine = ReplayEngine(write(tmp_path / "t.jsonl"), None, extract_answer=CHECKER.extract)
    prefix = run(engine, FirstTokens(8))
    assert prefix.num_tokens == 8 and prefix.stopped is False and prefix.finished is False
    assert engine.describe()["token_unit"] == bundled_minilm_path()
    assert engine.describe()["recounted_problems"] == 1


def test_known_tokenizer_uses_stored_counts_and_caps_prefixes(tmp_path, minilm_count):
    # The record says MiniLM counted its 20 tokens: stored counts are used, and a 32-token prefix of a
    # trace stored as 20 tokens costs 20, never more than the whole trace.
    path = write(tmp_path / "t.jsonl", tokenizer=bundled_minilm_path(), num_tokens=20)
    engine = ReplayEngine(path, None, extract_answer=CHECKER.extract)
    assert run(engine, End()).num_tokens == 20
    engine = ReplayEngine(path, None, extract_answer=CHECKER.extract)
    assert run(engine, FirstTokens(32)).num_tokens == 20
    assert engine.describe()["recounted_problems"] == 0


def test_a_file_without_counts_is_counted_not_recounted(tmp_path, minilm_count, caplog):
    # Nothing stored (the dev and MATH files): counted with the counting tokenizer, no "recounting" warning.
    engine = ReplayEngine(write(tmp_path / "t.jsonl", num_tokens=None), None, extract_answer=CHECKER.extract)
    with caplog.at_level("WARNING"):
        assert run(engine, End()).num_tokens == minilm_count
    assert engine.describe()["recounted_problems"] == 0
    assert "recounting" not in caplog.text


def test_relocated_tokenizer_matches_by_content(tmp_path):
    # The generating tokenizer was copied elsewhere: same tokenization, so the stored counts stay valid.
    moved = shutil.copytree(bundled_minilm_path(), tmp_path / "moved")
    engine = ReplayEngine(write(tmp_path / "t.jsonl", tokenizer=str(moved), num_tokens=20), bundled_minilm_path())
    assert run(engine, End()).num_tokens == 20


def test_configured_tokenizer_differing_from_recorded_recounts(tmp_path, minilm_count):
    engine = ReplayEngine(write(tmp_path / "t.jsonl", tokenizer="some-org/unknown-model"), bundled_minilm_path())
    assert run(engine, End()).num_tokens == minilm_count


def test_confidence_stop_is_charged_in_the_counting_unit(tmp_path, minilm_count):
    # 10 generated-token confidences, unknown unit: a stop after 5 of 10 generated tokens costs half the
    # recounted length, not 5 tokens of another unit.
    confs = [5.0] * 4 + [0.1] * 6
    engine = ReplayEngine(write(tmp_path / "t.jsonl", num_tokens=10, confs=confs), None)
    handle = run(engine, ConfidenceBelow(1.0, window=2))
    assert handle.finish_reason == "confidence" and handle.stopped
    assert handle.num_tokens == -(-minilm_count * 6 // 10)  # window [4, 5] ends at token 5: 6 tokens kept


def test_window_first_below_at_the_last_token_stops_the_trace(tmp_path):
    # Known unit (stored counts = confs): the only low window ends at the last token; the trace is stopped
    # there (EOS instead of its answer), as live and in the reference, so it does not vote.
    confs = [5.0] * 9 + [0.1]
    path = write(tmp_path / "t.jsonl", tokenizer=bundled_minilm_path(), num_tokens=10, confs=confs)
    handle = run(ReplayEngine(path, None), ConfidenceBelow(3.0, window=2))
    assert handle.stopped and not handle.finished and handle.finish_reason == "confidence"
    assert handle.num_tokens == 10 and handle.answer is None
