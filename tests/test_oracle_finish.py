"""Unanswered traces: the oracle never pairs them, and DeepPrune's finishing rule moves past them."""

import numpy as np
import pytest

from deepprune.data.answers import AnswerChecker
from deepprune.data.io import write_problems
from deepprune.data.truncation import FirstTokens
from deepprune.engines.replay import ReplayEngine
from deepprune.judges.base import Judge, Prefix
from deepprune.judges.oracle import OracleJudge
from deepprune.methods.cons import ConsMethod
from deepprune.methods.deepprune import DeepPruneMethod
from tests.helpers.traces import make_problem

CHECKER = AnswerChecker("answer_is", "string")


class AnswerlessAlikeJudge(Judge):
    """A judge that takes two answerless traces for "the same" (their openings look alike), as a learned
    judge may: it reads the stored final answers and scores 1 for equal ones, None == None included."""

    name = "answerless_alike"

    def _score(self, pairs):
        return np.array([float(a.final_answer == b.final_answer) for a, b in pairs])


class ConstantJudge(Judge):
    name = "constant"

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def _score(self, pairs):
        return np.full(len(pairs), self.value)


def engine_for(tmp_path, answers: list[str | None], gold: str) -> ReplayEngine:
    write_problems(tmp_path / "p.jsonl", [make_problem("p", gold, answers)])
    return ReplayEngine(str(tmp_path / "p.jsonl"), extract_answer=CHECKER.extract)


def mixed_answers() -> list[str | None]:
    """15 unanswered, 12 "a" and 13 "b" traces in a seeded arrival order (gold is "b")."""
    answers: list[str | None] = [None] * 15 + ["a"] * 12 + ["b"] * 13
    order = np.random.default_rng(0).permutation(len(answers))
    return [answers[i] for i in order]


def full_lengths(engine: ReplayEngine, spec) -> list[int]:
    """Each trace's full token count, as the engine counts it when the trace runs to its end."""
    return [t.num_tokens for t in ConsMethod(None).run(spec, engine, CHECKER).traces]


def test_oracle_scores_pairs_with_an_unanswered_trace_as_different():
    def prefix(answer):
        return Prefix("text", 3, final_answer=answer, final_known=True)

    pairs = [
        (prefix(None), prefix(None)),
        (prefix(None), prefix("a")),
        (prefix("a"), prefix("a")),
        (prefix("a"), prefix("b")),
    ]
    assert OracleJudge(CHECKER).score(pairs).tolist() == [0.0, 0.0, 1.0, 0.0]


def test_oracle_deepprune_ignores_the_unanswered_crowd(tmp_path):
    engine = engine_for(tmp_path, mixed_answers(), gold="b")
    (spec,) = engine.problems()
    assert ConsMethod(None).run(spec, engine, CHECKER).predicted == "b"
    outcome = DeepPruneMethod(None, FirstTokens(5), finish="paper").run(spec, engine, CHECKER, OracleJudge(CHECKER))
    assert outcome.extra["cluster_sizes"][:2] == [13, 12] and outcome.extra["clusters"] == 17
    assert outcome.predicted == "b"
    assert outcome.extra["finish"] == "paper" and outcome.extra["fallback"] is False


def test_paper_rule_finishes_the_next_cluster_when_the_largest_has_no_answer(tmp_path):
    answers = mixed_answers()
    engine = engine_for(tmp_path, answers, gold="b")
    (spec,) = engine.problems()
    full = full_lengths(engine, spec)
    method = DeepPruneMethod(None, FirstTokens(5), finish="paper", finish_largest=8)
    outcome = method.run(spec, engine, CHECKER, AnswerlessAlikeJudge())
    assert outcome.extra["cluster_sizes"] == [15, 13, 12]
    unanswered = [i for i, a in enumerate(answers) if a is None]
    b_traces = [i for i, a in enumerate(answers) if a == "b"]
    # The unanswered cluster's first 8 traces finish without an answer, then the "b" cluster's first 8 vote.
    assert outcome.extra["finished"] == unanswered[:8] + b_traces[:8]
    assert outcome.predicted == "b" and outcome.extra["fallback"] is False
    finished = set(outcome.extra["finished"])
    for i, trace in enumerate(outcome.traces):
        if i in finished:
            assert trace.finished and trace.num_tokens == full[i]
        else:
            assert trace.stopped and trace.num_tokens <= 5
    assert outcome.tokens == sum(full[i] for i in finished) + sum(
        t.num_tokens for i, t in enumerate(outcome.traces) if i not in finished
    )


def test_singleton_fallback_finishes_the_next_singletons(tmp_path):
    engine = engine_for(tmp_path, [None, None, None, "a", "a", "b", "b", "b"], gold="a")
    (spec,) = engine.problems()
    method = DeepPruneMethod(None, FirstTokens(5), finish="paper", finish_singletons=3)
    outcome = method.run(spec, engine, CHECKER, ConstantJudge(0.0))
    assert outcome.extra["clusters"] == 8 and outcome.extra["fallback"] is True
    assert outcome.extra["finished"] == [0, 1, 2, 3, 4, 5]
    assert outcome.predicted == "a"


def test_diversity_rule_finishes_further_members_when_every_founder_has_no_answer(tmp_path):
    engine = engine_for(tmp_path, [None, None, "b", "a", "a"], gold="a")
    (spec,) = engine.problems()
    outcome = DeepPruneMethod(None, FirstTokens(5), finish="diversity").run(spec, engine, CHECKER, ConstantJudge(1.0))
    assert outcome.extra["clusters"] == 1
    # One cluster: its founder (0) and next member (1) end without an answer; member 2 answers and votes.
    assert outcome.extra["finished"] == [0, 1, 2]
    assert outcome.predicted == "b"
    assert outcome.extra["finish"] == "diversity" and outcome.extra["fallback"] is False


# paper: six singletons finish two at a time; diversity: one cluster finishes member by member.
@pytest.mark.parametrize(("finish", "similarity"), [("paper", 0.0), ("diversity", 1.0)])
def test_no_answer_anywhere_finishes_every_trace_and_predicts_none(tmp_path, finish, similarity):
    engine = engine_for(tmp_path, [None] * 6, gold="a")
    (spec,) = engine.problems()
    full = full_lengths(engine, spec)
    method = DeepPruneMethod(None, FirstTokens(5), finish=finish, finish_singletons=2)
    outcome = method.run(spec, engine, CHECKER, ConstantJudge(similarity))
    assert outcome.predicted is None
    assert outcome.extra["finished"] == list(range(6))
    assert outcome.tokens == sum(full)
