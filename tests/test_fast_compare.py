"""DeepPrune's ``compare=fast`` clustering against the paper's rule, on synthetic prefixes with known answers."""

from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir

from deepprune.data.answers import AnswerChecker
from deepprune.data.tokenizer import TokenCounter
from deepprune.data.truncation import FirstTokens
from deepprune.engines.replay import ReplayEngine
from deepprune.judges.base import Judge, Prefix
from deepprune.judges.oracle import OracleJudge
from deepprune.methods.deepprune import DeepPruneMethod, fast_cluster, greedy_cluster
from deepprune.runner import run_prune
from tests.helpers.traces import write_toy_file

ROOT = Path(__file__).resolve().parents[1]
CHECKER = AnswerChecker("answer_is", "string")


def prefixes_for(answers: list[str | None]) -> list[Prefix]:
    return [Prefix(f"trace {i}", 4, a, final_known=True, key=i) for i, a in enumerate(answers)]


class RecordingOracle(OracleJudge):
    """The oracle judge, remembering which (member, new trace) pairs it scored, call by call."""

    def __init__(self) -> None:
        super().__init__(CHECKER)
        self.calls: list[list[tuple[int, int]]] = []

    def _score(self, pairs):
        self.calls.append([(a.key, b.key) for a, b in pairs])
        return super()._score(pairs)


class TableJudge(Judge):
    """Scores a pair (member, new trace) from a table keyed by the new trace, then the member."""

    name = "table"

    def __init__(self, table: dict[int, dict[int, float]]) -> None:
        super().__init__()
        self.table = table

    def _score(self, pairs):
        return np.array([self.table[b.key][a.key] for a, b in pairs])


def fast_with_set_aside(
    prefixes, judge, threshold=0.5, max_compare=10, max_clusters=32, exit_margin=0.1, call_budget=None, seed=0
):
    rng = np.random.default_rng(seed)
    return fast_cluster(prefixes, judge, threshold, max_compare, max_clusters, rng, exit_margin, call_budget)


def fast(prefixes, judge, **options):
    return fast_with_set_aside(prefixes, judge, **options)[0]


def paper(prefixes, judge, threshold=0.5, max_compare=10, max_clusters=32, seed=0):
    return greedy_cluster(prefixes, judge, threshold, max_compare, max_clusters, np.random.default_rng(seed))


@pytest.mark.parametrize("seed", range(5))
def test_same_clusters_as_paper_when_the_judge_is_decisive_and_far_fewer_calls(seed):
    rng = np.random.default_rng(seed)
    answers = rng.choice(["a", "b", "c", "d", "e"], size=40, p=[0.55, 0.2, 0.1, 0.1, 0.05]).tolist()
    prefixes = prefixes_for(answers)
    paper_judge, fast_judge = OracleJudge(CHECKER), RecordingOracle()
    expected = paper(prefixes, paper_judge)
    clusters = fast(prefixes, fast_judge)
    assert clusters == expected
    # A decisive judge: one call per cluster visited, and a trace visits at most every cluster there is.
    per_trace = [len(call) for call in fast_judge.calls]
    assert all(n == 1 for n in per_trace)
    assert fast_judge.pairs_scored <= sum(min(i, len(expected)) for i in range(len(prefixes)))
    assert fast_judge.pairs_scored / len(prefixes) <= 3
    assert paper_judge.pairs_scored > 2 * fast_judge.pairs_scored


def test_largest_cluster_first_and_founder_first():
    judge = RecordingOracle()
    # a | b b b | then an "a" (the smaller, older cluster) and a new answer "c"
    clusters = fast(prefixes_for(["a", "b", "b", "b", "a", "c"]), judge)
    assert clusters == [[0, 4], [1, 2, 3], [5]]
    scored = [pair for call in judge.calls for pair in call]
    members_for = {new: [m for m, n in scored if n == new] for new in range(1, 6)}
    assert members_for[4] == [1, 0]  # the 3-member "b" cluster first, by its founder; then the "a" founder
    assert members_for[5] == [1, 0]  # a new answer visits every cluster, largest first: two calls
    assert members_for[2] == [0, 1] and members_for[3] == [1]  # equal sizes: "a" (older) first; then by size


def test_ties_in_size_visit_the_older_cluster_first():
    judge = RecordingOracle()
    fast(prefixes_for(["a", "b", "c"]), judge)
    assert [pair for call in judge.calls for pair in call] == [(0, 1), (0, 2), (1, 2)]


