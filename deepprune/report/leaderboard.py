"""The paper's leaderboard from run directories: methods x (model, benchmark), Token (x10^8) and Acc.

Reads every ``metrics.json`` under the given directories (replay and online runs alike), renders
Markdown (least tokens bold, best accuracy underlined per column group) and CSV, and draws a
token-vs-accuracy Pareto plot. Also summarises threshold sweeps.

Equal budget: when a cons run with a cons@n curve (``prune.py method=cons method.curve=true``) is among the
runs of a column (same model, or same trace file in replay, and benchmark), every run of that column also
gets ``Δacc@budget`` (its accuracy minus the curve's at its token count, linear in log tokens) and
``tokens vs matched cons`` (its tokens ÷ those of the cheapest cons@n within 0.5 pt of its accuracy), see
:mod:`deepprune.report.budget`; the plot draws the curve. Without a curve those columns say "–" and a
footnote says why.

Judge cost: with a DeepPrune run among the runs, every column also gets ``judge tok / saved tok``: a DeepPrune
run's judge tokens ÷ the reasoning tokens it saved against the column's full-budget cons run (the cons run with
the most tokens): what the judge reads per generated token pruned. "–" for other methods, without a cons run in
the column, or when the run saved nothing.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deepprune.data.io import atomic_write_text
from deepprune.report.budget import delta_acc_at_budget, interpolate_accuracy, tokens_vs_matched_cons
from deepprune.report.judge_metrics import save_figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.text import Annotation

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
        # Runs that differ only in their finishing rule (e.g. the demo's) need distinct rows.
        finish = f", finish={run['finish']}" if run.get("finish") not in (None, "paper") else ""
        tau = run.get("threshold")  # threshold=auto records the judge's calibrated float: 3 digits tell runs apart
        label += f" ({run['judge']}, tau={f'{tau:.3g}' if isinstance(tau, float) else tau}{finish})"
    return label


def column_label(run: dict[str, Any]) -> str:
    """Model x benchmark; a replay run is named by its trace file (one model's traces on one benchmark)."""
    source = run.get("model") or (Path(run["traces"]).name if isinstance(run.get("traces"), str) else "traces")
    return f"{source} / {run.get('benchmark')}"


# Within this much accuracy, the cheapest cons@n counts as "as accurate" (0.5 pt).
MATCH_TOLERANCE = 0.005


def _valid_curve(run: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The run's cons@n curve when it has a usable one (a malformed one is skipped with a warning)."""
    curve = run.get("curve")
    if curve is None:
        return None
    try:
        points = [
            {"n": int(p["n"]), "accuracy": float(p["accuracy"]), "total_tokens": float(p["total_tokens"])}
            for p in curve
        ]
        interpolate_accuracy(points, 1.0)  # rejects empty curves, tokens <= 0 or not growing with n
    except (TypeError, KeyError, ValueError) as err:
        log.warning("ignoring the cons@n curve of %s/metrics.json: field 'curve': %s", run["_path"], err)
        return None
    return sorted(points, key=lambda p: p["n"])


def cons_curves(runs: Sequence[dict[str, Any]]) -> dict[str, tuple[list[dict[str, Any]], str]]:
    """Per column, the cons@n curve runs are measured against, and the run directory it came from.

    With several cons runs carrying a curve in one column, the one over the largest pool is used (logged).
    """
    curves: dict[str, tuple[list[dict[str, Any]], str]] = {}
    for run in runs:
        curve = _valid_curve(run) if run["method"] == "cons" else None
        if curve is None:
            continue
        column = column_label(run)
        if column in curves:
            kept = max(curves[column], (curve, run["_path"]), key=lambda c: c[0][-1]["n"])
            log.warning("several cons@n curves for %s; using the one from %s", column, kept[1])
            curves[column] = kept
        else:
            curves[column] = (curve, run["_path"])
    return curves


def budget_figures(run: dict[str, Any], curve: list[dict[str, Any]] | None) -> tuple[float | None, float | None]:
    """(Δacc@budget, tokens vs matched cons) of a run against its column's cons@n curve; None where undefined."""
    if curve is None:
        return None, None
    delta = delta_acc_at_budget(curve, run["accuracy"], run["total_tokens"])
    return delta, tokens_vs_matched_cons(curve, run["accuracy"], run["total_tokens"], MATCH_TOLERANCE)


def full_budget_cons(runs: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per column, the cons run with the most tokens: the full budget DeepPrune's savings are counted against."""
    full: dict[str, dict[str, Any]] = {}
    for run in runs:
        column = column_label(run)
        if run["method"] == "cons" and (column not in full or run["total_tokens"] > full[column]["total_tokens"]):
            full[column] = run
    return full


def judge_tokens_per_saved_token(run: dict[str, Any], cons: dict[str, Any] | None) -> float | None:
    """A DeepPrune run's judge tokens per reasoning token saved against ``cons`` (its column's full-budget cons run);
    None for other methods, a run that records no judge tokens, without a cons run, or when nothing is saved."""
    judge_tokens = run.get("judge_tokens")
    if run["method"] != "deepprune" or cons is None or not isinstance(judge_tokens, int | float):
        return None
    saved = cons["total_tokens"] - run["total_tokens"]
    return judge_tokens / saved if saved > 0 else None


def leaderboard_rows(runs: list[dict[str, Any]]) -> tuple[list[str], list[str], dict[tuple[str, str], dict]]:
    rows = list(dict.fromkeys(row_label(r) for r in runs))
    columns = list(dict.fromkeys(column_label(r) for r in runs))
    curves = cons_curves(runs)
    full = full_budget_cons(runs)
    cells = {}
    for run in runs:
        key = (row_label(run), column_label(run))
        if key in cells:
            log.warning("two runs for %s; keeping %s", key, run["_path"])
        delta, ratio = budget_figures(run, curves.get(key[1], (None, ""))[0])
        cells[key] = {
            "tokens": run["total_tokens"],
            "accuracy": run["accuracy"],
            "delta": delta,
            "ratio": ratio,
            "judge_per_saved": judge_tokens_per_saved_token(run, full.get(key[1])),
            "path": run["_path"],
        }
    return rows, columns, cells


def render_markdown(runs: list[dict[str, Any]]) -> str:
    """The table (tokens x10^8, accuracy; with a cons@n curve also Δacc@budget and tokens vs matched cons)."""
    rows, columns, cells = leaderboard_rows(runs)
    curves = cons_curves(runs)
    budget = bool(curves)  # the Δ columns appear once any column has a curve to compare with
    judge_cost = any(r["method"] == "deepprune" for r in runs)  # the judge-cost column, once a DeepPrune run is in
    per_column = ["Token (x10^8)", "Acc"] + (["Δacc@budget (pt)", "Tokens vs matched cons"] if budget else [])
    per_column += ["Judge tok / saved tok"] if judge_cost else []
    header = "| Method | " + " | ".join(f"{c} {name}" for c in columns for name in per_column) + " |"
    lines = [header, "|---|" + "---:|" * len(per_column) * len(columns)]
    best_tokens = {c: min((cells[r, c]["tokens"] for r in rows if (r, c) in cells), default=None) for c in columns}
    best_acc = {c: max((cells[r, c]["accuracy"] for r in rows if (r, c) in cells), default=None) for c in columns}
    unmatched = False
    for r in rows:
        parts = [r]
        for c in columns:
            cell = cells.get((r, c))
            if cell is None:
                parts += ["-"] * len(per_column)
                continue
            tokens = f"{cell['tokens'] / 1e8:.4g}"
            acc = f"{100 * cell['accuracy']:.1f}"
            parts.append(f"**{tokens}**" if cell["tokens"] == best_tokens[c] else tokens)
            parts.append(f"<u>{acc}</u>" if cell["accuracy"] == best_acc[c] else acc)
            if budget:
                parts.append("–" if cell["delta"] is None else f"{100 * cell['delta']:+.1f}")
                if cell["ratio"] is None and c in curves:
                    unmatched = True
                    parts.append("–†")
                else:
                    parts.append("–" if cell["ratio"] is None else f"{cell['ratio']:.2f}×")
            if judge_cost:
                parts.append("–" if cell["judge_per_saved"] is None else f"{cell['judge_per_saved']:.3g}")
        lines.append("| " + " | ".join(parts) + " |")
    return "\n".join(lines) + "\n" + _footnotes(columns, curves, unmatched, judge_cost)


def _footnotes(
    columns: list[str], curves: dict[str, tuple[list[dict[str, Any]], str]], unmatched: bool, judge_cost: bool
) -> str:
    """How to read the equal-budget and judge-cost columns, which columns lack them and why, and the curves."""
    lines = []
    if curves:
        lines.append(
            "Δacc@budget: accuracy minus the cons@n curve's at the same total tokens (linear in log tokens, clamped "
            "to the curve's ends); > 0 beats majority voting at equal cost. Tokens vs matched cons: tokens ÷ those "
            f"of the cheapest cons@n whose accuracy is within {100 * MATCH_TOLERANCE:g} pt; < 1 is cheaper than "
            "voting as accurately."
        )
    missing = [c for c in columns if c not in curves]
    if missing:
        lines.append(
            "No equal-budget comparison for "
            + ", ".join(missing)
            + ": no cons run with a cons@n curve among the runs (add one: `python prune.py method=cons "
            "method.curve=true ...` on the same traces)."
        )
    if unmatched:
        lines.append("† no cons@n point reaches this accuracy (within the tolerance): above the whole curve.")
    if judge_cost:
        lines.append(
            "Judge tok / saved tok: a DeepPrune run's judge tokens ÷ (tokens of the column's full-budget cons run − "
            "its own tokens), what the judge reads per reasoning token pruned; – for other methods, without a cons "
            "run in the column, or when nothing is saved."
        )
    for column, (curve, path) in curves.items():
        lines.append(
            f"cons@n curve for {column} ({path}): "
            + ", ".join(f"n={p['n']}: {100 * p['accuracy']:.1f} @ {p['total_tokens'] / 1e8:.4g}" for p in curve)
            + " (Acc @ Token x10^8)."
        )
    return "".join(f"\n{line}\n" for line in lines)


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
            "judge_tokens",
            "judge_tokens_per_token_saved",
            "delta_acc_at_budget",
            "tokens_vs_matched_cons",
            "run_dir",
        ]
    )
    curves = cons_curves(runs)
    full = full_budget_cons(runs)
    for run in runs:
        delta, ratio = budget_figures(run, curves.get(column_label(run), (None, ""))[0])
        judge_per_saved = judge_tokens_per_saved_token(run, full.get(column_label(run)))
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
                run.get("judge_tokens"),
                "" if judge_per_saved is None else judge_per_saved,
                "" if delta is None else delta,
                "" if ratio is None else ratio,
                run["_path"],
            ]
        )
    return buffer.getvalue()


