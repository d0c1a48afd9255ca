"""DeepPrune's clustering rules side by side: ``method.compare=paper`` vs ``method.compare=fast``, for one judge or
several.

    python benchmarks/bench_clustering.py data.traces=FILE benchmark=last_letters judge=oracle truncation.k=16
    python benchmarks/bench_clustering.py experiment=demo                     # the demo traces and judge
    python benchmarks/bench_clustering.py experiment=demo judge=oracle
    python benchmarks/bench_clustering.py data.traces=MATH.jsonl.gz benchmark=math judge=oracle \\
        truncation.k=32 data.limit=300
    python benchmarks/bench_clustering.py data.traces=MATH.jsonl.gz benchmark=math truncation.k=32 \\
        method.threshold=auto --judges cross=CROSS_RUN/judge bi=BI_RUN/judge

The arguments are ``prune.py`` overrides (``judge=trained judge.path=RUN_DIR/judge`` for a trained judge).
``--judges NAME=DIR ...`` names several exported judges instead (each loaded as ``judge=trained judge.path=DIR``);
every judge runs with both rules on the same composed config, problems, truncation and seed (engine=replay),
through the package's runner (:func:`deepprune.runner.run_prune`), each run writing its ``metrics.json`` under
``--out`` (``OUT/RULE`` for one judge, ``OUT/NAME/RULE`` with ``--judges``).

For each judge the script prints judge calls per trace, accuracy, tokens, mean clusters, fallback problems and
judge seconds for both rules and the difference, and checks the goal of ``fast`` against ``paper`` (at most
``--max-calls`` judge calls per trace, accuracy within ``--acc-points`` points and tokens within
``--tokens-percent`` % of ``paper``). Then one table of every judge x rule: accuracy, total tokens, judge calls per
trace, judge tokens and judge seconds per problem, wall seconds, and judge time relative to the reference (the
first judge with ``compare=paper``: the cross-encoder with the paper's rule when it is named first). The goal of
issue 13 is checked on every other row: at least ``--speedup`` (5) times less judge time than the reference at
equal accuracy (within ``--acc-points``, 0.5 pt). ``judge_seconds`` counts the time inside the judge's calls only
(model loading, generation or replay and voting excluded). Writes ``comparison.json``.
"""

from __future__ import annotations

import argparse
import logging
import re
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
# metrics.json key, column title, format: the fast-vs-paper table of one judge
COLUMNS = [
    ("judge_calls_per_trace", "calls/trace", "{:.2f}"),
    ("accuracy", "accuracy", "{:.4f}"),
    ("total_tokens", "total tokens", "{:,.0f}"),
    ("mean_clusters", "clusters", "{:.2f}"),
    ("fallback_problems", "fallback", "{:g}"),
    ("judge_seconds", "judge s", "{:.2f}"),
    ("wall_seconds", "wall s", "{:.1f}"),
]
# Judge names become run directories: keep them to plain file-name characters.
JUDGE_NAME = re.compile(r"[A-Za-z0-9_.-]+")


def parse_judges(specs: list[str] | None, overrides: list[str]) -> dict[str | None, str | None]:
    """``--judges NAME=DIR ...`` as {name: dir}, in the order given; without it, {None: None}: the overrides' judge."""
    if not specs:
        return {None: None}
    if any(o.split("=", 1)[0].lstrip("+~") in ("judge", "judge.path") for o in overrides):
        raise ValueError("give the judge either as overrides (judge=..., judge.path=...) or with --judges, not both")
    judges: dict[str | None, str | None] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not JUDGE_NAME.fullmatch(name) or not path:
            raise ValueError(f"--judges: expected NAME=DIR (NAME of letters, digits, '_', '.', '-'), got {spec!r}")
        if name in judges:
            raise ValueError(f"--judges: the name {name!r} is given twice")
        judges[name] = path
    return judges