def test_early_exit_on_a_clear_founder_and_further_members_while_undecided():
    members = {0: 0.55, 1: 0.9, 2: 0.9, 3: 0.9, 4: 0.9}  # one 5-member cluster, built with a sure judge below
    sure = {new: {m: 1.0 for m in range(new)} for new in range(5)}
    prefixes = prefixes_for([None] * 6)
    clear = TableJudge({**sure, 5: {m: 0.95 for m in members}})
    assert fast(prefixes, clear) == [[0, 1, 2, 3, 4, 5]]
    assert clear.pairs_scored == 4 + 1  # the clear founder decides alone
    # Founder 0.55 is within 0.1 of tau: one more member (0.9) lifts the mean to 0.725 > 0.6, accepted.
    undecided = TableJudge({**sure, 5: members})
    assert fast(prefixes, undecided) == [[0, 1, 2, 3, 4, 5]]
    assert undecided.pairs_scored == 4 + 2
    # Scores that stay near tau: sampled up to K1 members, then mean > tau decides (0.51 > 0.5: joins).
    near = TableJudge({**sure, 5: {m: 0.51 for m in members}})
    assert fast(prefixes, near, max_compare=3) == [[0, 1, 2, 3, 4, 5]]
    assert near.pairs_scored == 4 + 3
    below = TableJudge({**sure, 5: {m: 0.45 for m in members}})
    assert fast(prefixes, below, max_compare=3) == [[0, 1, 2, 3, 4], [5]]
    assert below.pairs_scored == 4 + 3
    # A margin of 0: the founder alone decides.
    founder_only = TableJudge({**sure, 5: {m: 0.45 for m in members}})
    assert fast(prefixes, founder_only, exit_margin=0.0) == [[0, 1, 2, 3, 4], [5]]
    assert founder_only.pairs_scored == 4 + 1


def test_the_undecided_band_is_a_share_of_the_room_on_each_side_of_tau():
    sure = {new: {m: 1.0 for m in range(new)} for new in range(5)}
    prefixes = prefixes_for([None] * 6)
    # tau=0.9, margin 0.2: undecided within [0.72, 0.92]; 0.97 is decided by the founder although |0.97 - tau| < 0.2.
    high = TableJudge({**sure, 5: {m: 0.97 for m in range(5)}})
    assert fast(prefixes, high, threshold=0.9, exit_margin=0.2) == [[0, 1, 2, 3, 4, 5]]
    assert high.pairs_scored == 4 + 1
    inside = TableJudge({**sure, 5: {m: 0.91 for m in range(5)}})
    fast(prefixes, inside, threshold=0.9, exit_margin=0.2)
    assert inside.pairs_scored == 4 + 5  # every member, all within K1
    # Margin 1: nothing decides early, every cluster is compared with up to K1 members, as in the paper.
    full = TableJudge({**sure, 5: {m: 0.0 for m in range(5)}})
    assert fast(prefixes, full, exit_margin=1.0, max_compare=3) == [[0, 1, 2, 3, 4], [5]]
    assert full.pairs_scored == 1 + 2 + 3 + 3 + 3  # even the sure scores (1.0) of traces 1-4 are not early exits


def test_joins_the_first_cluster_that_clears_tau_not_the_most_similar():
    # Clusters {0, 2} (larger) and {1}; trace 3 scores 0.7 with the first and 0.99 with the second.
    table = {1: {0: 0.0}, 2: {0: 1.0, 1: 0.0}, 3: {0: 0.7, 2: 0.7, 1: 0.99}}
    prefixes = prefixes_for([None] * 4)
    assert fast(prefixes, TableJudge(table)) == [[0, 2, 3], [1]]
    assert paper(prefixes, TableJudge(table)) == [[0, 2], [1, 3]]


def test_at_max_clusters_a_rejected_trace_is_set_aside_never_joined():
    # Trace 3 clears tau nowhere; with K=3 the paper's rule puts it in its most similar cluster, the fast rule
    # stops it in no cluster: every cluster it visited rejected it.
    table = {1: {0: 0.0}, 2: {0: 0.0, 1: 0.0}, 3: {0: 0.2, 1: 0.4, 2: 0.1}, 4: {0: 0.3, 1: 0.2, 2: 0.25, 3: 0.35}}
    prefixes = prefixes_for([None] * 5)
    clusters, set_aside = fast_with_set_aside(prefixes, TableJudge(table), max_clusters=3, exit_margin=0.0)
    assert clusters == [[0], [1], [2]] and set_aside == [3, 4]
    assert paper(prefixes, TableJudge(table), max_clusters=3) == [[0, 4], [1, 3], [2]]
    assert len(fast(prefixes, TableJudge(table), max_clusters=32, exit_margin=0.0)) == 5
    always_different = TableJudge({n: {m: 0.0 for m in range(n)} for n in range(12)})
    assert len(fast(prefixes_for([None] * 12), always_different, max_clusters=4)) == 4


