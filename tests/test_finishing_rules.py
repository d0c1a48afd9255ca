"""DeepPrune's finishing rules for an imperfect judge (soft, adaptive) and DeepPrune + DeepConf, worked by hand.

Every case spells out which traces finish, what each vote weighs and the tokens charged. Traces come from
``make_problem`` (trace i has 20 + 2i tokens); prefixes are the first 5 tokens.
"""

import numpy as np
import pytest

from deepprune.data.answers import AnswerChecker
from deepprune.data.io import write_problems
from deepprune.data.schema import Problem, Trace
from deepprune.data.tokenizer import TokenCounter
from deepprune.data.truncation import FirstTokens
from deepprune.engines.replay import ReplayEngine, first_window_below
from deepprune.judges.base import Judge
from deepprune.judges.oracle import OracleJudge
from deepprune.methods.deepprune import FINISH_RULES, DeepPruneMethod, Finisher, mass_order, soft_votes
from deepprune.methods.deepprune_deepconf import DeepPruneDeepConfMethod
from tests.helpers.traces import make_problem, trace_text

CHECKER = AnswerChecker("answer_is", "string")
K = 5  # prefix tokens


def full(i: int) -> int:
    return 20 + 2 * i


class TableJudge(Judge):
    """P(same answer) from a table of trace pairs (either order; 0 for pairs not listed); remembers what it scored."""

    name = "table"

    def __init__(self, table: dict[tuple[int, int], float]) -> None:
        super().__init__()
        self.table = {tuple(sorted(pair)): p for pair, p in table.items()}
        self.scored: list[tuple[int, int]] = []

    def _score(self, pairs):
        self.scored += [(a.key, b.key) for a, b in pairs]
        return np.array([self.table.get(tuple(sorted((a.key, b.key))), 0.0) for a, b in pairs])


def engine_for(tmp_path, problem: Problem) -> ReplayEngine:
    # The stored counts are the counting tokenizer's (one token a word): trace i costs 20 + 2i tokens, a prefix 5.
    problem.tokenizer = TokenCounter().path
    write_problems(tmp_path / "p.jsonl", [problem])
    return ReplayEngine(str(tmp_path / "p.jsonl"), problem.tokenizer, extract_answer=CHECKER.extract)


def method(finish: str, **options) -> DeepPruneMethod:
    # Each trace is compared with cluster founders only (exit_margin=0) and may call the judge freely.
    return DeepPruneMethod(
        None, FirstTokens(K), threshold=0.5, exit_margin=0.0, call_budget=None, finish=finish, **options
    )


def tokens_charged(outcome, finished: list[int]) -> int:
    return sum(full(i) if i in finished else K for i in range(len(outcome.traces)))


# Gold "a" (5 of 8 traces). The judge merges two "a" traces into the "b" founder's cluster and keeps the other
# "a" traces apart: clusters C0 = [0, 1, 3, 4] (b, a, b, a), C1 = [2, 5, 7] (a, a, a), C2 = [6] (c).
MIXED = ["b", "a", "a", "b", "a", "a", "c", "a"]
MIXED_JUDGE = {
    (0, 1): 0.8,  # a joins b's cluster: the judge's mistake
    (0, 2): 0.1,
    (0, 3): 0.9,
    (0, 4): 0.6,  # the second mistake
    (0, 5): 0.2,
    (2, 5): 0.9,
    (0, 6): 0.1,
    (2, 6): 0.1,
    (0, 7): 0.3,
    (2, 7): 0.8,
    # Scored only by the soft vote: how much each pruned trace resembles each finished one.
    (1, 2): 0.9,
    (1, 3): 0.3,
    (1, 4): 0.9,
    (1, 5): 0.9,
    (1, 7): 0.7,
    (2, 4): 0.5,
    (4, 5): 0.5,
    (5, 7): 0.7,
}
# Judge calls clustering spends: one per founder visited (traces 1-4 one each, 5-7 two each).
CLUSTERING_CALLS = 10


@pytest.fixture
def mixed(tmp_path):
    engine = engine_for(tmp_path, make_problem("m", "a", MIXED))
    (spec,) = engine.problems()
    return engine, spec


