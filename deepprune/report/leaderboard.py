"""The paper's leaderboard from run directories: methods x (model, benchmark), Token (x10^8) and Acc.

Reads every ``metrics.json`` under the given directories (replay and online runs alike), renders
Markdown (least tokens bold, best accuracy underlined per column group) and CSV, and draws a
token-vs-accuracy Pareto plot. Also summarises threshold sweeps.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from deepprune.data.io import atomic_write_text
from deepprune.report.judge_metrics import save_figure

log = logging.getLogger(__name__)


# What a table row needs from a prune.py metrics.json ("method" first: it marks a prune.py run).
_REQUIRED = ("method", "total_tokens", "accuracy", "num_problems")


def _read_metrics(file: Path) -> dict[str, Any] | None:
    """A prune.py run's metrics, or None (with a warning naming the file) for anything else."""
    try:
        metrics = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        log.warning("skipping %s: unreadable metrics (%s)", file, err)
        return None
    if not isinstance(metrics, dict):
        log.warning("skipping %s: expected a JSON object, got %s", file, type(metrics).__name__)
        return None
    if "method" not in metrics:  # e.g. an eval_judge.py or train.py run
        log.info("skipping %s: not a prune.py run", file)
        return None
    for key in _REQUIRED[1:]:
        if not isinstance(metrics.get(key), int | float):
            log.warning("skipping %s: field '%s' is %r, expected a number", file, key, metrics.get(key))
            return None
    return metrics


def load_runs(paths: Iterable[str | Path]) -> list[dict[str, Any]]:
    """metrics.json of each path (a run dir, a sweep dir containing runs, or the file itself).

    A corrupt or incomplete metrics.json is skipped with a warning naming it; the other runs still count.
    """
    runs = []
    for path in map(Path, paths):
        files = [path] if path.is_file() else sorted(path.rglob("metrics.json"))
        if not files:
            raise FileNotFoundError(f"no metrics.json under {path}")
        for file in files:
            metrics = _read_metrics(file)
            if metrics is not None:
                metrics["_path"] = str(file.parent)
                runs.append(metrics)
    if not runs:
        raise ValueError("none of the given directories holds readable prune.py metrics")
    return runs


def row_label(run: dict[str, Any]) -> str:
    label = run["method"]
    if run.get("judge") and run["method"] == "deepprune":
        label += f" ({run['judge']}, tau={run.get('threshold')})"
    return label


def column_label(run: dict[str, Any]) -> str:
    return f"{run.get('model') or 'traces'} / {run.get('benchmark')}"


def leaderboard_rows(runs: list[dict[str, Any]]) -> tuple[list[str], list[str], dict[tuple[str, str], dict]]:
    rows = list(dict.fromkeys(row_label(r) for r in runs))
    columns = list(dict.fromkeys(column_label(r) for r in runs))
    cells = {}
    for run in runs:
        key = (row_label(run), column_label(run))
        if key in cells:
            log.warning("two runs for %s; keeping %s", key, run["_path"])
        cells[key] = {"tokens": run["total_tokens"], "accuracy": run["accuracy"], "path": run["_path"]}
    return rows, columns, cells


def render_markdown(runs: list[dict[str, Any]]) -> str:
    rows, columns, cells = leaderboard_rows(runs)
    header = "| Method | " + " | ".join(f"{c} Token (x10^8) | {c} Acc" for c in columns) + " |"
    lines = [header, "|---|" + "---:|---:|" * len(columns)]
    best_tokens = {c: min((cells[r, c]["tokens"] for r in rows if (r, c) in cells), default=None) for c in columns}
    best_acc = {c: max((cells[r, c]["accuracy"] for r in rows if (r, c) in cells), default=None) for c in columns}
    for r in rows:
        parts = [r]
        for c in columns:
            cell = cells.get((r, c))
            if cell is None:
                parts += ["-", "-"]
                continue
            tokens = f"{cell['tokens'] / 1e8:.4g}"
            acc = f"{100 * cell['accuracy']:.1f}"
            parts.append(f"**{tokens}**" if cell["tokens"] == best_tokens[c] else tokens)
            parts.append(f"<u>{acc}</u>" if cell["accuracy"] == best_acc[c] else acc)
        lines.append("| " + " | ".join(parts) + " |")
    return "\n".join(lines) + "\n"


