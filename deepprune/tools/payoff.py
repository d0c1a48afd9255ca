"""Will DeepPrune pay off on these traces? Δacc@budget against judge AUROC: the pay-off map.

    deepprune payoff TRACES... --out DIR [--k 16 32 64] [--auroc 0.75 0.8 0.85 0.9 0.95 1.0]
        [--finish paper diversity ...] [--judge-run RUN_DIR[=AUROC_SOURCE] ...] [--benchmark NAME]
        [--limit N] [--prior file|P] [--seed 0] [--resamples 2000] [--tokenizer PATH] [--on-error raise|skip]
        [--override method.finish_largest=3 ...]

For each trace file, prefix length k, finishing rule (``method.finish``; default: every rule DeepPruneMethod
accepts) and AUROC, DeepPrune runs in-process over the replay engine with ``judge=synthetic`` (a judge of that
AUROC with independent errors per pair, :mod:`deepprune.judges.synthetic`) and ``method.threshold=auto`` (the
judge's FNR-0.2 point, as the recipe sets a trained judge's), built from ``prune.py``'s config as the runner
builds it (``--override`` adds prune.py overrides, e.g. ``method.finish_largest=3``). Each point is its
Δacc@budget against the exact cons@n curve of the same file (:mod:`deepprune.report.budget`) with its 95% paired
bootstrap interval over problems (:mod:`deepprune.report.bootstrap`). The judge's probabilities are calibrated
for the file's same-answer share of trace pairs (``--prior file``) unless ``--prior`` gives a number.

The break-even AUROC of a (k, rule) is where Δacc@budget crosses 0 for the last time going up the mapped
AUROCs (linear between the two points around it): from there on every mapped point pays. "none in range": even
the highest mapped AUROC does not pay; "below range": the lowest already pays. The same is reported for the
interval's lower end (from where the gain is larger than its noise). The synthetic judge's errors are
independent, a real judge's correlate, so a real judge of the same AUROC can land off the line, either way:
place it on the map (``--judge-run``).

``--judge-run`` places trained judges on the map: a ``prune.py`` run directory of DeepPrune with a real judge on
one of the files (matched by its ``problem_set``, in the same token unit). Its Δacc@budget and interval are
computed here against that file's curve; its AUROC is the ``test/auroc`` of the run's judge (``judge.json`` of
its ``judge_path``), or of ``=AUROC_SOURCE``: a number, an ``eval_judge.py`` or ``train.py`` run directory, or
a judge export directory. Its k and finishing rule are the run's.

Writes ``DIR/payoff.json`` (every point, the break-evens, the judges' points, the verdict) and ``DIR/payoff.png``
(one panel per file and k: Δacc@budget against AUROC, one line per rule, with error bars; the judges' points as
stars) atomically, into a directory that is new, empty or an earlier map's; prints a one-paragraph verdict per
file. ``--limit N`` maps the first N problems of each file only (and says so).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf
from tqdm.auto import tqdm

from deepprune.build import build_checker, build_engine, build_judge, build_method, build_truncation
from deepprune.commands.entry import run_tool
from deepprune.data.answers import AnswerChecker
from deepprune.data.io import atomic_write_json, atomic_write_text, claim_output_dir
from deepprune.data.tokenizer import TokenCounter, same_tokenizer
from deepprune.engines.base import End
from deepprune.engines.replay import ReplayEngine
from deepprune.judges.base import Judge
from deepprune.methods.deepprune import FINISH_RULES, DeepPruneMethod
from deepprune.report.bootstrap import RESAMPLES, delta_interval
from deepprune.report.budget import ConsCurve, delta_acc_at_budget
from deepprune.report.judge_metrics import save_figure
from deepprune.report.leaderboard import field_problem, refuse_overwriting_inputs
from deepprune.report.provenance import run_inputs
from deepprune.runner import problem_set_hash, run_problem
from deepprune.tools.redundancy import compose_prune, file_benchmark, output_names

log = logging.getLogger(__name__)

# Marks an output directory as a map's: only such a directory (or a new or empty one) is written into.
MARKER = ".deepprune-payoff"
OUTPUTS = ("payoff.json", "payoff.png")
# A pair base rate of exactly 0 or 1 (every trace of every problem agreeing) has no logit.
_PRIOR_CLIP = (0.001, 0.999)
# A Δacc@budget this close to 0 is float rounding of equal accuracies (e.g. cons@N's answer on a flat curve), no gain.
_NO_GAIN = 1e-9
# Method settings a judge's run should share with the map to be read against it (threshold and rule may differ).
_COMPARED_SETTINGS = (
    "compare",
    "call_budget",
    "max_compare",
    "max_clusters",
    "exit_margin",
    "finish_largest",
    "finish_singletons",
)


def break_even(aurocs: Sequence[float], deltas: Sequence[float]) -> dict[str, Any]:
    """Where ``deltas`` (by increasing ``aurocs``) last cross 0 going up, interpolated linearly.

    Returns ``{"auroc": value or None, "status": "crossing" | "below range" | "none in range"}``.
    """
    if deltas[-1] <= _NO_GAIN:
        return {"auroc": None, "status": "none in range"}
    below = [i for i, delta in enumerate(deltas) if delta <= _NO_GAIN]
    if not below:
        return {"auroc": None, "status": "below range"}
    i = below[-1]
    share = -deltas[i] / (deltas[i + 1] - deltas[i])
    return {"auroc": aurocs[i] + share * (aurocs[i + 1] - aurocs[i]), "status": "crossing"}


@dataclass
class JudgeRun:
    """A trained judge's prune.py run to place on the map (``--judge-run RUN_DIR[=AUROC_SOURCE]``)."""

    run_dir: Path
    metrics: dict[str, Any]
    auroc: float
    auroc_source: str
    label: str


