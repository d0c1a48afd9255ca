"""Benchmark problems for live generation: local JSONL or the Hugging Face hub, prompt applied.

``benchmark.path`` (a JSONL file with ``id_field``/``question_field``/``answer_field``, like
``aime24.jsonl``) wins over ``benchmark.hub`` (loaded with ``datasets``, fields from
``benchmark.hub_fields``). Multiple-choice benchmarks (``shuffle_choices``) have their options shuffled
with a per-problem seed derived from ``choices_seed`` and the problem id, and the gold letter remapped,
so the same problem gets the same order whatever ``limit``/``ids`` select.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LETTERS = "ABCDEFGHIJ"
# Options written into the question as in the GPQA files: "\n\nA: ...\nB: ...\nC: ...\n\nD: ..." at the end.
_OPTIONS = re.compile(r"\n+A: (.*?)\n+B: (.*?)\n+C: (.*?)\n+D: (.*)\Z", re.S)


@dataclass(frozen=True)
class BenchmarkProblem:
    """One problem: ``question`` as in the data (options shuffled), ``prompt`` = template applied."""

    id: str
    question: str
    gold: str
    prompt: str


def render_prompt(template: str, question: str) -> str:
    """Fill ``{question}``; plain replacement because templates contain literal braces (``\\boxed{}``)."""
    if "{question}" not in template:
        raise ValueError("benchmark.prompt must contain '{question}'")
    return template.replace("{question}", question)


def format_choices(stem: str, options: Sequence[str]) -> str:
    return stem + "\n\n" + "\n".join(f"{LETTERS[i]}: {option}" for i, option in enumerate(options))


def shuffle_choices(stem: str, correct: str, incorrect: Sequence[str], seed: int, problem_id: str) -> tuple[str, str]:
    """Question with the options in a seeded random order, and the letter of the correct one."""
    options = [correct, *incorrect]
    order = list(range(len(options)))
    random.Random(f"{seed}:{problem_id}").shuffle(order)
    return format_choices(stem, [options[i] for i in order]), LETTERS[order.index(0)]


def _split_options(question: str, gold: str, where: str) -> tuple[str, str, list[str]]:
    match = _OPTIONS.search(question)
    if match is None:
        raise ValueError(f"{where}: shuffle_choices needs options written as 'A: ...' to 'D: ...' at the end")
    options = [o.strip() for o in match.groups()]
    letter = gold.strip().upper()
    if letter not in LETTERS[: len(options)]:
        raise ValueError(f"{where}: gold {gold!r} is not one of the option letters A-D")
    correct = options.pop(LETTERS.index(letter))
    return question[: match.start()], correct, options


def _read_jsonl(path: Path) -> Iterable[tuple[int, dict[str, Any]]]:
    with open(path, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    yield line_number, json.loads(line)
                except json.JSONDecodeError as err:
                    raise ValueError(f"{path}:{line_number}: invalid JSON: {err.msg}") from err


def _field(record: Mapping[str, Any], name: str, where: str, key: str) -> Any:
    if name not in record:
        raise ValueError(f"{where}: no field {name!r} (set benchmark.{key}); fields: {sorted(record)}")
    return record[name]


def _local_problems(cfg: Mapping[str, Any]) -> list[BenchmarkProblem]:
    path = Path(cfg["path"])
    if not path.exists():
        raise FileNotFoundError(f"benchmark.path={path} does not exist")
    id_field = cfg["id_field"]
    problems = []
    for line_number, record in _read_jsonl(path):
        where = f"{path}:{line_number}"
        problem_id = str(record[id_field]) if id_field in record else str(line_number - 1)
        question = str(_field(record, cfg["question_field"], where, "question_field"))
        gold = str(_field(record, cfg["answer_field"], where, "answer_field"))
        if cfg["shuffle_choices"]:
            stem, correct, incorrect = _split_options(question, gold, where)
            question, gold = shuffle_choices(stem, correct, incorrect, int(cfg["choices_seed"]), problem_id)
        problems.append(BenchmarkProblem(problem_id, question, gold, render_prompt(cfg["prompt"], question)))
    return problems


def _hub_problems(cfg: Mapping[str, Any]) -> list[BenchmarkProblem]:
    try:
        import datasets
    except ImportError as err:  # a configuration error: one line naming the keys, not an import traceback
        raise ValueError(
            f"benchmark.hub={cfg['hub']} needs the 'datasets' package (pip install datasets), "
            "or point benchmark.path at a local JSONL file"
        ) from err
    fields = cfg["hub_fields"] or {}
    question_field, answer_field = fields.get("question", "question"), fields.get("answer", "answer")
    id_field, incorrect_fields = fields.get("id"), list(fields.get("incorrect") or [])
    data = datasets.load_dataset(cfg["hub"], cfg["hub_config"], split=cfg["split"])
    problems = []
    for row_number, record in enumerate(data):
        where = f"{cfg['hub']} row {row_number}"
        problem_id = str(record[id_field]) if id_field and id_field in record else str(row_number)
        question = str(_field(record, question_field, where, "hub_fields.question")).strip()
        gold = str(_field(record, answer_field, where, "hub_fields.answer")).strip()
        if cfg["shuffle_choices"]:
            if not incorrect_fields:
                raise ValueError("benchmark.shuffle_choices with benchmark.hub needs benchmark.hub_fields.incorrect")
            incorrect = [str(_field(record, f, where, "hub_fields.incorrect")).strip() for f in incorrect_fields]
            question, gold = shuffle_choices(question, gold, incorrect, int(cfg["choices_seed"]), problem_id)
        problems.append(BenchmarkProblem(problem_id, question, gold, render_prompt(cfg["prompt"], question)))
    return problems


def select(problems: list[BenchmarkProblem], ids: Sequence[Any] | None, limit: int | None) -> list[BenchmarkProblem]:
    """Keep ``ids`` (in file order; unknown ids are an error), then the first ``limit``."""
    if ids is not None:
        wanted = {str(i) for i in ids}
        missing = wanted - {p.id for p in problems}
        if missing:
            raise ValueError(f"benchmark.ids not in the benchmark: {sorted(missing)}")
        problems = [p for p in problems if p.id in wanted]
    if limit is not None:
        if int(limit) < 1:
            raise ValueError(f"benchmark.limit must be >= 1 or null, got {limit}")
        problems = problems[: int(limit)]
    return problems


def load_benchmark(cfg: Mapping[str, Any]) -> list[BenchmarkProblem]:
    """Problems of the configured benchmark (``cfg`` = the ``benchmark`` config node)."""
    if cfg["path"]:
        problems = _local_problems(cfg)
    elif cfg["hub"]:
        problems = _hub_problems(cfg)
    else:
        raise ValueError(f"benchmark {cfg['name']!r} has neither benchmark.path (local JSONL) nor benchmark.hub")
    ids = cfg["ids"]
    return select(problems, list(ids) if ids is not None else None, cfg["limit"])
