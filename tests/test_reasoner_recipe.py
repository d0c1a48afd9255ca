"""The reasoner recipe end to end through its Hydra entry script, on a few steps of tiny data."""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from experiments.demo.reasoner import (
    LengthGroupedBatches,
    ReasonerDataModule,
    build_model,
    build_tokenizer,
    collate_training,
    encode_problems,
)
from experiments.demo.task import TaskConfig, extract_answer, format_prompt, generate_problems
from tests.helpers.run_entry import run_entry
from tests.helpers.run_if import RunIf

REPO = Path(__file__).resolve().parents[1]


def test_labels_cover_only_the_solution() -> None:
    tokenizer = build_tokenizer()
    task = TaskConfig()
    examples = encode_problems(generate_problems(4, "reasoner", 0, task), tokenizer, task, seed=0)
    batch = collate_training(examples, tokenizer.pad_token_id)
    for row, e in enumerate(examples):
        labels = batch["labels"][row]
        n_prompt, n_total = len(e.prompt_ids), len(e.prompt_ids) + len(e.solution_ids)
        assert (labels[:n_prompt] == -100).all() and (labels[n_total:] == -100).all()
        assert labels[n_total - 1] == tokenizer.eos_token_id
        assert batch["attention_mask"][row].sum() == n_total


def test_most_examples_are_cut_after_the_decisive_step() -> None:
    tokenizer = build_tokenizer()
    clean = TaskConfig(slip_prob=0.0, slip_per_carry=0.0)
    data = ReasonerDataModule(
        tokenizer,
        TaskConfig(),
        clean,
        num_train_examples=400,
        num_val_problems=4,
        prefix_fraction=0.75,
        prefix_tokens=40,
    )
    data.setup()
    eos = tokenizer.eos_token_id
    cut = [e for e in data.train_examples if e.solution_ids[-1] != eos]
    full = [e for e in data.train_examples if e.solution_ids[-1] == eos]
    assert 250 < len(cut) < 350 and len(cut) + len(full) == 400
    # A cut example is a document cut short, not an ending: no EOS to learn to stop early from.
    assert all(len(e.solution_ids) == 40 and eos not in e.solution_ids for e in cut)
    assert all(len(e.solution_ids) > 300 for e in full)  # whole solutions: the elaboration is long
    assert len({tuple(e.prompt_ids) for e in data.train_examples}) > 300  # drawn over the whole split
    assert all(e.solution_ids[-1] == eos for e in data.val_examples)


def test_length_grouped_batches_cover_every_example_once() -> None:
    lengths = [(i * 37) % 101 for i in range(1000)]
    sampler = LengthGroupedBatches(lengths, batch_size=32, seed=0, window=4)
    batches = list(sampler)
    assert len(batches) == len(sampler)
    assert sorted(i for b in batches for i in b) == list(range(1000))
    # Batches are length-homogeneous: far less spread than random batches (lengths span 0-100).
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches) / len(batches)
    assert spread < 40
    assert batches != list(sampler)  # reshuffled every epoch


def test_model_shape_is_vllm_cpu_compatible() -> None:
    tokenizer = build_tokenizer()
    model = build_model(tokenizer)
    assert model.config.head_dim == 64  # smaller heads are rejected by vLLM's CPU attention
    assert model.config.vocab_size == len(tokenizer)
    assert model.config.eos_token_id == tokenizer.eos_token_id
    assert sum(p.numel() for p in model.parameters()) < 2_000_000


@pytest.mark.slow
def test_entry_script_trains_and_exports_a_loadable_model(tmp_path: Path) -> None:
    out = tmp_path / "reasoner"
    overrides = [
        "trainer.max_steps=6",
        "trainer.val_check_interval=6",
        "trainer.log_every_n_steps=1",
        "trainer.enable_progress_bar=false",
        "data.num_train_examples=96",
        "data.num_val_problems=4",
        "data.batch_size=16",
        "data.prefix_fraction=0.5",
        "module.warmup_steps=0",
        "module.lr=3e-3",
        "module.samples_per_problem=2",
        "module.max_new_tokens=16",
        f"output_dir={out}",
        f"hydra.run.dir={tmp_path / 'run'}",
    ]
    # The working directory is outside the repository: the recipe comes from PYTHONPATH.
    pythonpath = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    run_entry(
        "-m experiments.demo.train_reasoner", *overrides, cwd=tmp_path, env={"PYTHONPATH": pythonpath}, timeout=300
    )

    with open(next((tmp_path / "run" / "logs").rglob("metrics.csv"))) as f:
        losses = [float(r["train/loss"]) for r in csv.DictReader(f) if r.get("train/loss")]
    assert len(losses) == 6 and all(math.isfinite(x) for x in losses)
    assert losses[-1] < losses[0]
    assert list((tmp_path / "run" / "checkpoints").glob("*.ckpt"))  # checkpointed at validation

    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in out.iterdir()}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".reasoner")]  # temp dir swapped in
    tokenizer = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out)
    assert type(model).__name__ == "Qwen3ForCausalLM" and tokenizer.eos_token_id == model.config.eos_token_id
    prompt = format_prompt(generate_problems(1, "test", 0)[0].question)
    ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        logits = model(ids).logits
    assert logits.shape == (1, ids.shape[1], len(tokenizer)) and torch.isfinite(logits).all()


def test_shipped_reasoner_is_small_and_loads() -> None:
    path = REPO / "deepprune" / "assets" / "tiny_reasoner"
    if not (path / "model.safetensors").exists():
        pytest.skip("tiny reasoner not exported yet (python -m experiments.demo.train_reasoner)")
    assert sum(p.stat().st_size for p in path.iterdir()) < 8 * 2**20
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    assert model.config.vocab_size == len(tokenizer) and model.config.eos_token_id == tokenizer.eos_token_id
    question = generate_problems(1, "test", 0)[0].question
    assert tokenizer.decode(tokenizer(format_prompt(question))["input_ids"]) == format_prompt(question)


@RunIf(requires_vllm=True)
def test_shipped_reasoner_samples_boxed_answers_in_vllm(monkeypatch: pytest.MonkeyPatch) -> None:
    import vllm

    path = REPO / "deepprune" / "assets" / "tiny_reasoner"
    if not (path / "model.safetensors").exists():
        pytest.skip("tiny reasoner not exported yet (python -m experiments.demo.train_reasoner)")
    llm = vllm.LLM(
        model=str(path),
        dtype="float32",
        enforce_eager=True,
        gpu_memory_utilization=0.2,
        max_model_len=512,
        seed=0,
    )
    problems = generate_problems(2, "test", 0)
    prompts = [format_prompt(p.question) for p in problems]
    hf_tokenizer = AutoTokenizer.from_pretrained(path)
    outputs = llm.generate(prompts, vllm.SamplingParams(n=4, temperature=1.0, max_tokens=480))
    answers = []
    for problem, prompt, out in zip(problems, prompts, outputs, strict=True):
        assert out.prompt_token_ids == hf_tokenizer(prompt)["input_ids"]  # same prompt ids as in training
        for completion in out.outputs:
            assert completion.finish_reason == "stop"  # ended with EOS, not the length limit
            answers.append(extract_answer(completion.text) == str(problem.answer))
    assert any(answers)