@dataclass
class FileMap:
    """One trace file: its config, cons@n curve (per problem too), pair base rate, and the map's points."""

    path: Path
    name: str
    benchmark: str
    cfg: DictConfig
    checker: AnswerChecker
    prior: float = math.nan
    num_problems: int = 0
    pool: int = 0
    problem_set: str = ""
    token_unit: Any = None
    curve: list[dict[str, Any]] = field(default_factory=list)
    curve_records: list[dict[str, Any]] = field(default_factory=list)
    points: list[dict[str, Any]] = field(default_factory=list)
    break_even: list[dict[str, Any]] = field(default_factory=list)
    judges: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


def compose_config(benchmark: str, args: argparse.Namespace) -> DictConfig:
    """``prune.py``'s config for DeepPrune with ``judge=synthetic`` on ``benchmark`` (plus ``--override``s)."""
    for override in args.override:
        if override.lstrip("+~").split("=")[0] == "judge":
            raise ValueError(f"--override {override}: the map sweeps judge=synthetic (--auroc sets its quality)")
    overrides = [
        "method=deepprune",
        "judge=synthetic",
        "engine=replay",
        "method.threshold=auto",  # the synthetic judge records its FNR-0.2 threshold, as train.py records one
        f"seed={args.seed}",
        f"judge.seed={args.seed}",
        f"data.on_error={args.on_error}",
        *([f"data.limit={args.limit}"] if args.limit is not None else []),
        *args.override,
    ]
    return compose_prune(benchmark, overrides, args.tokenizer)


def variant(cfg: DictConfig, **settings: dict[str, Any]) -> DictConfig:
    """``cfg`` with some groups' keys replaced (``truncation={"k": 32}``)."""
    return OmegaConf.merge(cfg, settings)


def build_file(path: Path, name: str, args: argparse.Namespace) -> FileMap:
    """The file's config and checker; the sweep's judge and method must be the synthetic judge and DeepPrune."""
    benchmark = args.benchmark or file_benchmark(path, args.on_error)
    cfg = compose_config(benchmark, args)
    cfg.data.traces = str(path)
    return FileMap(path, name, benchmark, cfg, build_checker(cfg))


