"""Synthetic multi-step modular arithmetic task with verifiable integer answers.

A problem starts from a number and applies a chain of operations modulo ``modulus``; its reference
solution works one step per line with discourse markers ("let me", "so", "wait", "check",
"therefore") and ends with ``\\boxed{N}``. Each step consumes the previous result, so a slip made
early carries through to the final answer: the first part of a trace is informative about where
it ends, which is what a DeepPrune judge has to exploit.

Problems are assigned to splits by a hash of their question text, so the splits are disjoint by
construction and any generator (any seed, any difficulty) respects them:

* ``reasoner``: problems the tiny reasoner is trained on,
* ``val``: problems used to select the reasoner checkpoint,
* ``train`` / ``test``: the demo benchmark (judge training / evaluation), never seen by the reasoner.

The demo's recipe, not part of the package: the scripts next to this file import it (and ``reasoner.py``)
as sibling modules, since Python puts a script's own directory first on ``sys.path``. The package reads
only the problems it writes (``benchmark=demo``), whose boxed answers the generic checker extracts.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from collections.abc import Iterable
from dataclasses import dataclass

from deepprune.data.answers import extract_boxed
from deepprune.data.io import atomic_write_text

SOLUTION_HEADER = "Solution:"
"""Line that separates the question from the solution in the prompt (see :func:`format_prompt`)."""

# Percent buckets of sha256(question): small held-out splits, the rest trains the reasoner.
SPLIT_BUCKETS: dict[str, range] = {
    "test": range(0, 5),
    "train": range(5, 10),
    "val": range(10, 12),
    "reasoner": range(12, 100),
}

_OPS = ("add", "subtract", "multiply")
_SYMBOL = {"add": "+", "subtract": "-", "multiply": "*"}
_QUESTION_OP = {"add": "Add {b}.", "subtract": "Subtract {b}.", "multiply": "Multiply by {b}."}
_VERB = {"add": "add {b}", "subtract": "subtract {b}", "multiply": "multiply by {b}"}

# Phrasing variants are chosen at random per line: traces that reach the same answer still differ
# in wording, so a judge has to compare the numbers rather than the surface text.
_OPENINGS = ("Let me start with {s}.", "We start with {s}.", "The number starts at {s}.")
_STEP_HEADS = ("Step {k}: {verb}.", "Step {k}: let me {verb}.", "Step {k}: now we {verb}.")
_STEP_BODIES = ("{work}.", "So {work}.", "Then {work}.")
_WRAP_MOD = (", which is {r} mod {m}", ", so we keep {r}", ", and mod {m} that is {r}")
_WRAP_NEG = ("{a} - {b} is below 0, so {a2} - {b} = {r}", "{a} - {b} is negative, so {a2} - {b} = {r}")
_CHECKS = ("Let me check: {calc}. Yes, {r} is right.", "Check: {calc}, so {r} is correct.")
_SLIP_FIXES = (
    "Wait, that is wrong. {calc}, so it is {r}.",
    "Wait, let me check again: {calc}. So it is {r}, not {wrong}.",
)
_ENDINGS = ("Therefore the answer is \\boxed{{{r}}}.", "So the final result is \\boxed{{{r}}}.")


@dataclass(frozen=True)
class TaskConfig:
    """Difficulty knobs of the generator and the noise of the reference solutions.

    ``slip_prob`` is the chance that a step is first written with a wrong value and then corrected
    after "Wait"; ``check_prob`` the chance that a correct step is followed by an explicit check.
    """

    min_ops: int = 3
    max_ops: int = 6
    max_addend: int = 99
    min_multiplier: int = 2
    max_multiplier: int = 9
    modulus: int = 100
    slip_prob: float = 0.1
    check_prob: float = 0.05

    def __post_init__(self) -> None:
        if not 1 <= self.min_ops <= self.max_ops:
            raise ValueError(f"need 1 <= min_ops <= max_ops, got {self.min_ops}, {self.max_ops}")
        if not 2 <= self.min_multiplier <= self.max_multiplier:
            raise ValueError("need 2 <= min_multiplier <= max_multiplier")
        if self.max_addend < 1 or self.modulus < 2:
            raise ValueError("need max_addend >= 1 and modulus >= 2")


@dataclass(frozen=True)
class Problem:
    """A start value and a chain of ``(operation, operand)`` pairs, evaluated modulo ``modulus``."""

    start: int
    ops: tuple[tuple[str, int], ...]
    modulus: int = 100

    @property
    def question(self) -> str:
        steps = " ".join(_QUESTION_OP[op].format(b=b) for op, b in self.ops)
        return f"Start with {self.start}. {steps} What is the result mod {self.modulus}?"

    @property
    def values(self) -> list[int]:
        """Running value after each operation (the last one is the answer)."""
        value, out = self.start, []
        for op, b in self.ops:
            value = _apply(op, value, b, self.modulus)
            out.append(value)
        return out

    @property
    def answer(self) -> int:
        return self.values[-1]

    def solution(self, rng: random.Random, slip_prob: float = 0.0, check_prob: float = 0.0) -> str:
        """A step-by-step solution ending in ``\\boxed{answer}``, phrased at random by ``rng``."""
        m = self.modulus
        lines = [rng.choice(_OPENINGS).format(s=self.start)]
        a = self.start
        for k, (op, b) in enumerate(self.ops, start=1):
            r = _apply(op, a, b, m)
            head = rng.choice(_STEP_HEADS).format(k=k, verb=_VERB[op].format(b=b))
            body = rng.choice(_STEP_BODIES)
            if rng.random() < slip_prob:
                wrong_raw = _slip(rng, _raw(op, a, b), m)
                wrong_work = _work(rng, op, a, b, wrong_raw, m)
                lines.append(f"{head} {body.format(work=wrong_work)}")
                fix = rng.choice(_SLIP_FIXES)
                lines.append(fix.format(calc=_calc(op, a, b, m), wrong=wrong_raw % m, r=r))
            else:
                lines.append(f"{head} {body.format(work=_work(rng, op, a, b, _raw(op, a, b), m))}")
                if rng.random() < check_prob:
                    lines.append(rng.choice(_CHECKS).format(calc=_calc(op, a, b, m), r=r))
            a = r
        lines.append(rng.choice(_ENDINGS).format(r=a))
        return "\n".join(lines)


def _apply(op: str, a: int, b: int, m: int) -> int:
    return _raw(op, a, b) % m


def _raw(op: str, a: int, b: int) -> int:
    if op == "add":
        return a + b
    if op == "subtract":
        return a - b
    return a * b


def _calc(op: str, a: int, b: int, m: int) -> str:
    """Plain statement of a step's arithmetic, used by checks and corrections."""
    raw = _raw(op, a, b)
    if raw < 0:
        return f"{a + m} - {b} = {raw % m}"
    return f"{a} {_SYMBOL[op]} {b} = {raw}"


