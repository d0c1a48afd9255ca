"""Live wall-clock of DeepPrune against majority voting, side by side in one run, on the demo's tiny reasoner.

    python benchmarks/bench_live.py [--problems 10] [--n 64] [--engine vllm_cpu] [--out DIR]

Runs, live through vLLM (``engine=vllm_cpu``; ``vllm`` on a GPU) on the first ``--problems`` problems of the demo's
test split: cons@n (``--n`` traces), DeepPrune with the shipped judge (the demo's settings), then cons@m with m
the number of full traces whose tokens match DeepPrune's. For each: wall seconds, generated tokens, prompt tokens
submitted, prefill recomputed (prompt tokens the prefix cache did not serve: DeepPrune's survivors continue from
their prefixes), accuracy. Prints a Markdown table and writes ``DIR/bench_live.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir

from deepprune.commands.entry import run_guarded
from deepprune.config_checks import check_int
from deepprune.data.io import atomic_write_json
from deepprune.runner import run_prune

CONF = Path(__file__).resolve().parents[1] / "conf"


def run(name: str, overrides: list[str], method: str, out: Path) -> dict[str, Any]:
    """One live run of prune.py's pipeline with the demo's config and its ``method_configs[method]``."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("demo", overrides)
    cfg.method = cfg.method_configs[method]
    started = time.perf_counter()
    metrics = run_prune(cfg, out / name)
    seconds = time.perf_counter() - started
    return {
        "run": name,
        "wall_s": round(seconds, 1),
        "generated_tokens": int(metrics["total_tokens"]),
        "prompt_tokens": metrics.get("prompt_tokens"),
        "prefill_recomputed": metrics.get("prompt_tokens", 0) - metrics.get("cached_prompt_tokens", 0),
        "accuracy": metrics["accuracy"],
        "judge_s": round(metrics["judge_seconds"], 1),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--problems", type=int, default=10)
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--engine", default="vllm_cpu")
    parser.add_argument("--out", type=Path, default=Path("outputs/bench_live"))
    args = parser.parse_args(argv)
    check_int("--problems", args.problems)
    check_int("--n", args.n)
    base = [f"engine={args.engine}", "model=tiny_reasoner", f"benchmark.limit={args.problems}", f"n={args.n}"]
    rows = [run(f"cons@{args.n}", base, "cons", args.out)]
    rows.append(run("deepprune", base, "deepprune", args.out))
    per_trace = rows[0]["generated_tokens"] / (args.n * args.problems)
    matched = max(1, round(rows[1]["generated_tokens"] / (per_trace * args.problems)))
    rows.append(run(f"cons@{matched}", [*base, f"n={matched}"], "cons", args.out))
    rows[-1]["run"] = f"cons@{matched} (matched tokens)"
    header = "| run | wall s | generated tokens | prompt tokens | prefill recomputed | accuracy | judge s |"
    lines = [header, "|---|---:|---:|---:|---:|---:|---:|"]
    lines += [
        f"| {r['run']} | {r['wall_s']} | {r['generated_tokens']:,} | {r['prompt_tokens']:,} | "
        f"{r['prefill_recomputed']:,} | {r['accuracy']:.2f} | {r['judge_s']} |"
        for r in rows
    ]
    print("\n".join(lines))
    atomic_write_json(args.out / "bench_live.json", {"problems": args.problems, "n": args.n, "rows": rows})


if __name__ == "__main__":
    sys.exit(run_guarded(main))