def test_a_spent_call_budget_never_mixes_answers_in_a_cluster():
    # Many distinct answers, the minimum budget and few clusters: traces run out of calls before reaching their
    # answer's cluster. None may join a cluster the judge did not accept (the old rule put them in the most
    # similar visited one, scored 0.0: a mixed cluster that outvoted the right answer).
    rng = np.random.default_rng(0)
    answers = rng.choice(list("abcdefgh"), size=64, p=[0.3, 0.2, 0.15, 0.1, 0.1, 0.05, 0.05, 0.05]).tolist()
    clusters, set_aside = fast_with_set_aside(
        prefixes_for(answers), OracleJudge(CHECKER), max_clusters=6, call_budget=1
    )
    assert set_aside  # the configuration that used to mix
    for cluster in clusters:
        assert len({answers[i] for i in cluster}) == 1, cluster
    assert sorted([i for c in clusters for i in c] + set_aside) == list(range(64))


def test_problem_205_of_the_shipped_demo_keeps_its_answer_groups_apart():
    # The demo problem where the oracle's largest cluster became a mix voting 52 (gold and cons@64: 54), with the
    # demo's settings (fast, call_budget 3, K = 32, K2 = 8, the first 32 tokens).
    from deepprune import asset_path

    engine = ReplayEngine(str(asset_path("demo/traces_eval.jsonl.gz")), tokenizer=str(asset_path("tiny_reasoner")))
    checker = AnswerChecker("boxed", "math")
    spec = next(p for p in engine.problems() if p.id == "205")
    traces = engine.start(spec, 64)
    engine.advance(traces, FirstTokens(32))
    prefixes = [t.prefix() for t in traces]
    answers = [p.final_answer for p in prefixes]
    clusters, _ = fast_with_set_aside(prefixes, OracleJudge(checker), threshold=0.5, exit_margin=0.2, call_budget=3)
    for cluster in clusters:
        assert len({checker.group(answers)[i] for i in cluster}) == 1, [answers[i] for i in cluster]
    # A budget still splits answer groups (a trace out of calls opens a cluster of its own): the demo's ideal-judge
    # row runs without one, and then gives cons@64's answer.
    assert checker.vote(answers) == "54" == spec.gold  # cons@64's answer
    ideal = DeepPruneMethod(64, FirstTokens(32), compare="fast", call_budget=None, finish="paper")
    assert ideal.run(spec, engine, checker, OracleJudge(checker)).predicted == "54"
    # Without a budget every trace visits every cluster: it is set aside only when its answer has no cluster yet
    # and the 32 clusters exist (unanswered traces are singletons: the oracle pairs them with nothing).
    labels = checker.group(answers)
    clusters, set_aside = fast_with_set_aside(prefixes, OracleJudge(checker), threshold=0.5, call_budget=None)
    assert all(len({labels[i] for i in cluster}) == 1 for cluster in clusters)
    clustered = {labels[c[0]] for c in clusters if labels[c[0]] is not None}
    assert len(clusters) == 32 or not set_aside
    assert all(labels[i] is None or labels[i] not in clustered for i in set_aside)


def test_calls_per_trace_bounded_by_k1_per_cluster_visited():
    rng = np.random.default_rng(3)
    n = 30
    table = {new: {m: float(rng.uniform(0.45, 0.55)) for m in range(new)} for new in range(n)}  # all undecided
    judge = TableJudge(table)
    clusters = fast(prefixes_for([None] * n), judge, max_compare=2, max_clusters=4)
    assert len(clusters) <= 4
    assert judge.pairs_scored <= sum(2 * min(i, 4) for i in range(n))


