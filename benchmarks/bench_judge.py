"""Throughput of the trained MiniLM judge on CPU: training pairs/s, batched vs per-pair inference, peak memory.

    python benchmarks/bench_judge.py [--traces FILE] [--k 64] [--pairs 128] [--batch-size 64] [--train-steps 4]
        [--threads N]

Pairs come from a trace file (default: the ESC last-letters dev file when present, else generated
last-letter traces). Batched and per-pair inference are measured side by side in the same process on
the same pairs; the script exits non-zero when batching is less than 5x faster.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch
from deepprune.conf import CONFIG_DIR
from hydra.utils import instantiate
from omegaconf import OmegaConf

from deepprune import asset_path
from deepprune.data.answers import AnswerChecker
from deepprune.data.io import read_problems
from deepprune.data.pairs import build_pairs
from deepprune.data.tokenizer import TokenCounter
from deepprune.data.truncation import FirstTokens, Truncator
from deepprune.judges.base import Prefix
from deepprune.judges.networks import EncoderJudgeModel
from deepprune.judges.trained import TrainedJudge
from deepprune.training.export import export_judge


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def load_pairs(traces: Path, k: int, count: int, checker: AnswerChecker) -> list:
    problems = list(read_problems(traces, extract_answer=checker.extract))
    examples = build_pairs(problems, Truncator(FirstTokens(k), TokenCounter()), checker, pairs_per_problem=16)
    return examples[:count]


def judge_model(lora: bool) -> EncoderJudgeModel:
    """``conf/training/judge/minilm.yaml``'s model, with its LoRA or fully fine-tuned."""
    judge = OmegaConf.load(CONFIG_DIR / "training" / "judge" / "minilm.yaml")
    if not lora:
        judge.lora = None
    return instantiate(judge)


def bench_training(examples: list, batch_size: int, steps: int, lora: bool) -> float:
    """Pairs/s of forward + backward + AdamW step (the work of a Lightning training step)."""
    model = judge_model(lora).train()
    loss_fn = instantiate(OmegaConf.load(CONFIG_DIR / "loss" / "focal.yaml"))
    collate = model.collator()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    batches = [
        collate([(e.text_a, e.text_b, e.label) for e in examples[i : i + batch_size]])
        for i in range(0, batch_size * (steps + 1), batch_size)
    ]
    elapsed = 0.0
    for index, batch in enumerate(batches):
        started = time.perf_counter()
        loss = loss_fn(model(batch), batch["labels"])
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if index:  # the first step warms up allocators and kernels
            elapsed += time.perf_counter() - started
    return batch_size * steps / elapsed


def bench_inference(examples: list, batch_size: int) -> tuple[float, float]:
    """Pairs/s of TrainedJudge.score: one call with all pairs (batched) vs one call per pair."""
    judge_cfg = OmegaConf.to_container(OmegaConf.load(CONFIG_DIR / "training" / "judge" / "minilm.yaml"))
    with tempfile.TemporaryDirectory() as tmp:
        export_judge(judge_model(lora=True), judge_cfg, FirstTokens(64), tmp)
        judge = TrainedJudge(str(Path(tmp) / "judge"), batch_size=batch_size, device="cpu", trust_remote_code=False)
    pairs = [(Prefix(e.text_a, e.tokens_a), Prefix(e.text_b, e.tokens_b)) for e in examples]
    judge.score(pairs[:batch_size])  # warm-up
    started = time.perf_counter()
    batched = judge.score(pairs)
    batched_rate = len(pairs) / (time.perf_counter() - started)
    started = time.perf_counter()
    single = [judge.score([pair])[0] for pair in pairs]
    single_rate = len(pairs) / (time.perf_counter() - started)
    # Same scores either way (dynamic padding must not change a pair's score).
    assert max(abs(a - b) for a, b in zip(batched, single, strict=True)) < 1e-4
    return batched_rate, single_rate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--traces", type=Path, help="a trace file (default: the demo's shipped training traces)")
    parser.add_argument("--extractor", default="boxed", help="answer extractor of the traces (last letters: answer_is)")
    parser.add_argument("--equivalence", default="math", help="answer equivalence (last letters: string)")
    parser.add_argument("--k", type=int, default=64)
    parser.add_argument("--pairs", type=int, default=128)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--train-batch-size", type=int, default=32)
    parser.add_argument("--train-steps", type=int, default=4)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    traces = args.traces or asset_path("demo/traces_train.jsonl.gz")
    examples = load_pairs(
        traces,
        args.k,
        checker=AnswerChecker(args.extractor, args.equivalence),
        count=max(args.pairs, args.train_batch_size * (args.train_steps + 1)),
    )
    print(
        f"CPU threads: {torch.get_num_threads()}, load average: {os.getloadavg()[0]:.1f}, pairs from {traces}, "
        f"k={args.k}"
    )
    train_lora = bench_training(examples, args.train_batch_size, args.train_steps, lora=True)
    train_full = bench_training(examples, args.train_batch_size, args.train_steps, lora=False)
    batched, single = bench_inference(examples[: args.pairs], args.batch_size)
    print(f"training  (LoRA, batch {args.train_batch_size}):      {train_lora:8.1f} pairs/s")
    print(f"training  (full fine-tune, batch {args.train_batch_size}): {train_full:8.1f} pairs/s")
    print(f"inference batched (batch {args.batch_size}):     {batched:8.1f} pairs/s")
    print(f"inference per-pair loop:         {single:8.1f} pairs/s")
    print(f"batched / per-pair speed-up:     {batched / single:8.1f}x")
    print(f"peak memory (RSS):               {peak_rss_mib():8.0f} MiB")
    if batched < 5 * single:
        print("FAIL: batched inference is less than 5x the per-pair loop")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
