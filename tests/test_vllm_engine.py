"""The live vLLM engine on CPU with the tiny random model: stop-rule semantics, token accounting and
confidences, checked against the real engine (one in-process LLM shared by the module)."""

from __future__ import annotations

import gc

import numpy as np
import pytest

from deepprune.data.benchmarks import load_benchmark
from deepprune.data.truncation import FirstTokens, ReasoningWords
from deepprune.engines.base import ConfidenceBelow, End, ProblemSpec
from deepprune.engines.replay import first_window_below
from deepprune.instantiate import build
from tests.helpers.configs import compose_entry
from tests.helpers.run_if import RunIf

# deepprune.engines.vllm_engine imports vLLM: the tests import it themselves, so the module is collected (and
# skipped with a reason) where vLLM is missing.
pytestmark = RunIf(requires_vllm=True)

MAX_TOKENS = 48
PROBLEM = ProblemSpec("p0", "q", "1", payload=" So the answer is")

CPU_OVERRIDES = [
    "engine.dtype=float32",
    "engine.enforce_eager=true",
    "engine.gpu_memory_utilization=0.2",
    "engine.block_size=32",
    "engine.max_model_len=512",
    "engine.progress=false",
]


@pytest.fixture(scope="module")
def engine(tmp_path_factory, tiny_test_model):
    from deepprune.engines.vllm_engine import VllmEngine

    bench = tmp_path_factory.mktemp("bench") / "bench.jsonl"
    bench.write_text('{"index": 7, "question": "What is 1+1?", "true_answer": "2"}\n')
    cfg = compose_entry(
        "generate",
        "model=tiny_test",
        f"model.path={tiny_test_model}",
        f"model.max_tokens={MAX_TOKENS}",
        "benchmark=aime24",
        f"benchmark.path={bench}",
        *CPU_OVERRIDES,
    )
    # An engine an earlier in-process test left to the garbage collector tears down vLLM's process-wide
    # parallel state when it is finalised: finalise it now, not in the middle of this module's engine.
    gc.collect()
    eng = build(
        cfg.engine,
        extract_answer=lambda text: "x" if "\\boxed{" in text else None,
        problems=lambda: load_benchmark(cfg.benchmark),
    )
    assert isinstance(eng, VllmEngine)
    yield eng
    eng.close()


@pytest.fixture
def greedy(engine):
    engine.temperature = 0.0
    yield engine
    engine.temperature = 1.0


def test_problems_come_from_the_benchmark_with_its_prompt(engine):
    (spec,) = list(engine.problems())
    assert (spec.id, spec.gold) == ("7", "2")
    assert spec.payload.prompt.startswith("What is 1+1?\nPlease reason step by step")
    assert engine.describe()["model"] == "tiny_test"


def test_prompts_go_through_the_chat_template_when_the_tokenizer_has_one(engine):
    tokenizer = engine.tokenizer
    assert engine.render(" So the") == tokenizer(" So the")["input_ids"]  # no template: the prompt as is
    tokenizer.chat_template = "{% for m in messages %}{{ m['content'] }} so{% endfor %}"
    try:
        assert engine.render(" So the") == tokenizer(" So the so", add_special_tokens=False)["input_ids"]
    finally:
        tokenizer.chat_template = None


def test_first_tokens_pauses_at_k_and_end_finishes(engine):
    traces = engine.start(PROBLEM, 6, seed=1)
    before = engine.generated_tokens
    engine.advance(traces, FirstTokens(10))
    for t in traces:
        if t.active:
            assert t.num_tokens == 10 and t.finish_reason is None
        else:  # ended on its own before 10 tokens
            assert t.finished and t.num_tokens < 10 and t.state.output_ids[-1] == engine.eos_id
        assert len(t.confs) == t.num_tokens
    snapshot = [(t.num_tokens, t.text) for t in traces]
    engine.advance(traces, FirstTokens(5))  # never moves backwards
    assert [(t.num_tokens, t.text) for t in traces] == snapshot
    engine.advance(traces, End())
    assert all(t.finished and not t.stopped for t in traces)
    for t in traces:
        ids = t.state.output_ids
        assert t.num_tokens == len(ids) == len(t.confs)
        if t.finish_reason == "stop":
            assert ids[-1] == engine.eos_id and len(ids) <= MAX_TOKENS
        else:
            assert t.finish_reason == "length" and len(ids) == MAX_TOKENS
        assert t.answer == ("x" if "\\boxed{" in t.text else None)
    # The engine's own count of generated tokens is what the traces report.
    assert engine.generated_tokens - before == sum(t.num_tokens for t in traces)
    assert {t.finish_reason for t in traces} == {"stop", "length"}, "tiny model should show both endings"


def test_confidences_are_the_deepconf_formula_on_vllm_logprobs(greedy):
    from vllm import SamplingParams
    from vllm.inputs import TokensPrompt

    from deepprune.engines.vllm_engine import confidences_from_logprobs

    (trace,) = greedy.start(PROBLEM, 1)
    greedy.advance([trace], End())
    params = SamplingParams(temperature=0.0, max_tokens=MAX_TOKENS, logprobs=20)
    (reference,) = greedy.llm.generate([TokensPrompt(prompt_token_ids=trace.state.prompt_ids)], params, use_tqdm=False)
    completion = reference.outputs[0]
    assert list(completion.token_ids) == trace.state.output_ids
    expected = [-np.mean(sorted(lp.logprob for lp in pos.values() if lp.rank <= 20)) for pos in completion.logprobs]
    np.testing.assert_allclose(trace.confs, expected, rtol=0, atol=1e-9)
    assert confidences_from_logprobs(completion.logprobs, 20) == pytest.approx(expected, abs=1e-12)