def test_the_rules_are_listed_and_an_unknown_one_is_refused():
    assert FINISH_RULES == ("paper", "diversity", "soft", "adaptive")
    with pytest.raises(ValueError, match="'paper', 'diversity', 'soft', 'adaptive', got 'majority'"):
        DeepPruneMethod(None, FirstTokens(K), finish="majority")
    with pytest.raises(ValueError, match="method.finish_budget"):
        DeepPruneMethod(None, FirstTokens(K), finish="soft", finish_budget=0)


def test_mass_order_follows_cluster_sizes():
    # Quotients size / (finished + 1): C0 4, C1 3, C0 2 (ties go to the larger cluster), C1 1.5, C0 1.33,
    # then C0, C1 and C2 all at 1: larger first.
    assert mass_order([[0, 1, 3, 4], [2, 5, 7], [6]]) == [0, 2, 1, 5, 3, 4, 7, 6]
    assert mass_order([[0], [1], [2]]) == [0, 1, 2]  # all singletons: arrival order


def test_paper_rule_follows_the_largest_cluster_into_the_wrong_answer(mixed):
    engine, spec = mixed
    outcome = method("paper", finish_largest=3).run(spec, engine, CHECKER, TableJudge(MIXED_JUDGE))
    assert outcome.extra["cluster_sizes"] == [4, 3, 1]
    # C0's first 3 traces finish: b, a, b vote once each.
    assert outcome.extra["finished"] == [0, 1, 3]
    assert outcome.predicted == "b"
    assert outcome.tokens == tokens_charged(outcome, [0, 1, 3]) == 20 + 22 + 26 + 5 * K


def test_soft_rule_votes_with_the_pruned_traces_through_the_judge(mixed):
    engine, spec = mixed
    judge = TableJudge(MIXED_JUDGE)
    outcome = method("soft", finish_budget=3).run(spec, engine, CHECKER, judge)
    # mass_order's first three: C0's founder (b), C1's founder (a), C0's second member (a).
    assert outcome.extra["finished"] == [0, 2, 1]
    # Each pruned trace splits one vote over the finished 0 (b), 2 (a), 1 (a) by the judge's probabilities:
    #   3: 0.9, 0.0, 0.3 -> b 0.75, a 0.25        4: 0.6, 0.5, 0.9 -> b 0.3, a 0.7
    #   5: 0.2, 0.9, 0.9 -> b 0.1, a 0.9          7: 0.3, 0.8, 0.7 -> b 1/6, a 5/6
    #   6 (c): 0.1, 0.1, 0.0 -> b 0.5, a 0.5
    # b = 1 + 0.75 + 0.3 + 0.1 + 1/6 + 0.5 = 2.82; a = 2 + 0.25 + 0.7 + 0.9 + 5/6 + 0.5 = 5.18: a wins.
    assert outcome.predicted == "a"
    finisher = Finisher(engine, outcome.traces)
    finisher.finished = [0, 2, 1]
    prefixes = [t.prefix() for t in outcome.traces]
    votes = soft_votes([[0, 1, 3, 4], [2, 5, 7], [6]], finisher, prefixes, TableJudge(MIXED_JUDGE), CHECKER)
    assert votes == pytest.approx({0: 1 + 0.75 + 0.3 + 0.1 + 1 / 6 + 0.5, 2: 1 + 0.25 + 0.45 + 0.5 + 0.8 / 1.8,
                                   1: 1 + 0.25 + 0.45 + 0.45 + 0.7 / 1.8})  # fmt: skip
    # New pairs only: the ones with 0 and most with 2 clustering had scored already.
    assert judge.scored[CLUSTERING_CALLS:] == [(2, 3), (1, 3), (2, 4), (1, 4), (1, 5), (1, 7), (1, 6)]
    assert outcome.judge_calls == CLUSTERING_CALLS + 7
    assert outcome.tokens == tokens_charged(outcome, [0, 2, 1]) == 20 + 24 + 22 + 5 * K
    for i, trace in enumerate(outcome.traces):
        assert (trace.finished and trace.num_tokens == full(i)) if i in (0, 1, 2) else trace.num_tokens == K


