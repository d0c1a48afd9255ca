"""generate.py end to end (subprocess, as users run it) on the tiny model, plus its resume logic."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from deepprune import asset_path
from deepprune.data.answers import extract_boxed
from deepprune.data.io import read_problems
from deepprune.engines.base import End
from deepprune.engines.replay import ReplayEngine
from deepprune.generation import finished_ids, run_generation
from tests.helpers.configs import compose_entry
from tests.helpers.run_entry import run_entry
from tests.helpers.run_if import RunIf

MAX_TOKENS = 24
CPU = [
    "engine.dtype=float32",
    "engine.enforce_eager=true",
    "engine.gpu_memory_utilization=0.2",
    "engine.block_size=32",
    "engine.max_model_len=512",
]


def run_generate(run_dir: Path, *overrides: str, **kwargs: Any) -> subprocess.CompletedProcess:
    return run_entry("generate.py", *overrides, f"hydra.run.dir={run_dir}", **kwargs)


@pytest.fixture
def bench(tmp_path: Path) -> Path:
    path = tmp_path / "bench.jsonl"
    rows = [
        {"index": 3, "question": "What is 2+2?", "true_answer": "4"},
        {"index": 9, "question": "Q?", "true_answer": "1"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def hf_greedy_confidences(model_dir: str, prompt: str, max_tokens: int) -> tuple[list[int], list[float]]:
    """Independent reference: greedy decoding with transformers, confidences from its raw logits."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    ids = torch.tensor([tokenizer(prompt)["input_ids"]])
    out = model.generate(
        ids, do_sample=False, max_new_tokens=max_tokens, output_logits=True, return_dict_in_generate=True,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    generated = out.sequences[0, ids.shape[1] :].tolist()
    logprobs = torch.stack(out.logits, dim=1)[0].float().log_softmax(-1)
    confs = (-logprobs.topk(20, dim=-1).values.mean(-1)).tolist()
    return generated, confs


@RunIf(requires_vllm=True)
def test_generate_writes_traces_then_resumes_without_generating(tmp_path, bench, tiny_test_model, capsys):
    out, model_dir = tmp_path / "traces.jsonl", Path(tiny_test_model)
    args = [
        "model=tiny_test", f"model.path={model_dir}", f"model.max_tokens={MAX_TOKENS}", "model.temperature=0",
        "benchmark=aime24", f"benchmark.path={bench}", "n=8", f"out={out}", *CPU,
    ]  # fmt: skip
    run_generate(tmp_path / "run1", *args)

    problems = list(read_problems(out))
    assert [p.id for p in problems] == ["3", "9"] and [p.gold for p in problems] == ["4", "1"]
    assert all(p.model == "tiny_test" and p.benchmark == "aime24" and len(p.traces) == 8 for p in problems)
    for problem in problems:
        for trace in problem.traces:
            assert trace.finish_reason in ("stop", "length")
            assert 0 < trace.num_tokens <= MAX_TOKENS and len(trace.confs) == trace.num_tokens
            assert trace.answer == extract_boxed(trace.text)
    # The stored confidences are the DeepConf formula on the model's logprobs (reference: transformers).
    prompt = "What is 2+2?\nPlease reason step by step, and put your final answer within \\boxed{}."
    ids, confs = hf_greedy_confidences(str(model_dir), prompt, MAX_TOKENS)
    first = problems[0].traces[0]
    assert first.num_tokens == len(ids)
    # The record names the tokenizer whose units num_tokens/confs are in (replay then uses the stored counts).
    assert Path(problems[0].tokenizer).resolve() == Path(model_dir).resolve()
    np.testing.assert_allclose(first.confs, confs, atol=1e-3)
    meta = json.loads((tmp_path / "traces.jsonl.meta.json").read_text())
    assert meta["generated_tokens"] == sum(t.num_tokens for p in problems for t in p.traces)
    assert meta["tokens_per_s"] > 0

    # The rerun in this process (the script ran above): it finds every problem done and generates nothing.
    before = out.read_bytes()
    summary = run_generation(compose_entry("generate", *args))
    assert "already generated" in capsys.readouterr().out
    assert summary["already_done"] == summary["problems"] == 2 and out.read_bytes() == before


@RunIf(requires_vllm=True)
def test_replay_recounts_live_traces_as_the_engine_counted_them(tmp_path):
    # The demo's trained reasoner at its training temperature: a recount from text equals the engine's count when
    # the text re-tokenizes to the sampled ids (the random tiny_test model samples special tokens no text shows;
    # at T=1.4 a few of the reasoner's traces re-tokenize 1-2 tokens shorter). Its traces run ~250-400 tokens: a
    # 330-token budget ends some on EOS ("stop"), others at the budget ("length").
    out = tmp_path / "traces.jsonl"
    run_generation(compose_entry("generate", "model=tiny_reasoner", "model.temperature=1.0", "model.max_tokens=330",
                                 "benchmark=demo", "benchmark.limit=2", "n=8", f"out={out}", *CPU))  # fmt: skip
    problems = list(read_problems(out))
    reasons = {t.finish_reason for p in problems for t in p.traces}
    assert reasons == {"stop", "length"}, reasons  # both cases exercised
    # The same traces without their stored counts: replay counts their text with the model's tokenizer, plus the
    # EOS a "stop" trace sampled, and charges exactly what the engine counted.
    records = [json.loads(line) for line in out.read_text().splitlines()]
    for record in records:
        record["traces"] = [{k: v for k, v in t.items() if k not in ("num_tokens", "confs")} for t in record["traces"]]
    unstored = tmp_path / "unstored.jsonl"
    unstored.write_text("".join(json.dumps(r) + "\n" for r in records))
    engine = ReplayEngine(str(unstored), tokenizer=asset_path("tiny_reasoner"), extract_answer=extract_boxed)
    for spec, stored in zip(engine.problems(), problems, strict=True):
        traces = engine.start(spec, None)
        engine.advance(traces, End())
        assert [t.num_tokens for t in traces] == [t.num_tokens for t in stored.traces]


@RunIf(requires_vllm=True)
def test_generate_without_local_weights_fails_fast_naming_model_path(tmp_path, bench):
    result = run_generate(
        tmp_path / "run",
        "model=deepseek_8b", "benchmark=aime24", f"benchmark.path={bench}", f"out={tmp_path / 'x.jsonl'}",
        env={"HF_HUB_CACHE": str(tmp_path / "empty-cache")}, expect=None,
    )  # fmt: skip
    assert result.returncode != 0
    assert "model.path" in result.stderr and "DeepSeek-R1-0528-Qwen3-8B" in result.stderr
    assert not (tmp_path / "x.jsonl").exists() or not (tmp_path / "x.jsonl").read_text()


def test_resume_drops_a_torn_last_line(tmp_path):
    path = tmp_path / "t.jsonl"
    good = [json.dumps({"id": i, "question": "q", "gold": "g", "traces": []}) + "\n" for i in ("a", "b")]
    path.write_text("".join(good) + '{"id": "c", "question": "q", "gol')
    assert finished_ids(path) == {"a", "b"}
    assert path.read_text() == "".join(good)  # the next problem is appended to a clean file


def test_resume_refuses_a_corrupt_middle_line(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"id": "a"}\n{broken\n{"id": "b"}\n')
    with pytest.raises(ValueError, match="malformed line"):
        finished_ids(path)


def test_resume_keeps_what_it_did_not_write(tmp_path):
    # A complete last record without its newline is kept (a newline is added before the next record) ...
    path = tmp_path / "t.jsonl"
    path.write_text('{"id": "a"}\n{"id": "b"}')
    assert finished_ids(path) == {"a", "b"} and path.read_text() == '{"id": "a"}\n{"id": "b"}\n'
    # ... and a last line that is not the start of a record this script writes is refused, not cut off.
    other = tmp_path / "notes.jsonl"
    other.write_text('{"id": "a"}\nmy notes, no newline')
    with pytest.raises(ValueError, match=r"notes\.jsonl:2: a malformed line"):
        finished_ids(other)
    assert other.read_text() == '{"id": "a"}\nmy notes, no newline'