def test_greedy_continuation_equals_one_shot(greedy):
    split, whole = greedy.start(PROBLEM, 2)
    greedy.advance([split], FirstTokens(7))
    greedy.advance([split], FirstTokens(20))
    greedy.advance([split], End())
    greedy.advance([whole], End())
    assert split.state.output_ids == whole.state.output_ids
    assert split.text == whole.text and split.num_tokens == whole.num_tokens
    np.testing.assert_allclose(split.confs, whole.confs, atol=1e-4)


def test_reasoning_words_stop_right_after_the_kth_marker(engine):
    from deepprune.engines.logits_processors import MarkerCounter

    rule = ReasoningWords(3)
    traces = engine.start(PROBLEM, 8, seed=2)
    engine.advance(traces, rule)
    paused = [t for t in traces if t.active]
    assert paused, "some trace should reach 3 markers"
    for t in paused:
        ids = t.state.output_ids
        assert ids[-1] != engine.eos_id  # the forced EOS was dropped...
        assert t.num_tokens == len(ids) + 1  # ...but it was generated, so it is counted
        assert len(t.confs) == len(ids)
        # The text shown (to a judge) ends exactly at the 3rd marker, like replay's Truncator.
        assert len(rule.pattern.findall(t.text)) == 3 and rule.cut_index(t.state.text) == len(t.text)

        # Stopped at the first token that confirmed the 3rd marker: one token earlier it was not there yet.
        # (Decoded as vLLM decodes output: special tokens the tiny model samples add no text.)
        def markers(token_ids):
            text = engine.tokenizer.decode(token_ids, skip_special_tokens=True)
            return MarkerCounter.for_words(rule.words, text).count

        assert markers(ids) == 3 and markers(ids[:-1]) == 2
    for t in traces:
        if not t.active:
            assert t.finished and MarkerCounter.for_words(rule.words, t.text).count < 3
    engine.advance(paused, ReasoningWords(5))  # counts on from the earlier segment
    for t in paused:
        if t.active:
            assert len(rule.pattern.findall(t.text)) == 5
    engine.advance(paused, End())
    assert all(t.finished for t in paused)


def test_confidence_stop_happens_inside_the_engine(greedy):
    window = 8
    (baseline,) = greedy.start(PROBLEM, 1)
    greedy.advance([baseline], End())
    means = np.convolve(baseline.confs, np.ones(window), mode="valid") / window
    # A threshold just above the lowest window mean (not the last one): the stop position is known.
    j = int(np.argmin(means[:-2]))
    threshold = float(means[j]) + 1e-7
    expected_stop = first_window_below(baseline.confs, threshold, window)
    assert expected_stop is not None and expected_stop < baseline.num_tokens - 1

    (trace,) = greedy.start(PROBLEM, 1)
    greedy.advance([trace], ConfidenceBelow(threshold, window))
    assert trace.stopped and not trace.finished and trace.finish_reason == "confidence"
    assert trace.num_tokens == expected_stop + 1 < baseline.num_tokens
    assert trace.state.output_ids[-1] == greedy.eos_id
    assert trace.state.output_ids[:-1] == baseline.state.output_ids[:expected_stop]
    np.testing.assert_allclose(trace.confs, baseline.confs[: expected_stop + 1], atol=1e-6)
    greedy.advance([trace], End())  # stopped traces generate nothing more
    assert trace.num_tokens == expected_stop + 1


def test_confidence_stop_matches_replay_rule_on_sampled_traces(engine):
    window = 6
    # A threshold that some traces cross and others do not: the median of their lowest window means.
    probe = engine.start(PROBLEM, 8, seed=30)
    engine.advance(probe, End())
    lowest = [np.convolve(t.confs, np.ones(window), mode="valid").min() / window for t in probe]
    threshold = float(np.median(lowest))
    traces = engine.start(PROBLEM, 8, seed=3)
    engine.advance(traces[:4], FirstTokens(10))  # the window then spans two segments
    engine.advance(traces, ConfidenceBelow(threshold, window))
    assert any(t.stopped for t in traces) and any(t.finished for t in traces)
    for t in traces:
        stop = first_window_below(t.confs, threshold, window)
        if t.stopped:
            assert t.finish_reason == "confidence" and stop == t.num_tokens - 1
        else:
            assert t.finished and (stop is None or stop == t.num_tokens - 1 == MAX_TOKENS - 1)


def test_seeded_starts_are_reproducible(engine):
    def texts(seed):
        traces = engine.start(PROBLEM, 8, seed=seed)
        engine.advance(traces, FirstTokens(12))
        return [t.state.output_ids for t in traces]

    first = texts(5)
    assert texts(5) == first
    assert texts(6) != first
    assert len({tuple(ids) for ids in first}) > 1  # traces of one problem differ from each other


def test_stopped_traces_generate_nothing(engine):
    traces = engine.start(PROBLEM, 3)
    engine.advance(traces, FirstTokens(4))
    engine.stop(traces[:2])
    before, counts = engine.generated_tokens, [t.num_tokens for t in traces]
    engine.advance(traces, FirstTokens(8))
    assert [t.num_tokens for t in traces[:2]] == counts[:2]
    assert all(t.stopped and t.finish_reason == "pruned" for t in traces[:2])
    assert engine.generated_tokens - before == traces[2].num_tokens - counts[2]


def test_missing_weights_fail_naming_model_path(tmp_path):
    from deepprune.engines.vllm_engine import resolve_model_path

    with pytest.raises(FileNotFoundError, match="model.path"):
        resolve_model_path({"path": "deepprune-tests/no-such-model"})  # a hub name not in the local cache
    with pytest.raises(FileNotFoundError, match="model.path"):
        resolve_model_path({"path": str(tmp_path / "nowhere")})
    with pytest.raises(ValueError, match="model.path"):
        resolve_model_path({"path": None})