def _work(rng: random.Random, op: str, a: int, b: int, raw: int, m: int) -> str:
    """The written computation of a step whose (possibly wrong) unreduced result is ``raw``."""
    if raw < 0:
        return rng.choice(_WRAP_NEG).format(a=a, b=b, a2=a + m, r=raw % m)
    text = f"{a} {_SYMBOL[op]} {b} = {raw}"
    if raw >= m:
        text += rng.choice(_WRAP_MOD).format(r=raw % m, m=m)
    return text


def _slip(rng: random.Random, raw: int, m: int) -> int:
    """A plausible arithmetic slip: off by a little, or off by ten (a carried digit)."""
    while True:
        delta = rng.choice([-10, -2, -1, 1, 2, 10])
        wrong = raw + delta
        # A slip must change the reduced value, otherwise the "correction" would be vacuous.
        if wrong % m != raw % m and (raw < 0) == (wrong < 0):
            return wrong


def sample_problem(rng: random.Random, config: TaskConfig) -> Problem:
    """Draw one problem: uniform start, op count, operation and operand."""
    n_ops = rng.randint(config.min_ops, config.max_ops)
    ops = []
    for _ in range(n_ops):
        op = rng.choice(_OPS)
        if op == "multiply":
            ops.append((op, rng.randint(config.min_multiplier, config.max_multiplier)))
        else:
            ops.append((op, rng.randint(1, config.max_addend)))
    return Problem(start=rng.randrange(config.modulus), ops=tuple(ops), modulus=config.modulus)


