"""Benchmark loading for live generation: local JSONL, prompt templates, GPQA option shuffling, selection."""

import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from deepprune.data.benchmarks import load_benchmark, render_prompt

ROOT = Path(__file__).resolve().parents[1]


def config(name: str, path: Path, **overrides):
    cfg = OmegaConf.load(ROOT / "conf" / "benchmark" / f"{name}.yaml")
    cfg.path = str(path)
    for key, value in overrides.items():
        cfg[key] = value
    return cfg


@pytest.fixture
def gpqa(tmp_path: Path) -> Path:
    path = tmp_path / "gpqa.jsonl"
    rows = [
        {
            "index": i,
            "question": f"Question {i}?\n\n\nA: right {i}\nB: wrong1\nC: wrong2\n\nD: wrong3",
            "true_answer": "A",
        }
        for i in range(12)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_gpqa_options_are_shuffled_with_the_gold_letter_remapped(gpqa):
    problems = load_benchmark(config("gpqa_diamond", gpqa))
    assert len(problems) == 12
    for p in problems:
        option = {line[0]: line[3:] for line in p.question.splitlines() if line[1:3] == ": "}
        assert sorted(option) == ["A", "B", "C", "D"]
        assert option[p.gold] == f"right {p.id}"
        assert p.prompt.endswith("put the letter of the correct option within \\boxed{}.")
    assert len({p.gold for p in problems}) > 1  # not always "A" any more
    # Seeded per problem: the same order whatever is selected; another seed gives another order.
    again = load_benchmark(config("gpqa_diamond", gpqa, ids=[5], limit=1))
    assert again[0].question == problems[5].question
    reseeded = load_benchmark(config("gpqa_diamond", gpqa, choices_seed=1))
    assert [p.question for p in reseeded] != [p.question for p in problems]


def test_local_aime_with_ids_and_limit(tmp_path):
    path = tmp_path / "aime.jsonl"
    path.write_text(
        "".join(json.dumps({"index": i, "question": f"q{i}", "true_answer": f"0{i}"}) + "\n" for i in range(5))
    )
    assert [p.id for p in load_benchmark(config("aime24", path, limit=2))] == ["0", "1"]
    picked = load_benchmark(config("aime24", path, ids=[4, 2]))
    assert [(p.id, p.gold) for p in picked] == [("2", "02"), ("4", "04")]
    assert picked[0].prompt == "q2\nPlease reason step by step, and put your final answer within \\boxed{}."
    with pytest.raises(ValueError, match="benchmark.ids"):
        load_benchmark(config("aime24", path, ids=[99]))


def test_errors_name_the_config_keys(tmp_path):
    path = tmp_path / "b.jsonl"
    path.write_text(json.dumps({"index": 0, "problem": "q", "true_answer": "1"}) + "\n")
    with pytest.raises(ValueError, match="question_field"):
        load_benchmark(config("aime24", path))
    with pytest.raises(FileNotFoundError, match="benchmark.path"):
        load_benchmark(config("aime24", tmp_path / "missing.jsonl"))
    with pytest.raises(ValueError, match="benchmark.path"):
        load_benchmark(OmegaConf.create({"name": "x", "path": None, "hub": None}))
    with pytest.raises(ValueError, match="question"):
        render_prompt("no placeholder", "q")
