"""Live-engine benchmark: cons vs DeepPrune on vLLM (tiny model on CPU by default).

    VLLM_ENABLE_V1_MULTIPROCESSING=0 VLLM_CPU_KVCACHE_SPACE=1 \
        python benchmarks/bench_engine.py --problems 2 --n 16 --max-tokens 64

Both methods share one in-process engine and run the same problems. Printed per method: wall time,
tokens generated, generated tokens/s over the whole run, the judge's share of wall time (DeepPrune)
and the engine's own decode throughput. The tiny model is random, so accuracy means nothing here; on
a GPU pass e.g. ``--model deepseek_8b --overrides model.path=DIR engine.dtype=bfloat16``.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")

from deepprune.conf import CONFIG_DIR  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402

from deepprune.build import build_checker, build_engine, build_judge, build_method, build_truncation  # noqa: E402
from deepprune.engines.base import End  # noqa: E402
from deepprune.judges.base import Judge, Prefix  # noqa: E402

CPU = [
    "engine.dtype=float32",
    "engine.enforce_eager=true",
    "engine.gpu_memory_utilization=0.2",
    "engine.block_size=32",
    "engine.max_model_len=1024",
    "engine.progress=false",
]


class TimedJudge:
    """Wraps a judge and adds up the seconds it spends (batched prefix work and pair scoring)."""

    def __init__(self, judge: Judge) -> None:
        self.judge, self.seconds = judge, 0.0

    def score(self, pairs: Sequence[tuple[Prefix, Prefix]]) -> np.ndarray:
        started = time.perf_counter()
        try:
            return self.judge.score(pairs)
        finally:
            self.seconds += time.perf_counter() - started

    def prepare(self, prefixes: Sequence[Prefix]) -> None:
        started = time.perf_counter()
        try:
            self.judge.prepare(prefixes)
        finally:
            self.seconds += time.perf_counter() - started

    def __getattr__(self, name: str) -> Any:  # counters (pairs_scored...), reset(): the wrapped judge's
        return getattr(self.judge, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny_reasoner")
    parser.add_argument("--benchmark", default="demo", help="a conf/benchmark option (demo: the shipped problems)")
    parser.add_argument("--benchmark-path", default=None, help="the benchmark's file (default: the config's)")
    parser.add_argument("--problems", type=int, default=2)
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--judge", default="sbert")
    parser.add_argument("--prefix-tokens", type=int, default=16, help="DeepPrune truncation (first k tokens)")
    parser.add_argument("--cpu", action=argparse.BooleanOptionalAction, default=True, help="CPU engine knobs")
    parser.add_argument("--overrides", nargs="*", default=[], help="extra Hydra overrides")
    args = parser.parse_args()

    base = [
        "engine=vllm",
        f"model={args.model}",
        f"model.max_tokens={args.max_tokens}",
        f"benchmark={args.benchmark}",
        *([f"benchmark.path={args.benchmark_path}"] if args.benchmark_path else []),
        f"benchmark.limit={args.problems}",
        f"judge={args.judge}",
        "truncation=first_tokens",
        f"truncation.k={args.prefix_tokens}",
        *(CPU if args.cpu else []),
        *args.overrides,
    ]
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        configs = {m: compose("prune", [*base, f"method={m}", f"method.n={args.n}"]) for m in ("cons", "deepprune")}
    cfg = configs["cons"]
    checker = build_checker(cfg)
    engine = build_engine(cfg, checker)
    judge = TimedJudge(build_judge(configs["deepprune"], checker))
    problems = list(engine.problems())
    try:
        # Warm-up (first-step compilation, allocator): one short pass that is not measured.
        engine.advance(engine.start(problems[0], 2), End())
        for name, method_cfg in configs.items():
            method = build_method(method_cfg, build_truncation(method_cfg))
            tokens0, gen0, judge0 = engine.generated_tokens, engine.generation_s, judge.seconds
            started = time.perf_counter()
            tokens = 0
            for seed, problem in enumerate(problems):
                outcome = method.run(problem, engine, checker, judge if method.needs_judge else None, seed=seed)
                tokens += outcome.tokens
            wall = time.perf_counter() - started
            generated, gen_s = engine.generated_tokens - tokens0, engine.generation_s - gen0
            judge_s = judge.seconds - judge0
            assert generated == tokens, "engine counts and trace counts disagree"
            print(
                f"{name:10s} {len(problems)} problems x n={args.n}: wall {wall:7.1f} s, tokens {generated:7d}, "
                f"{generated / wall:8.1f} tok/s overall, engine {generated / gen_s:8.1f} tok/s while decoding, "
                f"judge {judge_s:6.2f} s = {100 * judge_s / wall:5.1f}% of wall"
            )
    finally:
        engine.close()


if __name__ == "__main__":
    main()