def _is_oracle(run: dict[str, Any]) -> bool:
    return run["method"] == "deepprune" and run.get("judge") == "oracle"


def declutter(ax: Axes, texts: list[Annotation]) -> None:
    """Keep annotations (offset in points) inside the panel's right edge, then move them up until no label
    overlaps another, greedily from the bottom up.

    Works in display coordinates after the layout is final, so call it after ``tight_layout``.
    """
    from matplotlib.text import Text

    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()

    def label_box(text: Annotation) -> Any:
        # The label alone: an annotation's own extent includes its leader line, which grows as the label moves.
        text.update_positions(renderer)
        return Text.get_window_extent(text, renderer)

    right_edge = ax.get_window_extent(renderer).x1
    for text in texts:
        if label_box(text).x1 > right_edge:  # would run off the panel: put it left of its point instead
            text.xyann = (-text.xyann[0], text.xyann[1])
            text.set_horizontalalignment("right")
    placed = []
    for text in sorted(texts, key=lambda t: label_box(t).y0):
        box = label_box(text)
        # Each move clears the highest hit, so len(placed) moves suffice; the bound guards against a renderer
        # whose extents do not follow the offset (a label then stays overlapped rather than looping forever).
        for _ in range(len(placed) + 1):
            hits = [p for p in placed if p.overlaps(box)]
            if not hits:
                break
            shift = max(p.y1 for p in hits) - box.y0 + 1.0  # pixels up, just clear of the highest hit
            x, y = text.xyann
            text.xyann = (x, y + shift * 72.0 / fig.dpi)
            box = label_box(text)
        placed.append(box)


