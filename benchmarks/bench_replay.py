"""Replay benchmark: throughput with the SBERT judge, and peak memory on a large synthetic file.

    python benchmarks/bench_replay.py --dev ../shared/data/traces/esc_last_letters_gpt35_dev.jsonl
    python benchmarks/bench_replay.py --skip-dev --problems 30 --traces 512 --tokens 10000   # the 2 GB check

1. Replays ``method=deepprune judge=sbert`` and ``method=cons`` on the dev file and prints problems/s
   for each, side by side.
2. Writes a synthetic trace file (problems x traces x tokens, with per-token confidences), replays
   ``method=deepconf_low`` on it in a child process and prints the child's peak RSS: the loader
   streams one problem at a time, so the peak stays near one problem's size, not the file's.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]


def run_prune(*overrides: str) -> tuple[dict, float]:
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, str(ROOT / "prune.py"), *overrides, f"hydra.run.dir={out}"],
            check=True,
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - started
        return json.loads((Path(out) / "metrics.json").read_text()), seconds


def write_synthetic(path: Path, problems: int, traces: int, tokens: int, seed: int = 0) -> None:
    """Streams records to disk one problem at a time (the writer must not need the whole file in memory)."""
    rng = np.random.default_rng(seed)
    words = " ".join(["step"] * tokens)
    with open(path, "w") as handle:
        for p in tqdm(range(problems), desc="writing synthetic traces", unit="problem"):
            record = {"id": f"s{p}", "question": "q", "gold": "1", "traces": []}
            for t in range(traces):
                confs = np.round(rng.normal(12.0, 1.5, tokens), 2)
                record["traces"].append(
                    {
                        "text": f"{words} the answer is {t % 3}",
                        "answer": str(t % 3),
                        "num_tokens": tokens,
                        "confs": confs.tolist(),
                    }
                )
            handle.write(json.dumps(record) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dev", default=str(ROOT.parent / "shared/data/traces/esc_last_letters_gpt35_dev.jsonl"))
    parser.add_argument("--skip-dev", action="store_true")
    parser.add_argument("--problems", type=int, default=30)
    parser.add_argument("--traces", type=int, default=512)
    parser.add_argument("--tokens", type=int, default=10000)
    parser.add_argument("--workdir", default=tempfile.gettempdir())
    args = parser.parse_args()

    if not args.skip_dev:
        common = [f"data.traces={args.dev}", "benchmark=last_letters", "truncation.k=32"]
        for label, overrides in (("cons", ["method=cons"]), ("deepprune+sbert", ["method=deepprune", "judge=sbert"])):
            metrics, seconds = run_prune(*common, *overrides)
            print(
                f"replay {label:16s} {metrics['num_problems']} problems in {seconds:6.1f} s (incl. start-up) "
                f"= {metrics['num_problems'] / seconds:6.2f} problems/s; in-loop {metrics['wall_seconds']:.1f} s "
                f"= {metrics['num_problems'] / metrics['wall_seconds']:.2f} problems/s; "
                f"acc {metrics['accuracy']:.3f}, tokens {metrics['total_tokens']:,.0f}"
            )

    path = Path(args.workdir) / f"synthetic_{args.problems}x{args.traces}x{args.tokens}.jsonl"
    if not path.exists():
        write_synthetic(path, args.problems, args.traces, args.tokens)
    size_gb = path.stat().st_size / 1e9
    metrics, seconds = run_prune(f"data.traces={path}", "benchmark=last_letters", "method=deepconf_low")
    peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1e6  # kB on Linux
    print(
        f"synthetic file {path.name}: {size_gb:.2f} GB on disk; deepconf_low replay of {metrics['num_problems']} "
        f"problems in {seconds:.1f} s; peak RSS of the largest child process {peak_gb:.2f} GB "
        f"({'under' if peak_gb < 2 else 'OVER'} the 2 GB target)"
    )


if __name__ == "__main__":
    main()
