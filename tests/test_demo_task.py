"""The synthetic task and the reasoner's tokenizer: determinism, correctness, disjoint splits, round trips."""

from __future__ import annotations

import itertools
import json
import random
import re
from pathlib import Path

import pytest

import deepprune
from experiments.demo.reasoner import build_tokenizer
from experiments.demo.task import (
    SPLIT_BUCKETS,
    Problem,
    TaskConfig,
    all_problems,
    benchmark_rows,
    carries,
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
    config = TaskConfig(slip_prob=0.5)
    assert a[0].solution(random.Random(7), config) == a[0].solution(random.Random(7), config)


def test_question_and_answer_are_worked_by_hand() -> None:
    problem = Problem(a=7, b=8, c=35)
    assert problem.question == "Multiply 7 by 8, then add 35. What is the result mod 100?"
    assert problem.answer == 91  # 56 + 35
    assert Problem(a=9, b=9, c=49).answer == 30  # 81 + 49 = 130
    # 7 * 8 = 56: tens digit 5; 6 + 5 = 11 carries 1; 91 < 100 does not wrap.
    assert carries(7, 8, 35) == 6 and carries(9, 9, 49) == 8 + 1 + 1 and carries(2, 3, 10) == 0


@pytest.mark.parametrize("slip_prob", [0.0, 1.0])
def test_decisive_step_comes_first_and_the_elaboration_carries_it_through(tokenizer, slip_prob: float) -> None:
    config = TaskConfig(slip_prob=slip_prob, slip_per_carry=0.0, max_slip_prob=1.0)
    rng = random.Random(0)
    lengths, right = [], 0
    for problem in generate_problems(200, "reasoner", seed=0):
        solution = problem.solution(rng, config)
        boxed = extract_answer(solution)
        right += boxed == str(problem.answer)
        ids = tokenizer(solution)["input_ids"]
        lengths.append(len(ids))
        # The sum the answer comes from is written within the first 32 tokens (the judge's prefix); every check
        # restates it: the elaboration never changes the answer the key step fixed. (c >= 10, so the product
        # never matches the answer mod 100.)
        written = re.findall(r"(?:=|gives) (\d+)", tokenizer.decode(ids[:32]))
        assert any(int(n) % 100 == int(boxed) for n in written), solution
        checks = [line for line in solution.splitlines() if re.match(r"(Check|Let me check) \d+", line)]
        assert len(checks) >= 2 * config.min_checks
    assert right == (200 if slip_prob == 0.0 else 0)  # a slip always changes the answer
    assert sum(lengths) / len(lengths) >= 320  # >= 10x the judge's 32-token prefix


def test_slips_are_plausible_and_varied() -> None:
    problem = Problem(a=7, b=8, c=35)
    config = TaskConfig(slip_prob=1.0, max_slip_prob=1.0)
    rng = random.Random(0)
    wrong = {extract_answer(problem.solution(rng, config)) for _ in range(200)}
    # A dropped or extra carry (81, 1) or a product off by one or two (89, 90, 92, 93).
    assert wrong == {"81", "1", "89", "90", "92", "93"}


def test_harder_problems_slip_more() -> None:
    config = TaskConfig()
    easy, hard = Problem(a=2, b=3, c=10), Problem(a=9, b=9, c=49)
    assert easy.slip_probability(config) == pytest.approx(0.04)
    assert hard.slip_probability(TaskConfig(max_slip_prob=1.0)) == pytest.approx(0.04 + 0.06 * 10)
    assert hard.slip_probability(TaskConfig(max_slip_prob=0.5)) == 0.5


def test_reference_answers_are_diverse_but_mostly_right() -> None:
    """The regime the demo needs, on the reference solutions: right often but not always, several wrong answers
    per problem, most trace pairs agreeing."""
    config = TaskConfig()
    rng = random.Random(0)
    accuracy, wrong_answers, same = [], [], []
    for problem in generate_problems(40, "test", seed=0):
        answers = [extract_answer(problem.solution(rng, config)) for _ in range(64)]
        accuracy.append(sum(a == str(problem.answer) for a in answers) / 64)
        wrong_answers.append(len({a for a in answers if a != str(problem.answer)}))
        same.append(sum(a == b for a, b in itertools.combinations(answers, 2)) / (64 * 63 / 2))
    assert 0.5 <= sum(accuracy) / 40 <= 0.85
    assert sum(wrong_answers) / 40 >= 2
    assert 0.5 <= sum(same) / 40 <= 0.85


def test_splits_are_disjoint_and_hash_assigned() -> None:
    questions = {split: {p.question for p in all_problems(split)} for split in SPLIT_BUCKETS}
    assert sum(map(len, questions.values())) == 8 * 8 * 90  # every problem is in exactly one split
    for a in SPLIT_BUCKETS:
        assert all(split_of(q) == a for q in questions[a])
        for b in SPLIT_BUCKETS:
            if a < b:
                assert not questions[a] & questions[b]
    drawn = generate_problems(60, "test", seed=0)
    assert len({p.question for p in drawn}) == 60 and {p.question for p in drawn} <= questions["test"]
    with pytest.raises(ValueError, match=f"'val' holds {len(questions['val'])} distinct problems"):
        generate_problems(len(questions["val"]) + 1, "val", seed=0)


def test_difficulty_knobs() -> None:
    config = TaskConfig(min_factor=3, max_factor=4, min_addend=10, max_addend=30)
    problems = all_problems("reasoner", config)
    assert 0 < len(problems) <= 2 * 2 * 21
    for problem in generate_problems(len(problems), "reasoner", seed=1, config=config):
        assert 3 <= problem.a <= 4 and 3 <= problem.b <= 4 and 10 <= problem.c <= 30
    with pytest.raises(ValueError, match="task.max_factor must be >= 4"):
        TaskConfig(min_factor=4, max_factor=3)
    with pytest.raises(ValueError, match="task.max_factor must be <= 9"):
        TaskConfig(max_factor=12)
    with pytest.raises(ValueError, match="task.slip_prob must be in"):
        TaskConfig(slip_prob=1.5)


def test_extract_answer_takes_the_last_box() -> None:
    assert extract_answer("so \\boxed{3} wait \\boxed{ 42 }.") == "42"
    assert extract_answer("no box here") is None


def test_tokenizer_round_trips_generated_text(tokenizer) -> None:
    rng = random.Random(1)
    for problem in generate_problems(200, "test", seed=5):
        text = format_prompt(problem.question) + problem.solution(rng, TaskConfig(slip_prob=0.3))
        ids = tokenizer(text)["input_ids"]
        assert tokenizer.unk_token_id not in ids
        assert tokenizer.decode(ids) == text
        # Digits are single tokens, so arithmetic is done digit by digit.
        assert all(len(t.strip()) == 1 for t in tokenizer.convert_ids_to_tokens(ids) if t.strip().isdigit())


def test_prompt_tokens_are_a_prefix_and_no_special_tokens_are_added(tokenizer) -> None:
    problem = generate_problems(1, "test", seed=0)[0]
    prompt = format_prompt(problem.question)
    solution = problem.solution(random.Random(0), TaskConfig())
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


@pytest.mark.parametrize("split,n,first", [("train", 200, 0), ("test", 100, 200)])
def test_shipped_benchmark_is_what_make_benchmark_writes(split: str, n: int, first: int) -> None:
    path = Path(deepprune.__file__).parent / "assets" / "demo_benchmark" / f"{split}.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert rows == benchmark_rows(generate_problems(n, split, seed=0, config=TaskConfig()), first)