def render_csv(runs: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        [
            "method",
            "model",
            "benchmark",
            "engine",
            "judge",
            "threshold",
            "total_tokens",
            "accuracy",
            "num_problems",
            "judge_calls",
            "run_dir",
        ]
    )
    for run in runs:
        writer.writerow(
            [
                row_label(run),
                run.get("model"),
                run.get("benchmark"),
                run.get("engine"),
                run.get("judge"),
                run.get("threshold"),
                run["total_tokens"],
                run["accuracy"],
                run["num_problems"],
                run.get("judge_calls"),
                run["_path"],
            ]
        )
    return buffer.getvalue()


def pareto_plot(runs: list[dict[str, Any]], path: str | Path, title: str = "Tokens vs accuracy") -> Path:
    """One point per run, one panel per (model, benchmark); the Pareto front is drawn as a step line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = list(dict.fromkeys(column_label(r) for r in runs))
    fig, axes = plt.subplots(1, len(columns), figsize=(5.5 * len(columns), 4.2), squeeze=False)
    for ax, column in zip(axes[0], columns, strict=True):
        group = [r for r in runs if column_label(r) == column]
        for run in group:
            ax.scatter(run["total_tokens"], 100 * run["accuracy"], s=40)
            ax.annotate(
                row_label(run),
                (run["total_tokens"], 100 * run["accuracy"]),
                fontsize=7,
                textcoords="offset points",
                xytext=(4, 4),
            )
        front, best = [], -1.0
        for run in sorted(group, key=lambda r: r["total_tokens"]):
            if run["accuracy"] > best:
                front.append(run)
                best = run["accuracy"]
        ax.step(
            [r["total_tokens"] for r in front],
            [100 * r["accuracy"] for r in front],
            where="post",
            color="grey",
            linewidth=0.8,
            label="Pareto front",
        )
        ax.set(xlabel="total tokens", ylabel="accuracy (%)", title=column)
        ax.set_xscale("log")
        ax.legend(loc="lower right", fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)


def sweep_summary(runs: list[dict[str, Any]], out_dir: Path) -> str:
    """Accuracy and tokens per threshold (DeepPrune sweeps): Markdown table + plot, written to ``out_dir``."""
    sweep = sorted((r for r in runs if r.get("threshold") is not None), key=lambda r: r["threshold"])
    if not sweep:
        raise ValueError("no runs with a method.threshold to summarise")
    lines = ["| threshold | accuracy | total tokens | judge calls | run |", "|---:|---:|---:|---:|---|"]
    for r in sweep:
        lines.append(
            f"| {r['threshold']} | {100 * r['accuracy']:.1f} | {r['total_tokens']:,.0f} | "
            f"{r.get('judge_calls', 0):,.0f} | {r['_path']} |"
        )
    table = "\n".join(lines) + "\n"
    atomic_write_text(out_dir / "sweep.md", table)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    thresholds = [r["threshold"] for r in sweep]
    ax.plot(thresholds, [100 * r["accuracy"] for r in sweep], "o-", color="tab:blue")
    ax.set(xlabel="threshold (tau)", ylabel="accuracy (%)", title="DeepPrune threshold sweep")
    twin = ax.twinx()
    twin.plot(thresholds, [r["total_tokens"] for r in sweep], "s--", color="tab:orange")
    twin.set_ylabel("total tokens", color="tab:orange")
    fig.tight_layout()
    save_figure(fig, out_dir / "sweep.png")
    return table


def write_leaderboard(paths: Iterable[str | Path], out_dir: str | Path) -> str:
    """Write leaderboard.md / leaderboard.csv / pareto.png into ``out_dir``; returns the Markdown."""
    runs = load_runs(paths)
    out_dir = Path(out_dir)
    markdown = render_markdown(runs)
    atomic_write_text(out_dir / "leaderboard.md", markdown)
    atomic_write_text(out_dir / "leaderboard.csv", render_csv(runs))
    pareto_plot(runs, out_dir / "pareto.png")
    return markdown