def measure_curve(entry: FileMap, args: argparse.Namespace) -> None:
    """Pass 1: the exact cons@n curve (and what its bootstrap resamples per problem) and the pair base rate."""
    engine = build_engine(entry.cfg, entry.checker)
    if not isinstance(engine, ReplayEngine):
        raise ValueError(f"the pay-off map replays stored traces: engine must be replay, got {type(engine).__name__}")
    curve = ConsCurve(entry.checker)
    ids, same_pairs, all_pairs = [], 0, 0
    try:
        for spec in tqdm(engine.problems(), desc=f"{entry.name}: cons@n curve", unit="problem", dynamic_ncols=True):
            traces = engine.start(spec, None, entry.cfg.seed)
            engine.advance(traces, End())
            answers = [t.answer for t in traces]
            curve.add(answers, [t.num_tokens for t in traces], spec.gold, spec.id)
            labels = [label for label in entry.checker.group(answers) if label is not None]
            same_pairs += sum(c * (c - 1) // 2 for c in np.bincount(labels).tolist()) if labels else 0
            all_pairs += len(answers) * (len(answers) - 1) // 2
            ids.append(spec.id)
    except ValueError as err:
        if str(entry.path) in str(err):  # read errors already name file and line
            raise
        raise ValueError(f"{entry.path}: {err}") from err
    finally:
        engine.close()
    if not ids:
        raise ValueError(f"{entry.path}: no problems (empty file, or every record skipped)")
    entry.curve = curve.points()
    entry.curve_records = [
        {"id": pid, "curve_accuracy": {str(n): v for n, v in accuracy.items()}, "pool_tokens": tokens}
        | {"pool_size": curve.pool}
        for pid, accuracy, tokens in zip(ids, curve.per_problem, curve.pool_tokens, strict=True)
    ]
    entry.num_problems, entry.pool = len(ids), int(curve.pool or 0)
    entry.problem_set = problem_set_hash(ids)
    entry.token_unit = engine.describe().get("token_unit")
    measured = same_pairs / all_pairs if all_pairs else 0.5
    entry.prior = float(np.clip(measured if args.prior == "file" else float(args.prior), *_PRIOR_CLIP))


def run_map(entry: FileMap, args: argparse.Namespace) -> None:
    """Pass 2: every (k, rule, AUROC) DeepPrune run, problem by problem (each problem read and counted once)."""
    runs: list[tuple[dict[str, Any], DeepPruneMethod, Judge, list[dict[str, Any]]]] = []
    judges = {
        auroc: build_judge(variant(entry.cfg, judge={"auroc": auroc, "prior": entry.prior}), entry.checker)
        for auroc in args.auroc
    }
    for k in args.k:
        for rule in args.finish:
            cfg = variant(entry.cfg, truncation={"k": k}, method={"finish": rule})
            for auroc, judge in judges.items():
                method = build_method(cfg, build_truncation(cfg))
                if not isinstance(method, DeepPruneMethod):
                    raise ValueError(f"--override: the map runs method=deepprune, got {type(method).__name__}")
                method.bind(judge)
                runs.append(({"k": k, "finish": rule, "auroc": auroc}, method, judge, []))
    engine = build_engine(entry.cfg, entry.checker)
    cfg = entry.cfg
    try:
        desc = f"{entry.name}: {len(runs)} DeepPrune runs"
        for spec in tqdm(engine.problems(), desc=desc, total=entry.num_problems, unit="problem", dynamic_ncols=True):
            for _, method, judge, records in runs:
                records.append(run_problem(method, spec, engine, entry.checker, judge, cfg.seed, cfg.subsamples))
    finally:
        engine.close()
    for settings, method, _, records in tqdm(runs, desc=f"{entry.name}: intervals", unit="point", leave=False):
        entry.points.append(settings | figures(records, entry, args) | {"tau": method.tau})
    for k in args.k:
        for rule in args.finish:
            line = sorted((p for p in entry.points if p["k"] == k and p["finish"] == rule), key=lambda p: p["auroc"])
            aurocs = [p["auroc"] for p in line]
            crossing = break_even(aurocs, [p["delta"] for p in line])
            lower = break_even(aurocs, [p["delta_ci95"][0] for p in line])
            entry.break_even.append({"k": k, "finish": rule, **crossing, "lower_end": lower})


def figures(records: list[dict[str, Any]], entry: FileMap, args: argparse.Namespace) -> dict[str, Any]:
    """A run's accuracy, tokens and Δacc@budget (with its interval) against the file's cons@n curve."""
    accuracy = float(np.mean([float(r["correct"]) for r in records]))
    tokens = float(sum(float(r["tokens"]) for r in records))
    traces = sum(float(r.get("traces_clustered", 0)) for r in records)
    return {
        "accuracy": accuracy,
        "total_tokens": tokens,
        "tokens_vs_cons_n": tokens / entry.curve[-1]["total_tokens"],
        "delta": delta_acc_at_budget(entry.curve, accuracy, tokens),
        "delta_ci95": list(delta_interval(records, entry.curve_records, args.resamples, args.seed)),
        "judge_calls_per_trace": float(sum(float(r["judge_calls"]) for r in records)) / max(traces, 1.0),
        "fallback_problems": float(sum(float(r.get("fallback", 0)) for r in records)),
        "mean_clusters": float(np.mean([float(r.get("clusters", 0)) for r in records])),
    }


def read_judge_run(spec: str) -> JudgeRun:
    """``RUN_DIR[=AUROC_SOURCE]``: the prune run's metrics.json and the judge's AUROC (checked before any work)."""
    run_text, _, source = spec.partition("=") if not Path(spec).exists() else (spec, "", "")
    run_dir = Path(run_text)
    metrics = _read_json(run_dir / "metrics.json", f"--judge-run {run_dir}")
    problem = field_problem(metrics)
    problems = metrics.get("problems")
    if problem is None and not (
        isinstance(problems, list) and problems and isinstance(metrics.get("truncation"), dict)
    ):
        problem = "it holds no per-problem records or no truncation (not a prune.py run of a method with a judge)"
    if problem is None and not metrics.get("judge"):
        problem = "its method ran without a judge"
    if problem is not None:
        raise ValueError(f"--judge-run {run_dir}/metrics.json: {problem}")
    if source:
        auroc, where = _auroc_from(source)
    elif metrics.get("judge_path"):
        auroc, where = _auroc_from(str(metrics["judge_path"]))
    else:
        raise ValueError(
            f"--judge-run {run_dir}: its judge ({metrics['judge']}) has no judge_path to read a test AUROC from; "
            "give one as RUN_DIR=AUROC (a number or an eval_judge.py run directory)"
        )
    label = f"{metrics['judge']} judge ({run_dir.name})"
    return JudgeRun(run_dir, metrics, auroc, where, label)


def _read_json(path: Path, what: str) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(f"{what}: no {path.name} in {path.parent}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as err:
        raise ValueError(f"{what}: unreadable {path} ({str(err).split(';')[0]})") from err
    if not isinstance(data, dict):
        raise ValueError(f"{what}: {path} is not a JSON object")
    return data


def _auroc_from(source: str) -> tuple[float, str]:
    """A test AUROC: a number, or ``test/auroc`` of a run's metrics.json or a judge export's judge.json."""
    try:
        value: Any = float(source)
        where = "given"
    except ValueError:
        directory = Path(source)
        for name in ("metrics.json", "judge.json"):
            if (directory / name).is_file():
                data = _read_json(directory / name, f"AUROC source {directory}")
                value = data.get("test/auroc", (data.get("metrics") or {}).get("test/auroc"))
                where = str(directory / name)
                break
        else:
            raise FileNotFoundError(
                f"AUROC source {source}: neither a number nor a directory with metrics.json or judge.json"
            )
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise ValueError(f"AUROC source {where}: 'test/auroc' is {value!r}, expected a number in [0, 1]")
    return float(value), where


def place_judge(run: JudgeRun, files: Sequence[FileMap], args: argparse.Namespace) -> None:
    """Put a judge run on the file it ran on (same problems, same token unit), with Δacc@budget and interval."""
    metrics = run.metrics
    entry = next((f for f in files if f.problem_set == metrics.get("problem_set")), None)
    if entry is None:
        raise ValueError(
            f"--judge-run {run.run_dir}: its problems (problem_set {metrics.get('problem_set')}) are none of the "
            f"mapped files' ({', '.join(f'{f.path.name}: {f.problem_set}' for f in files)}); a judge is placed only "
            "on the file it ran on (same file, same --limit)"
        )
    unit = metrics.get("token_unit")
    same_unit = unit == entry.token_unit or (
        isinstance(unit, str)
        and isinstance(entry.token_unit, str)
        and same_tokenizer(unit, TokenCounter(entry.token_unit))
    )
    if not same_unit:
        raise ValueError(
            f"--judge-run {run.run_dir}: its tokens are in {unit}, the map's in "
            f"{entry.token_unit}: Δacc@budget needs one unit (set --tokenizer as the run's data.tokenizer)"
        )
    k = metrics["truncation"].get("k")
    records = metrics["problems"]
    accuracy, tokens = float(metrics["accuracy"]), float(metrics["total_tokens"])
    point = {
        "label": run.label,
        "run_dir": str(run.run_dir),
        "judge_path": metrics.get("judge_path"),
        "auroc": run.auroc,
        "auroc_source": run.auroc_source,
        "k": k,
        "truncation": metrics["truncation"],
        "finish": metrics.get("finish"),
        "threshold": metrics.get("threshold"),
        "accuracy": accuracy,
        "total_tokens": tokens,
        "delta": delta_acc_at_budget(entry.curve, accuracy, tokens),
        "delta_ci95": list(delta_interval(records, entry.curve_records, args.resamples, args.seed)),
        "method_params": metrics.get("method_params"),
        "placed": k in args.k,
    }
    if not point["placed"]:
        log.warning(
            "--judge-run %s: its k=%s is not among --k %s: kept in payoff.json, not drawn", run.run_dir, k, args.k
        )
    mapped = OmegaConf.to_container(entry.cfg.method)
    differing = {
        key: (value, mapped.get(key))
        for key, value in (metrics.get("method_params") or {}).items()
        if key in _COMPARED_SETTINGS and value != mapped.get(key)
    }
    if differing:
        log.warning("--judge-run %s ran with other method settings than the map (run, map): %s", run.run_dir, differing)
    point["settings_differing_from_map"] = differing
    entry.judges.append(point)


def _auroc_text(crossing: dict[str, Any], aurocs: Sequence[float]) -> str:
    if crossing["status"] == "crossing":
        return f"{crossing['auroc']:.3f}"
    if crossing["status"] == "below range":
        return f"< {min(aurocs):g}"
    return "none in range"


def verdict(entry: FileMap, args: argparse.Namespace) -> str:
    """One paragraph: the break-even AUROC per k and rule, then each judge's point against it."""
    subset = f", first {entry.num_problems} problems only (--limit)" if args.limit is not None else ""
    parts = [
        f"{entry.path.name} ({entry.num_problems} problems x {entry.pool} traces{subset}): break-even AUROC, where "
        "Δacc@budget against the cons@n curve crosses 0 [where its 95% interval clears 0], with a synthetic judge "
        f"whose errors are independent (a real judge can land off its line, either way; '< {min(args.auroc):g}': "
        "every mapped AUROC pays; 'none in range': none does):"
    ]
    for k in args.k:
        rules = [b for b in entry.break_even if b["k"] == k]
        cells = [
            f"{b['finish']} {_auroc_text(b, args.auroc)} [{_auroc_text(b['lower_end'], args.auroc)}]" for b in rules
        ]
        parts.append(f"k={k}: {', '.join(cells)};")
    if not entry.judges:
        parts.append("your judge: none given (--judge-run RUN_DIR places a trained judge's prune run).")
    for point in entry.judges:
        low, high = point["delta_ci95"]
        text = (
            f"your judge: {point['label']} (k={point['k']}, finish={point['finish']}) AUROC {point['auroc']:.3f}, "
            f"Δacc@budget {100 * point['delta']:+.1f} [{100 * low:+.1f}, {100 * high:+.1f}] pt"
        )
        crossing = next((b for b in entry.break_even if b["k"] == point["k"] and b["finish"] == point["finish"]), None)
        if crossing is None:
            text += " (its k and rule were not mapped)"
        elif crossing["status"] == "crossing":
            side = "above" if point["auroc"] >= crossing["auroc"] else "below"
            text += f", {side} the break-even {crossing['auroc']:.3f} of its k and rule"
        else:
            text += f"; break-even of its k and rule: {_auroc_text(crossing, args.auroc)}"
        pays = "pays off" if low > 0 else "does not pay off" if high < 0 else "is not told apart from voting"
        differing = ", ".join(
            f"{key} {run} vs {mapped}" for key, (run, mapped) in point["settings_differing_from_map"].items()
        )
        text += f": measured, it {pays} at equal budget"
        parts.append(text + (f" (its run's settings differ from the map's: {differing})." if differing else "."))
    return " ".join(parts)


def plot(files: Sequence[FileMap], args: argparse.Namespace, path: Path) -> Path:
    """Δacc@budget (pt) against AUROC: one panel per file and k, one line per rule, judges as stars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, cols = len(files), len(args.k)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False, sharey="row")
    colours = {rule: f"C{i}" for i, rule in enumerate(args.finish)}
    # Rules side by side at each AUROC, so their error bars do not hide each other.
    step = 0.15 * (min(np.diff(args.auroc)) if len(args.auroc) > 1 else 0.02)
    for row, entry in enumerate(files):
        for col, k in enumerate(args.k):
            ax = axes[row][col]
            ax.axhline(0.0, color="grey", linewidth=0.8)
            for i, rule in enumerate(args.finish):
                line = sorted(
                    (p for p in entry.points if p["k"] == k and p["finish"] == rule), key=lambda p: p["auroc"]
                )
                x = np.array([p["auroc"] for p in line]) + (i - (len(args.finish) - 1) / 2) * step
                y = np.array([100 * p["delta"] for p in line])
                err = np.array(
                    [
                        [100 * (p["delta"] - p["delta_ci95"][0]) for p in line],
                        [100 * (p["delta_ci95"][1] - p["delta"]) for p in line],
                    ]
                )
                crossing = next(b for b in entry.break_even if b["k"] == k and b["finish"] == rule)
                label = f"{rule} (break-even {_auroc_text(crossing, args.auroc)})"
                ax.errorbar(x, y, yerr=err, marker="o", markersize=3, capsize=2, color=colours[rule], label=label)
                if crossing["status"] == "crossing":
                    ax.axvline(crossing["auroc"], color=colours[rule], linestyle=":", linewidth=1)
            for point in entry.judges:
                if point["k"] != k:
                    continue
                low, high = point["delta_ci95"]
                ax.errorbar(
                    [point["auroc"]],
                    [100 * point["delta"]],
                    yerr=[[100 * (point["delta"] - low)], [100 * (high - point["delta"])]],
                    marker="*",
                    markersize=12,
                    capsize=3,
                    linestyle="none",
                    color=colours.get(point["finish"], "black"),
                    markeredgecolor="black",
                    label=f"{point['label']}: AUROC {point['auroc']:.3f}",
                )
            ax.set_title(f"{entry.name}, k={k}", fontsize=9)
            ax.set_xlabel("judge AUROC (synthetic, independent errors)", fontsize=8)
            if col == 0:
                ax.set_ylabel("Δacc@budget vs cons@n (pt)", fontsize=8)
            ax.legend(fontsize=6, loc="upper left")
    fig.tight_layout()
    return save_figure(fig, path)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="deepprune payoff", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("traces", nargs="+", type=Path, help="trace files (one model x benchmark each)")
    parser.add_argument("--out", type=Path, required=True, help="output directory (new, empty or an earlier map's)")
    parser.add_argument("--k", type=int, nargs="+", default=[16, 32, 64], help="prefix lengths (truncation.k)")
    parser.add_argument(
        "--auroc", type=float, nargs="+", default=[0.75, 0.8, 0.85, 0.9, 0.95, 1.0], help="judge AUROCs, in (0.5, 1]"
    )
    parser.add_argument(
        "--finish", nargs="+", help="finishing rules (method.finish; default: every rule DeepPrune accepts)"
    )
    parser.add_argument(
        "--judge-run",
        action="append",
        default=[],
        metavar="RUN_DIR[=AUROC_SOURCE]",
        help="a prune.py run of DeepPrune with a trained judge on one of the files, to place on the map",
    )
    parser.add_argument("--benchmark", help="conf/benchmark/NAME.yaml (default: each file's 'benchmark' field)")
    parser.add_argument("--limit", type=int, help="map only the first N problems of each file (data.limit)")
    parser.add_argument("--prior", default="file", help="pair base rate the judge is calibrated for: file | a number")
    parser.add_argument("--seed", type=int, default=0, help="seed, judge.seed and the bootstrap's seed")
    parser.add_argument("--resamples", type=int, default=RESAMPLES, help="bootstrap resamples per interval")
    parser.add_argument("--tokenizer", help="data.tokenizer (default: the tokenizer each record names)")
    parser.add_argument("--on-error", choices=["raise", "skip"], default="raise", help="data.on_error")
    parser.add_argument("--override", action="append", default=[], help="extra prune.py override, e.g. method.*")
    args = parser.parse_args(argv)
    # ValueError, not parser.error: run_tool makes it the project's one "error: ..." line (exit 2).
    if any(k < 1 for k in args.k):
        raise ValueError(f"--k values must be >= 1, got {' '.join(map(str, args.k))}")
    bad = [a for a in args.auroc if not (math.isfinite(a) and 0.5 < a <= 1.0)]
    if bad:
        raise ValueError(f"--auroc values must be in (0.5, 1] (1 = the ideal judge), got {' '.join(map(str, bad))}")
    args.k, args.auroc = sorted(set(args.k)), sorted(set(args.auroc))
    # Default: every rule the method accepts, read from its own list (rules added there are mapped too).
    args.finish = list(dict.fromkeys(args.finish or FINISH_RULES))
    unknown = [rule for rule in args.finish if rule not in FINISH_RULES]
    if unknown:
        known = ", ".join(FINISH_RULES)
        raise ValueError(f"--finish {' '.join(unknown)}: not a finishing rule of DeepPrune (known: {known})")
    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit must be >= 1, got {args.limit}")
    if args.prior != "file":
        try:
            prior = float(args.prior)
        except ValueError:
            prior = math.nan
        if not 0.0 < prior < 1.0:
            raise ValueError(f"--prior must be 'file' or a number in (0, 1), got {args.prior}")
    if args.resamples < 1:
        raise ValueError(f"--resamples must be >= 1, got {args.resamples}")
    if args.seed < 0:  # numpy's generators take no negative seed: fail now, not at the first problem
        raise ValueError(f"--seed must be >= 0, got {args.seed}")
    return args


def check_inputs(args: argparse.Namespace, runs: Sequence[JudgeRun]) -> None:
    """Refuse, before any work, unreadable trace files and an --out this tool did not create or whose outputs
    would replace an input."""
    for path in args.traces:
        if path.is_dir():
            raise ValueError(f"trace file {path}: is a directory, expected a .jsonl(.gz) or .parquet file")
        if not path.is_file():
            raise FileNotFoundError(f"trace file not found: {path}")
        if path.stat().st_size == 0:
            raise ValueError(f"trace file {path}: empty file (no records)")
    claim_output_dir(args.out, MARKER, "--out")
    inputs = [*args.traces, *(run.run_dir / "metrics.json" for run in runs)]
    refuse_overwriting_inputs([args.out / name for name in OUTPUTS], inputs, "--out")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    runs = [read_judge_run(spec) for spec in args.judge_run]
    check_inputs(args, runs)
    files = [build_file(path, name, args) for path, name in zip(args.traces, output_names(args.traces), strict=True)]
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / MARKER, "written by deepprune.tools.payoff: it may replace the files here\n")
    for entry in files:
        started = time.perf_counter()
        measure_curve(entry, args)
        entry.seconds += time.perf_counter() - started
    for run in runs:  # before the long pass: a run that matches no file fails now
        place_judge(run, files, args)
    for entry in files:
        started = time.perf_counter()
        run_map(entry, args)
        entry.seconds += time.perf_counter() - started
    verdicts = [verdict(entry, args) for entry in files]
    inputs = run_inputs(files[0].cfg)
    inputs.pop("traces")
    inputs.pop("judge_path")
    method = {key: value for key, value in OmegaConf.to_container(files[0].cfg.method).items() if key != "truncation"}
    report = {
        "settings": {
            "k": args.k,
            "auroc": args.auroc,
            "finish": args.finish,
            "limit": args.limit,
            "prior": args.prior,
            "resamples": args.resamples,
            "overrides": args.override,
            "method": method,
            **inputs,
        },
        "files": [
            {
                "path": str(entry.path),
                "benchmark": entry.benchmark,
                "num_problems": entry.num_problems,
                "pool": entry.pool,
                "problem_set": entry.problem_set,
                "token_unit": entry.token_unit,
                "prior": entry.prior,
                "cons_curve": entry.curve,
                "points": entry.points,
                "break_even": entry.break_even,
                "judges": entry.judges,
                "seconds": entry.seconds,
            }
            for entry in files
        ],
        "verdict": verdicts,
    }
    plot(files, args, args.out / "payoff.png")
    atomic_write_json(args.out / "payoff.json", report)
    print("\n\n".join(verdicts))
    print(f"\nwrote {args.out / 'payoff.json'} and {args.out / 'payoff.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(run_tool(main))