def run_rule(compare: str, overrides: list[str], out: Path) -> dict[str, Any]:
    """``prune.py``'s run of DeepPrune with ``method.compare=compare`` (engine=replay), its metrics."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("prune", ["method=deepprune", "engine=replay", *overrides, f"method.compare={compare}"])
    if not cfg.data.traces:
        raise ValueError("bench_clustering.py replays stored traces: give data.traces=FILE (or experiment=demo)")
    return run_prune(cfg, out / compare)


def run_judge(name: str | None, path: str | None, overrides: list[str], out: Path) -> dict[str, dict[str, Any]]:
    """Both rules with one judge: the overrides' (``name`` None, runs in ``out/RULE``) or the exported judge at
    ``path`` (runs in ``out/NAME/RULE``)."""
    if name is None:
        return {rule: run_rule(rule, overrides, out) for rule in RULES}
    judge = ["judge=trained", f"judge.path={path}"]
    return {rule: run_rule(rule, [*overrides, *judge], out / name) for rule in RULES}


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


def print_comparison(
    name: str, runs: dict[str, dict[str, Any]], result: dict[str, Any], args: argparse.Namespace
) -> None:
    paper = runs["paper"]
    judge = name if name == paper["judge"] else f"{name} ({paper['judge']})"
    title = (
        f"DeepPrune compare=paper vs fast: judge={judge}, {paper['benchmark']}, "
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


def side_by_side(runs: dict[str, dict[str, dict[str, Any]]], args: argparse.Namespace) -> dict[str, Any]:
    """Every judge x rule against the reference (the first judge with compare=paper): per-problem judge cost, judge
    time ratio, and the issue's goal (``--speedup`` x less judge time at accuracy within ``--acc-points``)."""
    reference_judge = next(iter(runs))
    reference = runs[reference_judge]["paper"]
    rows: dict[str, dict[str, Any]] = {}
    for judge, by_rule in runs.items():
        for rule in RULES:
            metrics = by_rule[rule]
            problems = metrics["num_problems"]
            ratio = metrics["judge_seconds"] / reference["judge_seconds"] if reference["judge_seconds"] > 0 else None
            delta_points = 100 * (metrics["accuracy"] - reference["accuracy"])
            rows[f"{judge}/{rule}"] = {
                "judge": judge,
                "compare": rule,
                "accuracy": metrics["accuracy"],
                "total_tokens": metrics["total_tokens"],
                "judge_calls_per_trace": metrics["judge_calls_per_trace"],
                "judge_tokens_per_problem": metrics["judge_tokens"] / problems,
                "judge_seconds_per_problem": metrics["judge_seconds"] / problems,
                "wall_seconds": metrics["wall_seconds"],
                "judge_time_vs_reference": ratio,
                "delta_accuracy_points": delta_points,
                "meets_issue_goal": (judge, rule) != (reference_judge, "paper")
                and ratio is not None
                and ratio <= 1.0 / args.speedup
                and abs(delta_points) <= args.acc_points,
            }
    return {
        "reference": f"{reference_judge}/paper",
        "issue_goal": (
            f">= {args.speedup:g}x less judge time than {reference_judge}+paper at equal accuracy "
            f"(within {args.acc_points:g} pt)"
        ),
        "rows": rows,
        "meets_issue_goal": [label for label, row in rows.items() if row["meets_issue_goal"]],
    }


def print_side_by_side(result: dict[str, Any]) -> None:
    reference = result["reference"]
    table = Table(title=f"Judges x clustering rules (reference: {reference})")
    titles = ["judge", "compare", "accuracy", "total tokens", "judge calls/trace", "judge tokens/problem"]
    titles += ["judge s/problem", "wall s", f"judge time vs {reference}", "goal"]
    for i, title in enumerate(titles):
        table.add_column(title, justify="left" if i < 2 else "right")
    for label, row in result["rows"].items():
        ratio = row["judge_time_vs_reference"]
        table.add_row(
            row["judge"],
            row["compare"],
            f"{row['accuracy']:.4f}",
            f"{row['total_tokens']:,.0f}",
            f"{row['judge_calls_per_trace']:.2f}",
            f"{row['judge_tokens_per_problem']:,.0f}",
            f"{row['judge_seconds_per_problem']:.3f}",
            f"{row['wall_seconds']:.1f}",
            "–" if ratio is None else f"{ratio:.3f}×",
            "ref" if label == reference else ("met" if row["meets_issue_goal"] else "no"),
        )
    console = Console(width=160)
    console.print(table)
    met = result["meets_issue_goal"]
    console.print(f"goal (issue 13): {result['issue_goal']} -> {'met by ' + ', '.join(met) if met else 'NOT met'}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("overrides", nargs="*", help="prune.py overrides (data.traces=..., benchmark=..., judge=...)")
    parser.add_argument(
        "--judges", nargs="+", metavar="NAME=DIR", help="exported judges to compare (judge=trained judge.path=DIR)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "bench_clustering", help="run directory")
    parser.add_argument("--max-calls", type=float, default=3.0, help="goal: judge calls per trace with fast")
    parser.add_argument("--acc-points", type=float, default=0.5, help="goal: |accuracy difference| in points")
    parser.add_argument("--tokens-percent", type=float, default=2.0, help="goal: |token difference| in percent")
    parser.add_argument("--speedup", type=float, default=5.0, help="issue goal: judge time x less than the reference")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    judges = parse_judges(args.judges, args.overrides)
    runs: dict[str, dict[str, dict[str, Any]]] = {}
    for name, path in judges.items():
        by_rule = run_judge(name, path, args.overrides, args.out)
        runs[name or by_rule["paper"]["judge"]] = by_rule
    per_judge = {}
    for name, by_rule in runs.items():
        per_judge[name] = compare_rules(by_rule, args)
        print_comparison(name, by_rule, per_judge[name], args)
    result = side_by_side(runs, args)
    print_side_by_side(result)
    summary = {
        "overrides": args.overrides,
        "judges": {name: path for name, path in zip(runs, judges.values(), strict=True)},
        "runs": {
            name: {
                **{rule: {key: by_rule[rule][key] for key, _, _ in COLUMNS} for rule in RULES},
                "threshold": by_rule["paper"]["threshold"],
                "method_params": {rule: by_rule[rule]["method_params"] for rule in RULES},
                **per_judge[name],
            }
            for name, by_rule in runs.items()
        },
        **result,
    }
    atomic_write_json(args.out / "comparison.json", summary)


if __name__ == "__main__":
    from deepprune.commands.entry import run_guarded

    sys.exit(run_guarded(main))