def test_adaptive_rule_stops_once_the_lead_cannot_be_overturned(mixed):
    engine, spec = mixed
    judge = TableJudge(MIXED_JUDGE)
    outcome = method("adaptive", finish_budget=5).run(spec, engine, CHECKER, judge)
    # Cap 5: the lead can exceed the finishes left only after 3 (5 // 2 + 1), which start together: 0, 2, 1.
    # Votes as in the soft case, a 5.18 and b 2.82 of 8: the lead in votes, 3 * 2.37 / 8 = 0.89, is not above
    # the 2 finishes left. The next in order, 5 (C1, a), finishes; the pruned 3, 4, 7, 6 split over 0, 2, 1, 5:
    #   3: 0.9, 0.0, 0.3, 0.0 -> b 0.75     4: 0.6, 0.5, 0.9, 0.5 -> b 0.24
    #   7: 0.3, 0.8, 0.7, 0.7 -> b 0.12     6: 0.1, 0.1, 0.0, 0.0 -> b 0.5 (the rest to a)
    # b = 2.61, a = 5.39: lead 4 * 2.78 / 8 = 1.39 > 1 finish left, so the cap's fifth never starts.
    assert outcome.extra["finished"] == [0, 2, 1, 5]
    assert outcome.predicted == "a"
    assert judge.scored[CLUSTERING_CALLS + 7 :] == [(3, 5), (4, 5), (5, 7), (5, 6)]  # pairs with 5 only
    assert outcome.tokens == 20 + 24 + 22 + 30 + 4 * K


def test_adaptive_rule_at_its_cap_votes_as_the_soft_rule(mixed):
    engine, spec = mixed
    judge = TableJudge(MIXED_JUDGE)
    # Cap 3: 0 (b) and 2 (a) start together; the pruned split over them gives b 3.97, a 4.03 of 8 (1: 0.8 and
    # 0.9; 3: all to b; 4: 0.6, 0.5; 5: 0.2, 0.9; 7: 0.3, 0.8; 6: evenly): a lead of 0.01 votes, not above the
    # 1 finish left. Then 1 finishes, and at the cap the vote is the soft rule's: a.
    outcome = method("adaptive", finish_budget=3).run(spec, engine, CHECKER, judge)
    assert outcome.extra["finished"] == [0, 2, 1]
    assert outcome.predicted == "a"
    assert outcome.tokens == 20 + 24 + 22 + 5 * K


def test_adaptive_rule_stops_early_when_the_finished_agree(tmp_path):
    engine = engine_for(tmp_path, make_problem("u", "a", ["a", "a", "a", "a", "b", "a"]))
    (spec,) = engine.problems()
    outcome = method("adaptive", finish_budget=4).run(spec, engine, CHECKER, OracleJudge(CHECKER))
    # Clusters [0, 1, 2, 3, 5] and [4]. The first 3 (4 // 2 + 1) are all a, so the pruned votes go to a whatever
    # the judge says (no pair is scored): lead 3 > 1 finish left, and the cap's fourth never starts.
    assert outcome.extra["finished"] == [0, 1, 2]
    assert outcome.predicted == "a"
    assert outcome.tokens == 20 + 22 + 24 + 3 * K


def test_soft_rule_goes_on_until_a_finished_trace_answers(tmp_path):
    engine = engine_for(tmp_path, make_problem("n", "a", [None, None, "a", "a"]))
    (spec,) = engine.problems()
    # One cluster (the constant judge says "same" to all): budget 1 finishes 0 (no answer), then 1 (none), then 2.
    judge = TableJudge({(0, i): 1.0 for i in range(1, 4)})
    outcome = method("soft", finish_budget=1).run(spec, engine, CHECKER, judge)
    assert outcome.extra["finished"] == [0, 1, 2]
    assert outcome.predicted == "a"
    assert outcome.tokens == 20 + 22 + 24 + K


