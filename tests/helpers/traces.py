"""Builders for tiny trace datasets with known answers, shared by the tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from deepprune.data.io import write_problems
from deepprune.data.schema import Problem, Trace

# Single-wordpiece words, so the bundled MiniLM tokenizer counts one token per word.
WORDS = ["the", "cat", "sat", "on", "mat", "and", "then", "it", "ran", "far", "away", "home"]


def trace_text(answer: str, opening: str, length: int) -> str:
    """``length`` words starting with ``opening`` (which decides the answer), ending "the answer is X"."""
    body = (opening.split() + WORDS * length)[: max(length - 4, 1)]
    return " ".join(body) + f" the answer is {answer}"


def make_problem(pid: str, gold: str, answers: list[str | None], confs: bool = True, seed: int = 0) -> Problem:
    """A problem whose i-th trace ends in ``answers[i]``; traces with the same answer share an opening."""
    rng = np.random.default_rng(seed)
    traces = []
    for i, answer in enumerate(answers):
        opening = f"route {answer or 'none'} chosen" if answer else "route none chosen"
        length = 20 + 2 * i
        text = trace_text(answer if answer is not None else "unclear", opening, length)
        tokens = len(text.split())
        traces.append(
            Trace(
                text=text,
                answer=answer,
                num_tokens=tokens,
                confs=(rng.uniform(1.0, 3.0, size=tokens).round(4).tolist() if confs else None),
            )
        )
    return Problem(id=pid, question=f"question {pid}", gold=gold, traces=traces, benchmark="toy")


def write_toy_file(path: Path, confs: bool = True) -> Path:
    """Three problems: majority right, majority wrong, and one with answerless traces."""
    problems = [
        make_problem("p0", "a", ["a", "a", "b", "a", "c", "a", "b", "a"], confs, seed=0),
        make_problem("p1", "x", ["y", "y", "x", "y", "x", "y", "z", "y"], confs, seed=1),
        make_problem("p2", "m", [None, "m", "m", None, "n", "m", "m", "n"], confs, seed=2),
    ]
    write_problems(path, problems)
    return path