def split_of(question: str) -> str:
    """The split a question belongs to, from a stable hash of its text."""
    bucket = int.from_bytes(hashlib.sha256(question.encode()).digest()[:8], "big") % 100
    return next(name for name, buckets in SPLIT_BUCKETS.items() if bucket in buckets)


def generate_problems(n: int, split: str, seed: int, config: TaskConfig | None = None) -> list[Problem]:
    """``n`` distinct problems of ``split``, deterministic in ``(split, seed, config)``."""
    if split not in SPLIT_BUCKETS:
        raise ValueError(f"unknown split {split!r}; expected one of {sorted(SPLIT_BUCKETS)}")
    config = config or TaskConfig()
    rng = random.Random(f"{split}-{seed}")
    seen: set[str] = set()
    problems: list[Problem] = []
    while len(problems) < n:
        problem = sample_problem(rng, config)
        question = problem.question
        if question not in seen and split_of(question) == split:
            seen.add(question)
            problems.append(problem)
    return problems


def format_prompt(question: str) -> str:
    """The exact text fed to the reasoner: the question, then a ``Solution:`` line.

    The reasoner's tokenizer carries a chat template that renders a single user message to the same
    string, so ``apply_chat_template([{"role": "user", "content": q}], add_generation_prompt=True)``
    and ``format_prompt(q)`` are interchangeable.
    """
    return f"{question}\n{SOLUTION_HEADER}\n"


def extract_answer(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` in ``text`` (the benchmark's extractor), or ``None``."""
    return extract_boxed(text)


def template_corpus() -> list[str]:
    """Texts that contain every word and symbol the generator can emit (digits aside).

    The word-level tokenizer takes its vocabulary from these, so it covers all generated text by
    construction rather than by hoping a random sample hit every phrasing.
    """
    texts = [format_prompt(Problem(start=0, ops=tuple((op, 2) for op in _OPS)).question)]
    fill = {"s": 0, "k": 0, "b": 0, "r": 0, "m": 0, "a": 0, "a2": 0, "wrong": 0, "calc": "0 + 0 = 0"}
    for op in _OPS:
        fill["verb"] = _VERB[op].format(b=0)
        fill["work"] = f"0 {_SYMBOL[op]} 0 = 0"
        # Lines are composed as "<head> <body>": the body's first word carries a leading space.
        for head in _STEP_HEADS:
            texts.extend(f"{head} {body}".format(**fill) for body in _STEP_BODIES)
    for template in (*_OPENINGS, *_WRAP_MOD, *_WRAP_NEG, *_CHECKS, *_SLIP_FIXES, *_ENDINGS):
        texts.append(template.format(**fill))
    return texts


def benchmark_rows(problems: Iterable[Problem], first_index: int = 0) -> list[dict[str, object]]:
    """Benchmark records in the shared format (``index``, ``question``, ``true_answer``).

    ``first_index`` keeps ids unique across splits (judge training refuses train/test id overlap).
    """
    return [
        {"index": first_index + i, "question": p.question, "true_answer": str(p.answer)} for i, p in enumerate(problems)
    ]


def write_jsonl_atomic(path: str | os.PathLike[str], rows: Iterable[dict[str, object]]) -> None:
    """Write ``rows`` as JSON lines atomically (readers never see a partial file)."""
    atomic_write_text(path, "".join(json.dumps(row) + "\n" for row in rows))