def pareto_plot(runs: list[dict[str, Any]], path: str | Path, title: str = "Tokens vs accuracy") -> Path:
    """One panel per (model, benchmark): a point per run, the Pareto front as a step line, the cons@n curve
    as a line when a cons run has one, and the oracle-judge DeepPrune run marked as the ceiling for judges."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    columns = list(dict.fromkeys(column_label(r) for r in runs))
    curves = cons_curves(runs)
    fig, axes = plt.subplots(1, len(columns), figsize=(6.5 * len(columns), 4.8), squeeze=False)
    labels: dict[Axes, list[Annotation]] = {}
    for ax, column in zip(axes[0], columns, strict=True):
        group = [r for r in runs if column_label(r) == column]
        texts = labels.setdefault(ax, [])
        for run in group:
            point = (run["total_tokens"], 100 * run["accuracy"])
            if _is_oracle(run):
                ax.scatter(*point, s=140, marker="*", color="goldenrod", zorder=3, label="oracle judge (ceiling)")
                label = f"{row_label(run)}: ceiling"
            else:
                ax.scatter(*point, s=40, zorder=3)
                label = row_label(run)
            texts.append(_annotate(ax, label, point, 7))
        if column in curves:
            curve = curves[column][0]
            xs, ys = [p["total_tokens"] for p in curve], [100 * p["accuracy"] for p in curve]
            ax.plot(xs, ys, "o-", color="tab:blue", markersize=3, linewidth=1.2, label="cons@n curve", zorder=2)
            texts += [_annotate(ax, f"n={p['n']}", (x, y), 6) for p, x, y in zip(curve, xs, ys, strict=True)]
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
        ax.xaxis.set_minor_formatter(NullFormatter())  # 2x10^4, 3x10^4... collide on a short decade
        low, high = ax.get_ylim()
        ax.set_ylim(low, high + 0.15 * (high - low))  # headroom for labels pushed up
        ax.legend(loc="lower right", fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    for ax, texts in labels.items():
        declutter(ax, texts)
    return save_figure(fig, path)


def _annotate(ax: Axes, label: str, point: tuple[float, float], size: float) -> Annotation:
    return ax.annotate(
        label,
        point,
        fontsize=size,
        textcoords="offset points",
        xytext=(4, 4),
        arrowprops={"arrowstyle": "-", "color": "0.6", "linewidth": 0.5, "shrinkA": 0, "shrinkB": 2},
        annotation_clip=False,
    )


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
