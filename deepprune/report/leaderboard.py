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
import math
from collections.abc import Callable, Iterable, Sequence
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deepprune.data.io import atomic_write_text
from deepprune.report.bootstrap import RESAMPLES, accuracy_interval, delta_interval
from deepprune.report.budget import delta_acc_at_budget, tokens_vs_matched_cons
from deepprune.report.judge_metrics import save_figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.text import Annotation

log = logging.getLogger(__name__)


def _real(value: Any) -> float | None:
    """``value`` as a finite float when it is a JSON number, else None.

    ``bool`` is refused although Python counts it as an int (``"accuracy": true`` would render as 100.0), and so
    are NaN and infinities (Python's json reads ``NaN``/``Infinity``) and integers too large for a float.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _non_negative(value: Any) -> bool:
    number = _real(value)
    return number is not None and number >= 0


def _fraction(value: Any) -> bool:
    number = _real(value)
    return number is not None and 0 <= number <= 1


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


# Every field a table cell, row or column label, CSV figure or plot point is computed from, with what it must
# be: a run failing any of them is skipped (with a warning naming file and field) rather than drawn wrong.
# "method" comes first: its absence marks a file that is not a prune.py run (eval_judge.py, train.py).
_REQUIRED: tuple[tuple[str, Callable[[Any], bool], str], ...] = (
    ("method", _text, "a non-empty string"),
    ("accuracy", _fraction, "a number in [0, 1]"),
    ("total_tokens", _non_negative, "a finite number >= 0"),
    ("num_problems", _positive_int, "an integer >= 1"),
)
# Fields that may be absent or null; when present they label rows and columns or feed a figure.
_OPTIONAL: tuple[tuple[str, Callable[[Any], bool], str], ...] = (
    ("judge", lambda v: isinstance(v, str), "a string or null"),
    ("finish", lambda v: isinstance(v, str), "a string or null"),
    ("model", lambda v: isinstance(v, str), "a string or null"),
    ("benchmark", lambda v: isinstance(v, str), "a string or null"),
    ("traces", lambda v: isinstance(v, str), "a string or null"),
    ("threshold", lambda v: _real(v) is not None, "a finite number or null"),
    ("judge_tokens", _non_negative, "a finite number >= 0 or null"),
    ("judge_calls", _non_negative, "a finite number >= 0 or null"),
)
_MISSING = object()
_SHOWN_CHARS = 60


def _shown(value: Any) -> str:
    """``value`` as the user wrote it in the JSON (``true``, ``NaN``, ``null``), cut short to keep one line."""
    if value is _MISSING:
        return "missing"
    try:
        text = json.dumps(value)
    except (ValueError, RecursionError):  # nested deeper than the encoder goes
        text = type(value).__name__
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."


def field_problem(metrics: dict[str, Any]) -> str | None:
    """Why ``metrics`` (a prune.py metrics.json) cannot be put on the leaderboard, naming every wrong field (one
    line, so the user fixes them all at once); None if it can."""
    wrong = [
        f"field '{key}' is {_shown(value)}, expected {expected}"
        for key, valid, expected in _REQUIRED
        if not valid(value := metrics.get(key, _MISSING))
    ]
    wrong += [
        f"field '{key}' is {_shown(value)}, expected {expected}"
        for key, valid, expected in _OPTIONAL
        if (value := metrics.get(key)) is not None and not valid(value)
    ]
    return "; ".join(wrong) or None


def parse_curve(curve: Any) -> list[dict[str, Any]]:
    """A metrics.json ``curve`` as ``[{n, accuracy, total_tokens}]`` by increasing n, or a ValueError whose message
    follows "field 'curve'" (``is 5, expected ...``, ``point 1: 'accuracy' is ...``, ``has n=2 twice ...``).

    Each point must hold what a cons run's own figures hold (accuracy in [0, 1]; tokens > 0, for the log scale)
    and tokens must grow with n: an interpolation along a curve that does not is meaningless.
    """
    if not isinstance(curve, list) or not curve:
        raise ValueError(f"is {_shown(curve)}, expected a non-empty list of {{n, accuracy, total_tokens}} points")
    checks: tuple[tuple[str, Callable[[Any], bool], str], ...] = (
        ("n", _positive_int, "an integer >= 1"),
        ("accuracy", _fraction, "a number in [0, 1]"),
        ("total_tokens", lambda v: _non_negative(v) and v > 0, "a finite number > 0"),
    )
    points = []
    for i, point in enumerate(curve):
        if not isinstance(point, dict):
            raise ValueError(f"point {i} is {_shown(point)}, expected an object with n, accuracy, total_tokens")
        for key, valid, expected in checks:
            value = point.get(key, _MISSING)
            if not valid(value):
                raise ValueError(f"point {i}: '{key}' is {_shown(value)}, expected {expected}")
        points.append(
            {"n": point["n"], "accuracy": float(point["accuracy"]), "total_tokens": float(point["total_tokens"])}
        )
    points.sort(key=lambda p: p["n"])
    for before, after in pairwise(points):
        if after["n"] == before["n"]:
            raise ValueError(f"has n={after['n']} twice, expected one point per pool size")
        if after["total_tokens"] <= before["total_tokens"]:
            raise ValueError(
                f"has {after['total_tokens']:g} total_tokens at n={after['n']}, "
                f"expected more than the {before['total_tokens']:g} at n={before['n']}"
            )
    return points


# Why a metrics.json of another entry script (eval_judge.py, train.py) is left out: expected, so logged at INFO.
_NOT_A_RUN = "not a prune.py run"


def _read_metrics(file: Path) -> dict[str, Any] | str:
    """A prune.py run's metrics, or why the file is skipped (naming the field when one is wrong)."""
    try:
        metrics = json.loads(file.read_text(encoding="utf-8"))
    # ValueError: JSONDecodeError, UnicodeDecodeError and Python's 4300-digit limit on integers;
    # RecursionError: arrays nested thousands deep.
    except (OSError, ValueError, RecursionError) as err:
        return f"unreadable metrics ({str(err).split(';')[0]})"
    if not isinstance(metrics, dict):
        return f"expected a JSON object, got {type(metrics).__name__}"
    if "method" not in metrics:
        return _NOT_A_RUN
    problem = field_problem(metrics)
    if problem is not None:
        return problem
    if metrics["method"] == "cons" and metrics.get("curve") is not None:
        # Checked once here (not at each of the table, CSV and plot) so a bad curve is reported once; the run
        # itself still counts, only without the equal-budget columns.
        try:
            metrics["curve"] = parse_curve(metrics["curve"])
        except ValueError as err:
            log.warning("ignoring the cons@n curve of %s: field 'curve' %s", file, err)
            metrics["curve"] = None
    return metrics


