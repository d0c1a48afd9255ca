"""DeepPrune's clustering rules side by side: ``method.compare=paper`` vs ``method.compare=fast``.

    python experiments/bench_clustering.py data.traces=FILE benchmark=last_letters judge=oracle truncation.k=16
    python experiments/bench_clustering.py +experiment=demo                     # the demo traces and judge
    python experiments/bench_clustering.py +experiment=demo judge=oracle
    python experiments/bench_clustering.py data.traces=MATH.jsonl.gz benchmark=math judge=oracle \\
        truncation.k=32 data.limit=300

The arguments are ``prune.py`` overrides (``judge=trained judge.path=RUN_DIR/judge`` for a trained judge).
Both rules run through the package's runner (:func:`deepprune.runner.run_prune`) on the same composed config,
problems, truncation and seed (engine=replay), each writing its ``metrics.json`` under ``--out``. The script
prints judge calls per trace, accuracy, tokens, mean clusters and fallback problems for both and the difference,
checks the goal of ``fast`` (at most ``--max-calls`` judge calls per trace, accuracy within ``--acc-points``
points and tokens within ``--tokens-percent`` % of ``paper``), and writes ``comparison.json``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from rich.console import Console
from rich.table import Table

from deepprune.data.io import atomic_write_json
from deepprune.runner import run_prune

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
RULES = ("paper", "fast")
# metrics.json key, column title, format
COLUMNS = [
    ("judge_calls_per_trace", "calls/trace", "{:.2f}"),
    ("accuracy", "accuracy", "{:.4f}"),
    ("total_tokens", "total tokens", "{:,.0f}"),
    ("mean_clusters", "clusters", "{:.2f}"),
    ("fallback_problems", "fallback", "{:g}"),
    ("wall_seconds", "wall s", "{:.1f}"),
]


def run_rule(compare: str, overrides: list[str], out: Path) -> dict[str, Any]:
    """``prune.py``'s run of DeepPrune with ``method.compare=compare`` (engine=replay), its metrics."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("prune", ["method=deepprune", "engine=replay", *overrides, f"method.compare={compare}"])
    if not cfg.data.traces:
        raise ValueError("bench_clustering.py replays stored traces: give data.traces=FILE (or +experiment=demo)")
    return run_prune(cfg, out / compare)


def compare_rules(runs: dict[str, dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    """Differences fast - paper and whether ``fast`` meets the goal."""
    paper, fast = runs["paper"], runs["fast"]
    delta = {key: fast[key] - paper[key] for key, _, _ in COLUMNS}
    tokens_change = delta["total_tokens"] / max(paper["total_tokens"], 1.0)
    goal = {
        "calls_per_trace": fast["judge_calls_per_trace"] <= args.max_calls,
        "accuracy": abs(delta["accuracy"]) * 100 <= args.acc_points,
        "tokens": abs(tokens_change) * 100 <= args.tokens_percent,
    }
    return {"delta": delta, "tokens_change": tokens_change, "goal": goal, "meets_goal": all(goal.values())}


def print_comparison(runs: dict[str, dict[str, Any]], result: dict[str, Any], args: argparse.Namespace) -> None:
    paper = runs["paper"]
    title = (
        f"DeepPrune compare=paper vs fast: judge={paper['judge']}, {paper['benchmark']}, "
        f"{paper['num_problems']} problems, tau={paper['threshold']:g}"
    )
    table = Table(title=title)
    table.add_column("compare")
    for _, column, _ in COLUMNS:
        table.add_column(column, justify="right")
    for rule in RULES:
        table.add_row(rule, *(fmt.format(runs[rule][key]) for key, _, fmt in COLUMNS))
    table.add_row("fast - paper", *(("{:+" + fmt[2:]).format(result["delta"][key]) for key, _, fmt in COLUMNS))
    console = Console(width=120)  # the table's width, also when the output is piped to a file
    console.print(table)
    goal = result["goal"]
    console.print(
        f"tokens {result['tokens_change']:+.2%}; goal (calls/trace <= {args.max_calls:g}: "
        f"{'yes' if goal['calls_per_trace'] else 'NO'}, |d acc| <= {args.acc_points:g} pt: "
        f"{'yes' if goal['accuracy'] else 'NO'}, |d tokens| <= {args.tokens_percent:g}%: "
        f"{'yes' if goal['tokens'] else 'NO'}) -> {'met' if result['meets_goal'] else 'NOT met'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("overrides", nargs="*", help="prune.py overrides (data.traces=..., benchmark=..., judge=...)")
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "bench_clustering", help="run directory")
    parser.add_argument("--max-calls", type=float, default=3.0, help="goal: judge calls per trace with fast")
    parser.add_argument("--acc-points", type=float, default=0.5, help="goal: |accuracy difference| in points")
    parser.add_argument("--tokens-percent", type=float, default=2.0, help="goal: |token difference| in percent")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    runs = {rule: run_rule(rule, args.overrides, args.out) for rule in RULES}
    result = compare_rules(runs, args)
    print_comparison(runs, result, args)
    summary = {
        "overrides": args.overrides,
        **{rule: {key: runs[rule][key] for key, _, _ in COLUMNS} for rule in RULES},
        "threshold": runs["paper"]["threshold"],
        "method_params": {rule: runs[rule]["method_params"] for rule in RULES},
        **result,
    }
    atomic_write_json(args.out / "comparison.json", summary)


if __name__ == "__main__":
    from deepprune.cli import run_guarded

    sys.exit(run_guarded(main))
