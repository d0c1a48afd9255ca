"""Measure the demo reasoner with the real vLLM engine: N samples at T=1.0 per benchmark problem.

    python -m experiments.demo.measure_reasoner [--num-problems 50 --n 64]

Prints per-trace accuracy, cons@N and pass@N, the fraction of answered trace pairs that agree, and how
often two traces share their first third for same-answer vs different-answer pairs (exact tokens, and
the sequence of numbers written, which ignores phrasing). For the DeepPrune demo to be meaningful the
reasoner should be right often but not always (cons@N above per-trace accuracy), and the beginning of a
trace (where the task puts the decisive step) should tell where it ends.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import time
from collections import Counter
from pathlib import Path

# In-process engine with a small KV cache: the settings that work on the CPU build of vLLM.
os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")

from vllm import LLM, SamplingParams  # noqa: E402

from experiments.demo.task import extract_answer, format_prompt  # noqa: E402

_NUMBER = re.compile(r"\d+")


def summarize(traces: list[list[dict]], gold: list[str]) -> dict[str, float]:
    """Figures over problems; ``traces[p]`` holds dicts with ``answer``, ``token_ids`` and ``text``."""
    n_traces = sum(len(t) for t in traces)
    correct = sum(tr["answer"] == g for ts, g in zip(traces, gold, strict=True) for tr in ts)
    cons = passed = 0
    agree = answered_pairs = 0
    prefix = {True: [0, 0, 0], False: [0, 0, 0]}  # same answer? -> [pairs, identical tokens, same numbers]
    for ts, g in zip(traces, gold, strict=True):
        votes = Counter(tr["answer"] for tr in ts if tr["answer"] is not None)
        cons += bool(votes) and votes.most_common(1)[0][0] == g
        passed += any(tr["answer"] == g for tr in ts)
        for a, b in itertools.combinations(ts, 2):
            if a["answer"] is None or b["answer"] is None:
                continue
            same = a["answer"] == b["answer"]
            answered_pairs += 1
            agree += same
            k = min(len(a["token_ids"]), len(b["token_ids"])) // 3
            stats = prefix[same]
            stats[0] += 1
            stats[1] += a["token_ids"][:k] == b["token_ids"][:k]
            stats[2] += _numbers(a["token_texts"][:k]) == _numbers(b["token_texts"][:k])
    n = len(gold)
    return {
        "problems": n,
        "traces": n_traces,
        "answered": sum(tr["answer"] is not None for ts in traces for tr in ts) / n_traces,
        "mean_tokens": sum(len(tr["token_ids"]) for ts in traces for tr in ts) / n_traces,
        "per_trace_acc": correct / n_traces,
        "cons_acc": cons / n,
        "pass_acc": passed / n,
        "agreeing_pairs": agree / max(answered_pairs, 1),
        "prefix_identical_same": prefix[True][1] / max(prefix[True][0], 1),
        "prefix_identical_diff": prefix[False][1] / max(prefix[False][0], 1),
        "prefix_numbers_same": prefix[True][2] / max(prefix[True][0], 1),
        "prefix_numbers_diff": prefix[False][2] / max(prefix[False][0], 1),
        "wait_rate": sum("Wait" in tr["text"] for ts in traces for tr in ts) / n_traces,
    }


def _numbers(token_texts: list[str]) -> list[str]:
    return _NUMBER.findall("".join(token_texts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=Path("deepprune/assets/tiny_reasoner"))
    parser.add_argument("--benchmark", type=Path, default=Path("deepprune/assets/demo_benchmark/test.jsonl"))
    parser.add_argument("--num-problems", type=int, default=50)
    parser.add_argument("--n", type=int, default=64, help="samples per problem")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--max-tokens", type=int, default=448)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()

    rows = [json.loads(line) for line in args.benchmark.read_text().splitlines()][: args.num_problems]
    llm = LLM(
        model=str(args.model),
        dtype="float32",
        enforce_eager=True,
        gpu_memory_utilization=0.2,
        max_model_len=512,
        seed=args.seed,
    )
    tokenizer = llm.get_tokenizer()
    params = SamplingParams(n=args.n, temperature=args.temperature, top_p=1.0, max_tokens=args.max_tokens)
    start = time.perf_counter()
    outputs = llm.generate([format_prompt(r["question"]) for r in rows], params)
    elapsed = time.perf_counter() - start
    traces = [
        [
            {
                "answer": extract_answer(c.text),
                "token_ids": list(c.token_ids),
                "token_texts": tokenizer.convert_ids_to_tokens(list(c.token_ids)),
                "text": c.text,
            }
            for c in out.outputs
        ]
        for out in outputs
    ]
    figures = summarize(traces, [r["true_answer"] for r in rows])
    figures["generation_s"] = elapsed
    print(f"example trace (problem 0, sample 0):\n{format_prompt(rows[0]['question'])}{traces[0][0]['text']}\n")
    for key, value in figures.items():
        print(f"{key:>24}: {value:.3f}" if isinstance(value, float) else f"{key:>24}: {value}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
