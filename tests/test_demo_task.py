"""The synthetic task and the reasoner's tokenizer: determinism, correctness, disjoint splits, round trips."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import pytest

import deepprune

# The demo's recipe lives in experiments/demo (not in the package); its modules import each other as siblings.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments" / "demo"))
from reasoner import build_tokenizer  # noqa: E402
from task import (  # noqa: E402
    SPLIT_BUCKETS,
    Problem,
    TaskConfig,
    benchmark_rows,
    extract_answer,
    format_prompt,
    generate_problems,
    split_of,
    write_jsonl_atomic,
)


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer()


def test_generator_is_seeded_and_deterministic() -> None:
    a = generate_problems(50, "reasoner", seed=3)
    assert a == generate_problems(50, "reasoner", seed=3)
    assert a != generate_problems(50, "reasoner", seed=4)
    solution = a[0].solution(random.Random(7), slip_prob=0.5, check_prob=0.5)
    assert solution == a[0].solution(random.Random(7), slip_prob=0.5, check_prob=0.5)


def test_question_and_answer_are_worked_by_hand() -> None:
    problem = Problem(start=37, ops=(("add", 12), ("multiply", 3), ("subtract", 55)))
    assert problem.question == "Start with 37. Add 12. Multiply by 3. Subtract 55. What is the result mod 100?"
    assert problem.values == [49, 47, 92]  # 49*3 = 147 -> 47; 47-55 < 0 -> 147-55 = 92
    assert problem.answer == 92


@pytest.mark.parametrize("slip_prob", [0.0, 0.5, 1.0])
def test_solution_boxes_the_gold_answer(slip_prob: float) -> None:
    config = TaskConfig(min_ops=1, max_ops=8, max_addend=150, max_multiplier=12, slip_prob=slip_prob)
    rng = random.Random(0)
    for problem in generate_problems(300, "reasoner", seed=0, config=config):
        solution = problem.solution(rng, slip_prob=slip_prob, check_prob=0.3)
        assert extract_answer(solution) == str(problem.answer)
        assert solution.count("\n") >= len(problem.ops) + 1  # opening, one line per step, conclusion
        # Every intermediate value appears in the worked solution, in order.
        for k, value in enumerate(problem.values, start=1):
            assert f"Step {k}:" in solution
            assert str(value) in solution.split(f"Step {k}:")[1]
    if slip_prob == 1.0:
        assert "Wait" in solution  # every step slipped, then was corrected


def test_slips_are_written_then_corrected() -> None:
    problem = Problem(start=10, ops=(("add", 5),))
    solution = problem.solution(random.Random(0), slip_prob=1.0)
    lines = solution.splitlines()
    assert lines[1].startswith("Step 1:") and "15" not in lines[1].split("=")[-1]
    assert lines[2].startswith("Wait") and "15" in lines[2]
    assert extract_answer(solution) == "15"


def test_splits_are_disjoint_and_hash_assigned() -> None:
    questions = {split: {p.question for p in generate_problems(200, split, seed=0)} for split in SPLIT_BUCKETS}
    for a in SPLIT_BUCKETS:
        assert all(split_of(q) == a for q in questions[a])
        for b in SPLIT_BUCKETS:
            if a < b:
                assert not questions[a] & questions[b]
    assert len(questions["test"]) == 200  # problems within a split are distinct


def test_difficulty_knobs() -> None:
    config = TaskConfig(min_ops=5, max_ops=5, max_addend=3, min_multiplier=2, max_multiplier=2)
    for problem in generate_problems(50, "reasoner", seed=1, config=config):
        assert len(problem.ops) == 5
        assert all((op == "multiply" and b == 2) or (op != "multiply" and 1 <= b <= 3) for op, b in problem.ops)
    with pytest.raises(ValueError):
        TaskConfig(min_ops=4, max_ops=3)


def test_extract_answer_takes_the_last_box() -> None:
    assert extract_answer("so \\boxed{3} wait \\boxed{ 42 }.") == "42"
    assert extract_answer("no box here") is None


def test_tokenizer_round_trips_generated_text(tokenizer) -> None:
    rng = random.Random(1)
    config = TaskConfig(min_ops=1, max_ops=9, max_addend=999, max_multiplier=99)
    for problem in generate_problems(200, "test", seed=5, config=config):
        text = format_prompt(problem.question) + problem.solution(rng, slip_prob=0.3, check_prob=0.3)
        ids = tokenizer(text)["input_ids"]
        assert tokenizer.unk_token_id not in ids
        assert tokenizer.decode(ids) == text
        # Digits are single tokens, so arithmetic is done digit by digit.
        assert all(len(t.strip()) == 1 for t in tokenizer.convert_ids_to_tokens(ids) if t.strip().isdigit())


def test_prompt_tokens_are_a_prefix_and_no_special_tokens_are_added(tokenizer) -> None:
    problem = generate_problems(1, "test", seed=0)[0]
    prompt = format_prompt(problem.question)
    solution = problem.solution(random.Random(0))
    prompt_ids = tokenizer(prompt)["input_ids"]
    assert tokenizer(prompt + solution)["input_ids"][: len(prompt_ids)] == prompt_ids
    assert tokenizer.bos_token_id not in prompt_ids and tokenizer.eos_token_id not in prompt_ids


def test_chat_template_renders_format_prompt(tokenizer) -> None:
    question = generate_problems(1, "test", seed=0)[0].question
    messages = [{"role": "user", "content": question}]
    rendered = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert rendered == format_prompt(question)
    assert (
        tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=False)
        == (tokenizer(format_prompt(question))["input_ids"])
    )


def test_benchmark_rows_match_the_shared_format(tmp_path) -> None:
    problems = generate_problems(5, "test", seed=0)
    path = tmp_path / "bench" / "test.jsonl"
    write_jsonl_atomic(path, benchmark_rows(problems))
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["index"] for r in rows] == list(range(5))
    assert all(set(r) == {"index", "question", "true_answer"} for r in rows)
    assert rows[2]["true_answer"] == str(problems[2].answer) and rows[2]["question"] == problems[2].question
    assert list(tmp_path.joinpath("bench").iterdir()) == [path]  # no temporary file left behind


@pytest.mark.parametrize("split,n,first", [("train", 200, 0), ("test", 50, 200)])
def test_shipped_benchmark_is_what_make_benchmark_writes(split: str, n: int, first: int) -> None:
    path = Path(deepprune.__file__).parent / "assets" / "demo_benchmark" / f"{split}.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert rows == benchmark_rows(generate_problems(n, split, seed=0, config=TaskConfig(min_ops=3, max_ops=6)), first)