def load_runs(paths: Iterable[str | Path]) -> list[dict[str, Any]]:
    """metrics.json of each path (a run dir, a sweep dir containing runs, or the file itself).

    A corrupt or incomplete metrics.json, or one with a field of the wrong type or out of range, is skipped with
    a warning naming it and the field, and the skips are counted; the other runs still count.
    """
    runs, skipped = [], 0
    for path in map(Path, paths):
        files = [path] if path.is_file() else sorted(path.rglob("metrics.json"))
        if not files:
            raise FileNotFoundError(f"no metrics.json under {path}")
        for file in files:
            metrics = _read_metrics(file)
            if isinstance(metrics, str):
                if metrics == _NOT_A_RUN:
                    log.info("skipping %s: %s", file, metrics)
                else:
                    log.warning("skipping %s: %s", file, metrics)
                    skipped += 1
                continue
            metrics["_path"] = str(file.parent)
            runs.append(metrics)
    if not runs:
        raise ValueError("none of the given directories holds readable prune.py metrics")
    if skipped:  # the count, so a skipped run is noticed even when its warning has scrolled past
        log.warning("leaderboard of %d runs: %d metrics.json skipped (see above)", len(runs), skipped)
    separate_problem_sets(runs)
    return runs


def problem_set(run: dict[str, Any]) -> str:
    """The run's set of problems: the hash prune.py records (``problem_set``), else (older runs) their number."""
    recorded = run.get("problem_set")
    return recorded if isinstance(recorded, str) else f"{run['num_problems']} problems"


