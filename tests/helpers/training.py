"""Tiny fixtures for the judge-training tests: trace files whose answers differ, tiny Qwen3 dirs."""

from __future__ import annotations

import json
import random
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

UNANSWERED = "I could not finish"
WORDS = ["apple", "river", "stone", "cloud", "maple", "tiger", "lemon", "piano", "ocean", "zebra", "violet", "candle"]


def trace_text(words: list[str], letters: str) -> str:
    steps = " ".join(f"The last letter of '{w}' is '{c}'." for w, c in zip(words, letters, strict=True))
    return f"{steps} Concatenating them is '{letters}'. The answer is {letters}."


def write_traces(path: Path, num_problems: int = 12, traces_per_problem: int = 8, seed: int = 0) -> Path:
    """Last-letter problems; ~30% of traces make a slip early (a wrong letter) and so end differently.

    The slip is visible in the prefix, so a judge can learn it; some traces have no answer.
    """
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as handle:
        for index in range(num_problems):
            words = rng.sample(WORDS, 3)
            gold = "".join(w[-1] for w in words)
            traces = []
            for t in range(traces_per_problem):
                letters = list(gold)
                if rng.random() < 0.3:
                    letters[0] = rng.choice("xqj")
                answer = "".join(letters)
                if t == traces_per_problem - 1:
                    traces.append({"text": f"{UNANSWERED} the letters of {' '.join(words)}", "answer": None})
                else:
                    traces.append({"text": trace_text(words, answer), "answer": answer})
            record = {"id": f"p{index:03d}", "question": " ".join(words), "gold": gold, "traces": traces}
            handle.write(json.dumps(record) + "\n")
    return path


def tiny_qwen3_dir(path: Path) -> str:
    """A tiny random-init Qwen3 with the bundled MiniLM tokenizer (same one train.py generates)."""
    from deepprune.tiny_models import tiny_judge_base

    return tiny_judge_base(path, seed=0, hidden_size=64, num_layers=2)


def data_config(train: Path, **changes: object) -> DictConfig:
    """A ``data`` config for ``JudgeDataModule`` on ``train`` (split by problem: 20% validation, 25% test), with
    ``changes`` applied."""
    return OmegaConf.create(
        {
            "train": str(train),
            "val": None,
            "test": None,
            "val_fraction": 0.2,
            "test_fraction": 0.25,
            "on_error": "raise",
            "tokenizer": None,
            "trust_remote_code": False,
            "pairs_per_problem": 10,
            "seed": 0,
            "batch_size": 6,
            "num_workers": 0,
            "both_orders": False,
            **changes,
        }
    )