def test_the_call_budget_bounds_the_mean_calls_per_trace_and_unspent_calls_carry_over():
    # A judge that says "different" to everything: without a budget trace i pays i calls (66 for 12 traces).
    unlimited = TableJudge({n: {m: 0.0 for m in range(n)} for n in range(12)})
    assert fast(prefixes_for([None] * 12), unlimited) == [[i] for i in range(12)]
    assert unlimited.pairs_scored == sum(range(12))
    # Budget 2 per trace: trace i may spend 2(i + 1) minus what the earlier ones spent; the clusters are the same.
    limited = TableJudge({n: {m: 0.0 for m in range(n)} for n in range(12)})
    assert fast(prefixes_for([None] * 12), limited, call_budget=2) == [[i] for i in range(12)]
    spent = 0
    for i in range(12):
        spent += min(i, 2 * (i + 1) - spent)
    assert limited.pairs_scored == spent <= 2 * 12
    # Undecided scores: the budget also cuts the members sampled within a cluster.
    undecided = TableJudge({n: {m: 0.5 for m in range(n)} for n in range(30)})
    fast(prefixes_for([None] * 30), undecided, call_budget=1.5)
    assert undecided.pairs_scored <= 1.5 * 30
    # Traces that join the largest cluster in one call leave calls for a rare answer to visit every cluster: the
    # last "d" spends 4 calls (its cluster comes 4th), more than its own allowance of 2.
    answers = ["a", "a", "b", "b", "c", "c", "d", "a", "a", "a", "d"]
    judge = RecordingOracle()
    assert fast(prefixes_for(answers), judge, call_budget=2) == [
        [0, 1, 7, 8, 9], [2, 3], [4, 5], [6, 10]
    ]  # fmt: skip
    assert len([pair for call in judge.calls for pair in call if pair[1] == 10]) == 4
    # With nothing left over, the second "d" (its cluster is the smallest) opens a cluster of its own.
    answers = ["a", "b", "c", "d", "d"]
    assert fast(prefixes_for(answers), OracleJudge(CHECKER), call_budget=1) == [[0], [1], [2], [3], [4]]
    assert fast(prefixes_for(answers), OracleJudge(CHECKER)) == [[0], [1], [2], [3, 4]]


def test_method_runs_fast_on_replay_and_counts_calls(tmp_path):
    toy = str(write_toy_file(tmp_path / "toy.jsonl"))
    engine = ReplayEngine(toy, TokenCounter().path, extract_answer=CHECKER.extract)
    spec = next(s for s in engine.problems() if s.id == "p0")  # answers a a b a c a b a
    runs = {
        rule: DeepPruneMethod(None, FirstTokens(5), compare=rule).run(spec, engine, CHECKER, OracleJudge(CHECKER))
        for rule in ("paper", "fast")
    }
    outcome_paper, outcome = runs["paper"], runs["fast"]
    assert outcome.extra["cluster_sizes"] == outcome_paper.extra["cluster_sizes"] == [5, 2, 1]
    assert outcome.predicted == outcome_paper.predicted == "a" and outcome.tokens == outcome_paper.tokens
    # a: -, a 1, b 1, a 1, c 2, a 1, b 2, a 1  vs. the paper's 1 + 2 + ... + 7
    assert (outcome.judge_calls, outcome_paper.judge_calls) == (9, 28)
    assert outcome.extra["traces_clustered"] == 8
    # Time inside the judge's calls and inside the engine's, carried like judge_tokens.
    assert all(o.judge_seconds > 0 and o.generation_seconds > 0 for o in runs.values())


def test_metrics_report_calls_per_trace_and_the_rule(tmp_path):
    toy = write_toy_file(tmp_path / "toy.jsonl")
    overrides = ["method=deepprune", "judge=oracle", "benchmark=last_letters", "truncation.k=5", "method.compare=fast"]
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("prune", [*overrides, f"data.traces={toy}"])
    metrics = run_prune(cfg, tmp_path / "run")
    traces = sum(p["traces_clustered"] for p in metrics["problems"])
    assert traces == 24
    assert metrics["judge_calls_per_trace"] == pytest.approx(metrics["judge_calls"] / traces)
    assert metrics["compare"] == metrics["method_params"]["compare"] == "fast"
    assert metrics["method_params"]["exit_margin"] == cfg.method.exit_margin


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"compare": "slow"}, "method.compare"),
        ({"compare": None}, "method.compare"),
        ({"exit_margin": -0.1}, "method.exit_margin"),
        ({"exit_margin": 1.5}, "method.exit_margin"),
        ({"exit_margin": float("nan")}, "method.exit_margin"),
        ({"exit_margin": "0.1"}, "method.exit_margin"),
        ({"call_budget": 0}, "method.call_budget"),
        ({"call_budget": 0.5}, "method.call_budget"),
        ({"call_budget": float("inf")}, "method.call_budget"),
        ({"threshold": "automatic"}, "method.threshold"),
        ({"threshold_key": "val/auroc"}, "method.threshold_key"),
    ],
)
def test_new_knobs_are_validated(kwargs, key):
    with pytest.raises(ValueError, match=key.replace(".", r"\.")) as err:
        DeepPruneMethod(None, FirstTokens(4), **kwargs)
    assert "\n" not in str(err.value)


def test_yaml_holds_the_defaults():
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("prune", ["method=deepprune"])
    assert cfg.method.compare in ("paper", "fast") and 0 <= cfg.method.exit_margin <= 1
    assert cfg.method.threshold_key == "val/threshold@fnr0.2"