def separate_problem_sets(runs: list[dict[str, Any]]) -> None:
    """Give runs of one column (same source and benchmark) on different problem sets (``data.limit``, another
    split under the same file name) columns of their own, so no run is compared with a curve or a run measured on
    other problems: one problem in 50 is 2 points."""
    by_column: dict[str, set[str]] = {}
    for run in runs:
        by_column.setdefault(column_label(run), set()).add(problem_set(run))
    split = {column for column, sets in by_column.items() if len(sets) > 1}
    for column in sorted(split):
        log.warning(
            "%s: runs on %d different problem sets get a column each, never compared", column, len(by_column[column])
        )
    for run in runs:
        if column_label(run) in split:
            run["_problems_label"] = f"{run['num_problems']} problems, set {problem_set(run)[:8]}"


def row_label(run: dict[str, Any]) -> str:
    label = run["method"]
    if run.get("judge") == "oracle" and run["method"] == "deepprune":
        # With exact clustering the stored answers as the judge give cons@N's answer at DeepPrune's cost: what a
        # judge that never errs reproduces, not a ceiling (a learned judge can be right where the majority is not).
        return "deepprune, ideal judge (cons@N's answer at DeepPrune's cost)"
    if run.get("judge"):  # a method that read prefixes with a judge (DeepPrune and its variants)
        # Runs that differ only in their finishing rule (e.g. the demo's) need distinct rows.
        finish = f", finish={run['finish']}" if run.get("finish") not in (None, "paper") else ""
        tau = run.get("threshold")  # threshold=auto records the judge's calibrated float: 3 digits tell runs apart
        label += f" ({run['judge']}, tau={f'{tau:.3g}' if isinstance(tau, float) else tau}{finish})"
    return label


def column_label(run: dict[str, Any]) -> str:
    """Model x benchmark; a replay run is named by its trace file (one model's traces on one benchmark)."""
    source = run.get("model") or (Path(run["traces"]).name if isinstance(run.get("traces"), str) else "traces")
    problems = f" [{run['_problems_label']}]" if run.get("_problems_label") else ""
    return f"{source} / {run.get('benchmark')}{problems}"


