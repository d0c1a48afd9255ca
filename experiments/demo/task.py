"""Synthetic "decide early, then elaborate" task with verifiable integer answers.

A problem asks for ``(a * b + c) mod 100`` (one-digit ``a``, ``b``; two-digit ``c``). Its reference solution
has the shape the DeepPrune paper is about:

1. **the decisive step, first**: the product and the sum (the key value), written within the first ~30
   tokens of the solution. It is the only step that takes arithmetic, and the one a solution gets wrong:
   with a probability that grows with the carries to hold in mind (:meth:`Problem.slip_probability`) the
   reference writes a plausible slip (a dropped or extra carry, off by ten; or a product off by one or two);
2. **a long elaboration**: two rounds of numbered checks that restate and re-derive the key value (its
   digits, the product and the sum as written, its reduction mod 100). Every check copies what was written
   before, so a slip is *carried through*, never caught: the answer is fixed early, and the elaboration
   makes up ~90% of the tokens.

Openings, key lines and checks are phrased at random per line, so two solutions that end at the same
answer rarely share their wording: surface similarity of the first tokens says little, while a judge
that reads the key value knows where the trace ends.

Problems are assigned to splits by a hash of their question text, so the splits are disjoint by
construction and any generator (any seed, any difficulty) respects them:

* ``reasoner``: problems the tiny reasoner is trained on,
* ``val``: problems used to select the reasoner checkpoint,
* ``train`` / ``test``: the demo benchmark (judge training / evaluation), never seen by the reasoner.

The demo's recipe, not part of the package (run from the repository root: ``python -m experiments.demo.<script>``).
The package reads only the problems it writes (``benchmark=demo``), whose boxed answers the generic checker
extracts.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from collections.abc import Iterable
from dataclasses import dataclass

from deepprune.config_checks import check_int, check_range
from deepprune.data.answers import extract_boxed
from deepprune.data.io import atomic_write_text

SOLUTION_HEADER = "Solution:"
"""Line that separates the question from the solution in the prompt (see :func:`format_prompt`)."""

MODULUS = 100

# Percent buckets of sha256(question): small held-out splits, the rest trains the reasoner.
SPLIT_BUCKETS: dict[str, range] = {
    "test": range(0, 5),
    "train": range(5, 10),
    "val": range(10, 12),
    "reasoner": range(12, 100),
}

# Phrasing variants, chosen at random per line. Openings differ in length (0-4 tokens) and the key step
# is written on one line or two, so the key value does not sit at a fixed position either.
_OPENINGS = ("", "Okay.", "First the product.", "Let me compute.", "Step by step.", "We multiply first.")
_PRODUCTS = ("{a} * {b} = {p}.", "{a} times {b} is {p}.", "{b} * {a} = {p}.", "The product is {p}.")
_SUMS = ("{p} + {c} = {s}", "Adding {c} gives {s}", "{c} + {p} = {s}", "Then {p} + {c} = {s}")
_WRAPS = (", which is {y} mod 100.", ", so {y}.", ", and mod 100 that is {y}.")
# Checks: each restates what was written (never recomputes it from the question).
_CHECKS = (
    "the product {a} * {b} is {p}.",
    "{p} + {c} is {s}.",
    "{s} mod 100 is {y}.",
    "the tens digit of {y} is {t} and the ones digit is {u}.",
    "{y} is between 0 and 99, so it is reduced.",
    "so far the result is {y}.",
    "we started from {p} and added {c}.",
    "{y} is {p} plus {c}, mod 100.",
    "the answer should be {y}.",
)
_CHECK_HEADS = ("Check {i}:", "Check {i}, again:", "Let me check {i}:")
_REVIEWS = ("Let me verify this carefully.", "Now I check it.", "I will double check.", "Let me look again.")
_SECOND_REVIEWS = ("Let me go over it once more.", "One more round of checks.", "Again, to be sure.")
_ENDINGS = ("Therefore the answer is \\boxed{{{y}}}.", "So the final result is \\boxed{{{y}}}.")
# Slips of the key step as written: a carry dropped or added in the sum (off by ten), or a product off by
# one or two.
_SUM_SLIPS = (10, -10)
_PRODUCT_SLIPS = (1, -1, 2, -2)
_PRODUCT_SLIP_SHARE = 0.3


@dataclass(frozen=True)
class TaskConfig:
    """Difficulty knobs of the generator and the noise of the reference solutions.

    The factors are drawn from ``[min_factor, max_factor]``, the addend from ``[min_addend, max_addend]``.
    A reference solution slips at the key step with probability
    ``min(slip_prob + slip_per_carry * carries, max_slip_prob)`` (carries: 0-10, see :func:`carries`), so
    problems range from easy to hard, and it writes ``min_checks``-``max_checks`` numbered checks in each
    of its two rounds.
    """

    min_factor: int = 2
    max_factor: int = 9
    min_addend: int = 10
    max_addend: int = 99
    slip_prob: float = 0.04
    slip_per_carry: float = 0.06
    max_slip_prob: float = 0.6
    min_checks: int = 9
    max_checks: int = 10

    def __post_init__(self) -> None:
        check_int("task.min_factor", self.min_factor, minimum=2)
        check_int("task.max_factor", self.max_factor, minimum=self.min_factor)
        if self.max_factor > 9:
            raise ValueError(f"task.max_factor must be <= 9 (one-digit factors), got {self.max_factor}")
        check_int("task.min_addend", self.min_addend, minimum=1)
        check_int("task.max_addend", self.max_addend, minimum=self.min_addend)
        if self.max_addend > 99:
            raise ValueError(f"task.max_addend must be <= 99, got {self.max_addend}")
        check_range("task.slip_prob", self.slip_prob, 0.0, 1.0)
        check_range("task.slip_per_carry", self.slip_per_carry, 0.0, 1.0)
        check_range("task.max_slip_prob", self.max_slip_prob, 0.0, 1.0)
        check_int("task.min_checks", self.min_checks, minimum=0)
        check_int("task.max_checks", self.max_checks, minimum=self.min_checks)


def carries(a: int, b: int, c: int) -> int:
    """What the key step has to carry: the product's tens digit, plus one for a carry in the ones of the
    sum and one for wrapping past 100. E.g. 7 * 8 + 35: 56 (5), 6 + 5 = 11 (1), 91 < 100 (0): 6."""
    p = a * b
    return p // 10 + ((p % 10 + c % 10) >= 10) + (p + c >= MODULUS)


@dataclass(frozen=True)
class Problem:
    """``(a * b + c) mod 100``: the product and the sum are the decisive step, the rest restates them."""

    a: int
    b: int
    c: int

    @property
    def question(self) -> str:
        return f"Multiply {self.a} by {self.b}, then add {self.c}. What is the result mod {MODULUS}?"

    @property
    def answer(self) -> int:
        return (self.a * self.b + self.c) % MODULUS

    def slip_probability(self, config: TaskConfig) -> float:
        return min(config.slip_prob + config.slip_per_carry * carries(self.a, self.b, self.c), config.max_slip_prob)

    def solution(self, rng: random.Random, config: TaskConfig) -> str:
        """A worked solution ending in ``\\boxed{...}``, phrased (and slipped) at random by ``rng``."""
        p = self.a * self.b
        s = p + self.c
        if rng.random() < self.slip_probability(config):
            if rng.random() < _PRODUCT_SLIP_SHARE:
                p = _slipped(rng, p, _PRODUCT_SLIPS)
                s = p + self.c
            else:
                s = _slipped(rng, s, _SUM_SLIPS)
        return self.written_solution(rng, p, s, config)

    def written_solution(self, rng: random.Random, p: int, s: int, config: TaskConfig) -> str:
        """The solution that writes product ``p`` and sum ``s`` and carries them through to the end."""
        y = s % MODULUS
        values = {"a": self.a, "b": self.b, "c": self.c, "p": p, "s": s, "y": y, "t": y // 10, "u": y % 10}
        product = rng.choice(_PRODUCTS).format(**values)
        total = rng.choice(_SUMS).format(**values) + (rng.choice(_WRAPS).format(**values) if s >= MODULUS else ".")
        lines = [rng.choice(_OPENINGS), *([f"{product} {total}"] if rng.random() < 0.5 else [product, total])]
        lines += [rng.choice(_REVIEWS), *_checks(rng, values, config)]
        lines += [rng.choice(_SECOND_REVIEWS), *_checks(rng, values, config)]
        lines.append(rng.choice(_ENDINGS).format(y=y))
        return "\n".join(line for line in lines if line)


def _checks(rng: random.Random, values: dict[str, int], config: TaskConfig) -> list[str]:
    """Numbered checks that restate ``values`` (no template twice in a row)."""
    lines, last = [], None
    for i in range(1, rng.randint(config.min_checks, config.max_checks) + 1):
        template = rng.choice([t for t in _CHECKS if t != last])
        last = template
        lines.append(f"{rng.choice(_CHECK_HEADS).format(i=i)} {template.format(**values)}")
    return lines


def _slipped(rng: random.Random, value: int, deltas: tuple[int, ...]) -> int:
    """``value`` off by one of ``deltas``, kept positive (every delta changes the value mod 100)."""
    while True:
        wrong = value + rng.choice(deltas)
        if wrong > 0:
            return wrong


def sample_problem(rng: random.Random, config: TaskConfig) -> Problem:
    """Draw one problem: uniform factors and addend."""
    return Problem(
        a=rng.randint(config.min_factor, config.max_factor),
        b=rng.randint(config.min_factor, config.max_factor),
        c=rng.randint(config.min_addend, config.max_addend),
    )


def split_of(question: str) -> str:
    """The split a question belongs to, from a stable hash of its text."""
    bucket = int.from_bytes(hashlib.sha256(question.encode()).digest()[:8], "big") % 100
    return next(name for name, buckets in SPLIT_BUCKETS.items() if bucket in buckets)


def generate_problems(n: int, split: str, seed: int, config: TaskConfig | None = None) -> list[Problem]:
    """``n`` distinct problems of ``split``, deterministic in ``(split, seed, config)``."""
    if split not in SPLIT_BUCKETS:
        raise ValueError(f"unknown split {split!r}; expected one of {sorted(SPLIT_BUCKETS)}")
    config = config or TaskConfig()
    available = len(all_problems(split, config))
    if n > available:
        raise ValueError(f"{split!r} holds {available} distinct problems at this difficulty, {n} requested")
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


def all_problems(split: str, config: TaskConfig | None = None) -> list[Problem]:
    """Every problem of ``split`` at this difficulty, in a fixed order (the space is small: ~5.8k in all)."""
    config = config or TaskConfig()
    problems = (
        Problem(a, b, c)
        for a in range(config.min_factor, config.max_factor + 1)
        for b in range(config.min_factor, config.max_factor + 1)
        for c in range(config.min_addend, config.max_addend + 1)
    )
    return [p for p in problems if split_of(p.question) == split]


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
    fill = dict.fromkeys(("a", "b", "c", "p", "s", "y", "t", "u", "i"), 0)
    texts = [format_prompt(Problem(a=2, b=2, c=10).question)]
    for template in (*_OPENINGS, *_PRODUCTS, *_SUMS, *_WRAPS, *_CHECK_HEADS, *_REVIEWS, *_SECOND_REVIEWS, *_ENDINGS):
        texts.append(template.format(**fill))
    # Lines are composed as "<head> <body>" and "<product> <sum>": the second part's first word carries a space.
    texts += [f"x {template.format(**fill)}" for template in (*_CHECKS, *_SUMS)]
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
