"""TokenCounter.cut keeps its latest cuts (replay cuts each trace at the same k for every run on a problem)."""

from __future__ import annotations

from deepprune.data import tokenizer
from deepprune.data.tokenizer import TokenCounter


def test_a_kept_cut_is_the_cut_of_that_text_at_that_k(monkeypatch):
    monkeypatch.setattr(tokenizer, "CUT_CACHE_SIZE", 2)
    counter = TokenCounter()
    text = "the cat sat on the mat and then it ran far away home"
    first = [counter.cut(text, k) for k in (3, 5, 50)]
    assert first == [("the cat sat", 3), ("the cat sat on the", 5), (text, 13)]
    # Asked again, in another order and after evictions (2 kept), every cut is still its own.
    assert [counter.cut(text, k) for k in (50, 3, 5, 3)] == [first[2], first[0], first[1], first[0]]
    assert counter.cut("home again", 1) == ("home", 1)