def _valid_curve(run: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The run's cons@n curve when it has a usable one (a malformed one is skipped with a warning)."""
    curve = run.get("curve")
    if curve is None:
        return None
    try:
        return parse_curve(curve)  # load_runs has already dropped a bad one; runs built by hand may not have
    except ValueError as err:
        log.warning("ignoring the cons@n curve of %s/metrics.json: field 'curve' %s", run["_path"], err)
        return None


def cons_curves(runs: Sequence[dict[str, Any]]) -> dict[str, tuple[list[dict[str, Any]], str, dict[str, Any]]]:
    """Per column, the cons@n curve runs are measured against, the run directory it came from, and its run.

    With several cons runs carrying a curve in one column, the one over the largest pool is used (logged).
    """
    curves: dict[str, tuple[list[dict[str, Any]], str, dict[str, Any]]] = {}
    for run in runs:
        curve = _valid_curve(run) if run["method"] == "cons" else None
        if curve is None:
            continue
        column = column_label(run)
        if column in curves:
            kept = max(curves[column], (curve, run["_path"], run), key=lambda c: c[0][-1]["n"])
            log.warning("several cons@n curves for %s; using the one from %s", column, kept[1])
            curves[column] = kept
        else:
            curves[column] = (curve, run["_path"], run)
    return curves


def budget_figures(run: dict[str, Any], curve: list[dict[str, Any]] | None) -> tuple[float | None, float | None]:
    """(Δacc@budget, tokens vs matched cons) of a run against its column's cons@n curve; None where undefined."""
    if curve is None:
        return None, None
    delta = delta_acc_at_budget(curve, run["accuracy"], run["total_tokens"])
    return delta, tokens_vs_matched_cons(curve, run["accuracy"], run["total_tokens"])


def intervals(run: dict[str, Any], curve_run: dict[str, Any] | None) -> tuple[tuple | None, tuple | None]:
    """(accuracy, Δacc@budget) 95% bootstrap intervals over problems (:mod:`deepprune.report.bootstrap`), from the
    per-problem records of the run and of its column's cons run; None where they are missing (older runs)."""
    # The table, the CSV and the plot each ask: resample once per (run, curve).
    cache = run.setdefault("_intervals", {})
    key = None if curve_run is None else curve_run["_path"]
    if key not in cache:
        cache[key] = _intervals(run, curve_run)
    return cache[key]


def _intervals(run: dict[str, Any], curve_run: dict[str, Any] | None) -> tuple[tuple | None, tuple | None]:
    problems = run.get("problems")
    if not isinstance(problems, list) or not problems:
        return None, None
    try:
        accuracy = accuracy_interval([float(p["correct"]) for p in problems])
        if curve_run is None:
            return accuracy, None
        return accuracy, delta_interval(problems, curve_run.get("problems") or [])
    except (TypeError, KeyError, ValueError, AttributeError) as err:
        log.warning("%s/metrics.json: no interval (field 'problems': %s)", run["_path"], err)
        return None, None


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
    judge_tokens = _real(run.get("judge_tokens"))
    if not run.get("judge") or cons is None or judge_tokens is None:
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
        curve, _, curve_run = curves.get(key[1], (None, "", None))
        delta, ratio = budget_figures(run, curve)
        accuracy_ci, delta_ci = intervals(run, curve_run)
        cells[key] = {
            "tokens": run["total_tokens"],
            "accuracy": run["accuracy"],
            "accuracy_ci": accuracy_ci,
            "delta": delta,
            "delta_ci": delta_ci,
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
    judge_cost = any(r.get("judge") for r in runs)  # the judge-cost column, once a run with a judge is in
    per_column = ["Token (x10^8)", "Acc"] + (["Δacc@budget (pt)", "Tokens vs matched cons"] if budget else [])
    per_column += ["Judge tok / saved tok"] if judge_cost else []
    header = "| Method | " + " | ".join(f"{c} {name}" for c in columns for name in per_column) + " |"
    lines = [header, "|---|" + "---:|" * len(per_column) * len(columns)]
    best_tokens = {c: min((cells[r, c]["tokens"] for r in rows if (r, c) in cells), default=None) for c in columns}
    best_acc = {c: max((cells[r, c]["accuracy"] for r in rows if (r, c) in cells), default=None) for c in columns}
    unmatched = within_noise = False
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
            if cell["accuracy_ci"] is not None:
                parts[-1] += " [{:.1f}, {:.1f}]".format(*(100 * v for v in cell["accuracy_ci"]))
            if budget:
                parts.append(_delta_cell(cell))
                within_noise = within_noise or _contains_zero(cell["delta_ci"])
                if cell["ratio"] is None and c in curves:
                    unmatched = True
                    parts.append("–†")
                else:
                    parts.append("–" if cell["ratio"] is None else f"{cell['ratio']:.2f}×")
            if judge_cost:
                parts.append("–" if cell["judge_per_saved"] is None else f"{cell['judge_per_saved']:.3g}")
        lines.append("| " + " | ".join(parts) + " |")
    return "\n".join(lines) + "\n" + _footnotes(columns, curves, unmatched, judge_cost, within_noise)


def _contains_zero(interval: tuple[float, float] | None) -> bool:
    return interval is not None and interval[0] <= 0 <= interval[1]


def _delta_cell(cell: dict[str, Any]) -> str:
    """Δacc@budget in points with its 95% interval; ° when the interval contains 0 (not told apart from voting)."""
    if cell["delta"] is None:
        return "–"
    text = f"{100 * cell['delta']:+.1f}"
    if cell["delta_ci"] is not None:
        text += " [{:+.1f}, {:+.1f}]".format(*(100 * v for v in cell["delta_ci"]))
        text += "°" if _contains_zero(cell["delta_ci"]) else ""
    return text


def _footnotes(
    columns: list[str],
    curves: dict[str, tuple[list[dict[str, Any]], str, dict[str, Any]]],
    unmatched: bool,
    judge_cost: bool,
    within_noise: bool = False,
) -> str:
    """How to read the equal-budget and judge-cost columns, which columns lack them and why, and the curves."""
    lines = []
    if curves:
        lines.append(
            "Δacc@budget: accuracy minus the cons@n curve's at the same total tokens (linear in log tokens, clamped "
            "to the curve's ends); > 0 beats majority voting at equal cost. Tokens vs matched cons: tokens ÷ those "
            "at which the curve (interpolated the same way) reaches the run's accuracy; < 1 is cheaper than voting "
            "as accurately. [a, b]: 95% paired bootstrap interval over problems (the run and the curve resampled on "
            f"the same problems, {RESAMPLES} resamples); accuracies likewise."
        )
    if within_noise:
        lines.append("° the interval contains 0: not told apart from majority voting at equal cost.")
    missing = [c for c in columns if c not in curves]
    if missing:
        lines.append(
            "No equal-budget comparison for "
            + ", ".join(missing)
            + ": no cons run with a cons@n curve among the runs (add one: `python prune.py method=cons "
            "method.curve=true ...` on the same traces)."
        )
    if unmatched:
        lines.append("† the cons@n curve never reaches this accuracy: above the whole curve.")
    if judge_cost:
        lines.append(
            "Judge tok / saved tok: a DeepPrune run's judge tokens ÷ (tokens of the column's full-budget cons run − "
            "its own tokens), what the judge reads per reasoning token pruned; – for other methods, without a cons "
            "run in the column, or when nothing is saved."
        )
    for column, (curve, path, _) in curves.items():
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
            "accuracy_ci_low",
            "accuracy_ci_high",
            "num_problems",
            "judge_calls",
            "judge_tokens",
            "judge_tokens_per_token_saved",
            "delta_acc_at_budget",
            "delta_ci_low",
            "delta_ci_high",
            "tokens_vs_matched_cons",
            "run_dir",
        ]
    )
    curves = cons_curves(runs)
    full = full_budget_cons(runs)
    for run in runs:
        curve, _, curve_run = curves.get(column_label(run), (None, "", None))
        delta, ratio = budget_figures(run, curve)
        accuracy_ci, delta_ci = intervals(run, curve_run)
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
                *(("", "") if accuracy_ci is None else accuracy_ci),
                run["num_problems"],
                run.get("judge_calls"),
                run.get("judge_tokens"),
                "" if judge_per_saved is None else judge_per_saved,
                "" if delta is None else delta,
                *(("", "") if delta_ci is None or delta is None else delta_ci),
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
    """One panel per (model, benchmark): a point per run with its accuracy's 95% interval as an error bar (and its
    Δacc@budget with interval in the label), the Pareto front as a step line, the cons@n curve as a line when a cons
    run has one, and the ideal-judge DeepPrune run (cons@N's answer at DeepPrune's cost) marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    columns = list(dict.fromkeys(column_label(r) for r in runs))
    curves = cons_curves(runs)
    fig, axes = plt.subplots(1, len(columns), figsize=(6.5 * len(columns), 4.8), squeeze=False)
    labels: dict[Axes, list[Annotation]] = {}
    for run in runs:
        if run["total_tokens"] <= 0:  # said, not silently dropped by matplotlib (and the Pareto front with it)
            log.warning("%s: %s not plotted: 0 total tokens has no place on the log axis", path, run["_path"])
    for ax, column in zip(axes[0], columns, strict=True):
        group = [r for r in runs if column_label(r) == column and r["total_tokens"] > 0]
        texts = labels.setdefault(ax, [])
        for run in group:
            point = (run["total_tokens"], 100 * run["accuracy"])
            accuracy_ci, delta_ci = intervals(run, curves.get(column, (None, "", None))[2])
            if accuracy_ci is not None:  # the 95% interval over problems as an error bar
                low, high = (100 * v for v in accuracy_ci)
                ax.errorbar(*point, yerr=[[point[1] - low], [high - point[1]]], fmt="none", ecolor="grey", capsize=2)
            if _is_oracle(run):
                ax.scatter(
                    *point, s=140, marker="*", color="goldenrod", zorder=3, label="ideal judge (cons@N's answer)"
                )
                label = "ideal judge"
            else:
                ax.scatter(*point, s=40, zorder=3)
                label = row_label(run)
            if delta_ci is not None:
                label += " (Δ {:+.1f} [{:+.1f}, {:+.1f}])".format(
                    *(100 * v for v in (run_delta(run, column, curves), *delta_ci))
                )
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


def run_delta(run: dict[str, Any], column: str, curves: dict) -> float:
    return delta_acc_at_budget(curves[column][0], run["accuracy"], run["total_tokens"])


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
    out_dir = check_output_dir(out_dir)
    sweep = sorted((r for r in runs if r.get("threshold") is not None), key=lambda r: r["threshold"])
    if not sweep:
        raise ValueError("no runs with a method.threshold to summarise")
    lines = ["| threshold | accuracy | total tokens | judge calls | run |", "|---:|---:|---:|---:|---|"]
    for r in sweep:
        lines.append(
            f"| {r['threshold']} | {100 * r['accuracy']:.1f} | {r['total_tokens']:,.0f} | "
            f"{r.get('judge_calls') or 0:,.0f} | {r['_path']} |"  # null: a method without a judge
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


def check_output_dir(path: str | Path, what: str = "output directory") -> Path:
    """``path`` as a Path once it is sure to be, or to become, a directory (ValueError, one line, otherwise).

    The report tools write their files into it: a file named by mistake must be refused before any work rather
    than end in a FileExistsError traceback at the first write. ``what`` names the option in the message.
    """
    path = Path(path)
    for existing in (path, *path.parents):
        if existing.exists() or existing.is_symlink():  # a dangling link is not a directory either
            if not existing.is_dir():
                where = "" if existing == path else f"{existing} "
                raise ValueError(f"{what} {path}: {where}exists and is not a directory")
            break
    return path


def refuse_overwriting_inputs(outputs: Iterable[Path], inputs: Iterable[str | Path], what: str) -> None:
    """ValueError when an output file would replace one of the inputs (e.g. a metrics file named leaderboard.md
    passed from the output directory): the tools only replace files they write themselves."""
    inputs = [Path(p) for p in inputs if Path(p).is_file()]
    for output in outputs:
        for source in inputs:
            if output.exists() and output.samefile(source):
                raise ValueError(f"{what} {output.parent}: writing {output.name} would overwrite the input {source}")


LEADERBOARD_FILES = ("leaderboard.md", "leaderboard.csv", "pareto.png")


def write_leaderboard(paths: Iterable[str | Path], out_dir: str | Path, what: str = "output directory") -> str:
    """Write leaderboard.md / leaderboard.csv / pareto.png into ``out_dir``; returns the Markdown.

    ``what`` names ``out_dir`` in errors (the script passes ``--out``).
    """
    paths = list(paths)
    out_dir = check_output_dir(out_dir, what)
    refuse_overwriting_inputs([out_dir / name for name in LEADERBOARD_FILES], paths, what)
    runs = load_runs(paths)
    markdown = render_markdown(runs)
    atomic_write_text(out_dir / "leaderboard.md", markdown)
    atomic_write_text(out_dir / "leaderboard.csv", render_csv(runs))
    pareto_plot(runs, out_dir / "pareto.png")
    return markdown