def confident_problem() -> Problem:
    """Traces whose confidences are chosen: 0 (a) at 1.0 throughout, 1 (b) at 3.0, 2 (a) at 3.0 for its first
    8 tokens then 1.0, 3 (a) at 1.5 throughout, 4 (c) at 2.0."""
    answers = ["a", "b", "a", "a", "c"]
    confs = [
        lambda n: [1.0] * n,
        lambda n: [3.0] * n,
        lambda n: [3.0] * 8 + [1.0] * (n - 8),
        lambda n: [1.5] * n,
        lambda n: [2.0] * n,
    ]
    traces = []
    for i, (answer, conf) in enumerate(zip(answers, confs, strict=True)):
        text = trace_text(answer, f"route {i}", full(i))
        traces.append(Trace(text=text, answer=answer, num_tokens=full(i), confs=conf(full(i))))
    return Problem(id="c", question="question c", gold="a", traces=traces, benchmark="toy")


def test_deepprune_deepconf_warms_up_stops_below_the_bar_and_weights_votes(tmp_path):
    engine = engine_for(tmp_path, confident_problem())
    (spec,) = engine.problems()
    window = 4
    combined = DeepPruneDeepConfMethod(
        None,
        FirstTokens(K),
        threshold=0.5,
        call_budget=None,
        finish="paper",
        finish_largest=4,
        window=window,
        keep_top_percent=50,
        warmup=2,
    )
    judge = TableJudge({(0, i): 1.0 for i in range(1, 5)})  # one cluster: [0, 1, 2, 3, 4]
    outcome = combined.run(spec, engine, CHECKER, judge)
    # Paper rule, K2 = 4: traces 0-3 finish. Warm-up 0 and 1 run to the end, lowest window means 1.0 and 3.0:
    # keeping the top 50% puts the bar at their median, 2.0.
    assert outcome.extra["finished"] == [0, 1, 2, 3]
    assert outcome.extra["confidence_bar"] == pytest.approx(2.0)
    # Trace 2 continues from its 5-token prefix; the first window below 2.0 holds three 1.0s: it ends at token 10,
    # so it keeps 11 tokens. Trace 3 is below the bar from its first tokens, but only tokens decoded after the
    # prefix are checked: the window ending at token 5 stops it with 6 tokens (as live; never fewer than it had).
    assert first_window_below(spec.payload.traces[3].confs, 2.0, window, start=K) == 5
    assert [outcome.traces[i].finish_reason for i in (2, 3)] == ["confidence", "confidence"]
    assert outcome.extra["confidence_stopped"] == 2
    # Votes weigh by confidence: a 1.0 (trace 0), b 3.0 (trace 1), so b wins; a plain vote would tie 1-1 and give
    # the first seen, a.
    assert outcome.predicted == "b"
    assert outcome.tokens == 20 + 22 + 11 + 6 + K


def test_deepprune_deepconf_under_the_soft_rule_weights_the_mass_each_trace_speaks_for(tmp_path):
    engine = engine_for(tmp_path, confident_problem())
    (spec,) = engine.problems()
    combined = DeepPruneDeepConfMethod(
        None, FirstTokens(K), threshold=0.5, call_budget=None, finish="soft", finish_budget=2, window=4, warmup=2
    )
    # Clusters [0, 2, 3] (a) and [1, 4] (b, c): the judge merges c into b's cluster.
    judge = TableJudge({(0, 2): 0.9, (0, 3): 0.9, (0, 1): 0.1, (1, 4): 0.9})
    outcome = combined.run(spec, engine, CHECKER, judge)
    # Budget 2 = the warm-up, so nothing is stopped. 2 and 3 resemble only 0, 4 only 1: 0 (a, confidence 1.0)
    # speaks for 3 traces, 1 (b, 3.0) for 2: a 1.0 * 3 = 3.0, b 3.0 * 2 = 6.0.
    assert outcome.extra["finished"] == [0, 1]
    assert outcome.extra["confidence_stopped"] == 0
    assert outcome.predicted == "b"
    assert outcome.tokens == 20 + 22 + 3 * K


def test_deepprune_deepconf_needs_confidences(tmp_path):
    engine = engine_for(tmp_path, make_problem("x", "a", ["a", "a", "b"], confs=False))
    (spec,) = engine.problems()
    combined = DeepPruneDeepConfMethod(None, FirstTokens(K), call_budget=None, window=4, warmup=1)
    with pytest.raises(ValueError, match="confs"):
        combined.run(spec, engine, CHECKER, OracleJudge(CHECKER))
