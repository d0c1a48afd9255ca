"""Every method on fixtures with known answers, token accounting, and DeepConf against the reference."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from deepprune.data.answers import AnswerChecker
from deepprune.data.tokenizer import TokenCounter
from deepprune.data.truncation import FirstTokens
from deepprune.engines.replay import ReplayEngine, first_window_below
from deepprune.judges.base import Judge
from deepprune.judges.oracle import OracleJudge
from deepprune.methods.cons import ConsMethod
from deepprune.methods.deepconf import (
    OFFLINE_VARIANTS,
    DeepConfMethod,
    DeepConfOfflineMethod,
    lowest_group_confidence,
)
from deepprune.methods.deepprune import DeepPruneMethod
from deepprune.runner import run_problem
from tests.helpers.run_if import RunIf
from tests.helpers.traces import make_problem, write_toy_file

CHECKER = AnswerChecker("answer_is", "string")


@pytest.fixture(scope="module")
def counter():
    return TokenCounter()


@pytest.fixture
def toy_engine(tmp_path, counter):
    return ReplayEngine(str(write_toy_file(tmp_path / "toy.jsonl")), counter.path, extract_answer=CHECKER.extract)


def problems(engine):
    return {p.id: p for p in engine.problems()}


class ConstantJudge(Judge):
    name = "constant"

    def __init__(self, value):
        super().__init__()
        self.value = value

    def _score(self, pairs):
        return np.full(len(pairs), self.value)


def test_cons_majority_and_tokens(toy_engine):
    specs = problems(toy_engine)
    expected = {"p0": "a", "p1": "y", "p2": "m"}
    for pid, spec in specs.items():
        outcome = ConsMethod(None).run(spec, toy_engine, CHECKER)
        assert outcome.predicted == expected[pid]
        assert outcome.tokens == sum(t.num_tokens for t in spec.payload.traces)
        assert all(t.finished for t in outcome.traces)


def test_cons_subsamples_are_averaged(toy_engine):
    spec = problems(toy_engine)["p0"]
    record = run_problem(ConsMethod(3), spec, toy_engine, CHECKER, None, seed=0, subsamples=6)
    assert record["subsamples"] == 6
    assert 0.0 <= record["correct"] <= 1.0
    sizes = [t.num_tokens for t in spec.payload.traces]
    assert 3 * min(sizes) <= record["tokens"] <= 3 * max(sizes)
    full = run_problem(ConsMethod(None), spec, toy_engine, CHECKER, None, seed=0, subsamples=6)
    assert "subsamples" not in full and full["correct"] is True


def test_deepprune_oracle_clusters_by_answer_and_counts_tokens(toy_engine, counter):
    spec = problems(toy_engine)["p0"]  # answers a a b a c a b a
    method = DeepPruneMethod(
        None,
        FirstTokens(5),
        threshold=0.5,
        max_compare=10,
        finish="paper",
        finish_largest=2,
        compare="paper",
    )
    outcome = method.run(spec, toy_engine, CHECKER, OracleJudge(CHECKER))
    assert outcome.extra["cluster_sizes"] == [5, 2, 1]
    assert outcome.extra["finished"] == [0, 1]  # the largest cluster's first K2 traces
    assert outcome.predicted == "a"
    # Judge calls: trace t compares with every member of every cluster so far (all below K1=10).
    assert outcome.judge_calls == sum(range(1, 8))
    stored = spec.payload.traces
    expected = sum(t.num_tokens if i in (0, 1) else 5 for i, t in enumerate(stored))
    assert outcome.tokens == expected
    assert [t.finished for t in outcome.traces] == [True, True] + [False] * 6
    assert all(t.stopped for t in outcome.traces[2:])


def test_deepprune_diversity_rule_weights_by_cluster_size(toy_engine):
    spec = problems(toy_engine)["p1"]  # y y x y x y z y -> clusters y(5) x(2) z(1)
    method = DeepPruneMethod(None, FirstTokens(5), finish="diversity")
    outcome = method.run(spec, toy_engine, CHECKER, OracleJudge(CHECKER))
    assert outcome.extra["finished"] == [0, 2, 6]
    assert outcome.predicted == "y"


def test_deepprune_singletons_and_cluster_cap(toy_engine):
    spec = problems(toy_engine)["p0"]
    singletons = DeepPruneMethod(None, FirstTokens(5), finish_singletons=3, max_clusters=32)
    outcome = singletons.run(spec, toy_engine, CHECKER, ConstantJudge(0.0))
    assert outcome.extra["clusters"] == 8 and outcome.extra["finished"] == [0, 1, 2]
    # At the cap a trace no cluster accepted is set aside (fast), or joins the most similar cluster (paper's rule).
    capped = DeepPruneMethod(None, FirstTokens(5), max_clusters=2).run(spec, toy_engine, CHECKER, ConstantJudge(0.0))
    assert capped.extra["cluster_sizes"] == [1, 1] and capped.extra["set_aside"] == 6
    paper = DeepPruneMethod(None, FirstTokens(5), max_clusters=2, compare="paper")
    capped = paper.run(spec, toy_engine, CHECKER, ConstantJudge(0.0))
    assert capped.extra["clusters"] == 2 and capped.extra["cluster_sizes"] == [7, 1]


def test_deepprune_samples_at_most_k1_members(toy_engine):
    spec = problems(toy_engine)["p0"]
    outcome = DeepPruneMethod(None, FirstTokens(5), max_compare=1).run(spec, toy_engine, CHECKER, ConstantJudge(1.0))
    assert outcome.judge_calls == 7 and outcome.extra["clusters"] == 1


def test_deepprune_requires_judge(toy_engine):
    with pytest.raises(ValueError, match="judge"):
        DeepPruneMethod(None, FirstTokens(5)).run(problems(toy_engine)["p0"], toy_engine, CHECKER, None)


def test_first_window_below_matches_definition():
    rng = np.random.default_rng(0)
    confs = rng.uniform(0, 1, 50).tolist()
    window, threshold = 5, 0.35
    expected = next((i for i in range(window - 1, 50) if np.mean(confs[i - window + 1 : i + 1]) < threshold), None)
    assert first_window_below(confs, threshold, window) == expected
    assert first_window_below(confs[:3], 10.0, window) is None  # shorter than the window: never stops


def test_deepconf_online_replay(toy_engine):
    spec = problems(toy_engine)["p0"]
    window = 4
    method = DeepConfMethod(None, "low", warmup=4, window=window, keep_top_percent=50)
    outcome = method.run(spec, toy_engine, CHECKER)
    stored = spec.payload.traces
    scores = [lowest_group_confidence(t.confs, window) for t in stored[:4]]
    bar = float(np.percentile(scores, 50))
    assert outcome.extra["threshold"] == pytest.approx(bar)
    answers, weights = [], []
    expected_tokens = 0
    for i, trace in enumerate(stored):
        if i < 4:
            expected_tokens += trace.num_tokens
            if scores[i] >= bar:
                answers.append(trace.answer)
                weights.append(scores[i])
            continue
        stop = first_window_below(trace.confs, bar, window)
        handle = outcome.traces[i]
        if stop is not None:
            assert handle.finish_reason == "confidence" and handle.num_tokens == stop + 1
            expected_tokens += stop + 1
        else:
            expected_tokens += trace.num_tokens
            answers.append(trace.answer)
            weights.append(lowest_group_confidence(trace.confs, window))
    assert outcome.extra["early_stopped"] > 0
    assert outcome.tokens == expected_tokens
    assert outcome.predicted == CHECKER.vote(answers, weights)


def test_deepconf_consensus_stops_sampling(tmp_path, counter):
    path = tmp_path / "unanimous.jsonl"
    from deepprune.data.io import write_problems

    write_problems(path, [make_problem("u", "a", ["a"] * 10)])
    engine = ReplayEngine(str(path), counter.path, extract_answer=CHECKER.extract)
    (spec,) = engine.problems()
    outcome = DeepConfMethod(None, "high", warmup=3, window=4, keep_top_percent=90, consensus_beta=0.95).run(
        spec, engine, CHECKER
    )
    assert outcome.extra["started"] == 3 and outcome.predicted == "a"
    assert sum(t.num_tokens > 0 for t in outcome.traces) == 3


def test_deepconf_without_confs_is_a_clear_error(tmp_path, counter):
    engine = ReplayEngine(str(write_toy_file(tmp_path / "noconf.jsonl", confs=False)), counter.path)
    spec = next(iter(engine.problems()))
    with pytest.raises(ValueError, match="confs"):
        DeepConfMethod(None, warmup=2, window=4).run(spec, engine, CHECKER)
    with pytest.raises(ValueError, match="confs"):
        DeepConfOfflineMethod(None, "min_window_weighted").run(spec, engine, CHECKER)


def _reference_utils():
    spec = importlib.util.find_spec("deepconf")
    path = Path(spec.submodule_search_locations[0]) / "utils.py"
    # Load utils.py alone: the package __init__ imports vLLM, the voting code only needs numpy.
    module_spec = importlib.util.spec_from_file_location("deepconf_reference_utils", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


@RunIf(modules=("deepconf",))  # the reference package deepconf==0.1.0 (dev extra)
@pytest.mark.parametrize("seed", range(5))
def test_offline_variants_match_reference(tmp_path, counter, seed):
    ref = _reference_utils()
    rng = np.random.default_rng(seed)
    answers = rng.choice(["a", "b", "c"], size=12, p=[0.4, 0.35, 0.25]).tolist()
    problem = make_problem("r", "a", answers, seed=seed)
    for trace in problem.traces:  # long enough for several windows of 8
        trace.confs = rng.uniform(0.5, 4.0, size=40).tolist()
        trace.num_tokens = 40
    from deepprune.data.io import write_problems

    write_problems(tmp_path / "r.jsonl", [problem])
    engine = ReplayEngine(str(tmp_path / "r.jsonl"), counter.path)
    (spec,) = engine.problems()
    reference_traces = [{"extracted_answer": t.answer, "confs": t.confs} for t in problem.traces]
    # The reference uses a 2048-token window; emulate a short window by patching its default.
    ref.calculate_bottom_window_confidence.__defaults__ = (8, 0.1)
    ref.calculate_tail_confidence.__defaults__ = (8,)
    expected = ref.compute_all_voting_results(reference_traces)
    for variant in OFFLINE_VARIANTS:
        outcome = DeepConfOfflineMethod(None, variant, window=8, tail_tokens=8).run(spec, engine, CHECKER)
        assert outcome.predicted == expected[variant]["answer"], variant


@RunIf(requires_vllm=True, modules=("deepconf",))  # deepconf's package imports vLLM
def test_online_stop_matches_reference_logits_processor():
    """The replayed stop position equals where DeepConf's own vLLM logits processor forces EOS."""
    import torch
    from deepconf.processors import ConfPerReqLogitsProcessor

    rng = np.random.default_rng(3)
    for _ in range(20):
        confs = rng.uniform(0.5, 2.0, 60).tolist()
        window, threshold = 6, float(rng.uniform(0.9, 1.3))
        processor = ConfPerReqLogitsProcessor(threshold, eos_token_id=0, conf_group_size=window, conf_topk=2)
        stream = iter(confs)
        processor.compute_conf = lambda logits, stream=stream: next(stream)
        forced_at = None
        for position in range(len(confs)):
            logits = processor([], torch.zeros(4))
            if torch.isinf(logits[1:]).all():
                forced_at = position
                break
        assert first_window_below(confs, threshold, window) == forced_at
