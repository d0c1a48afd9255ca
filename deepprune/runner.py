"""The two evaluation pipelines behind ``prune.py`` and ``eval_judge.py``.

``run_prune``: for every problem the engine yields, run the method (averaging seeded subsamples when
``method.n`` is below the stored pool), vote, check against gold, and write ``metrics.json``.
``run_eval_judge``: score labelled prefix pairs of held-out problems and write judge metrics + ROC.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table
from tqdm.auto import tqdm

from deepprune.build import (
    build_checker,
    build_engine,
    build_judge,
    build_method,
    build_truncation,
    warn_on_truncation_mismatch,
)
from deepprune.config_checks import check_entry_config
from deepprune.data.answers import AnswerChecker
from deepprune.data.io import ReadStats, atomic_write_json, read_problems
from deepprune.data.pairs import build_pairs
from deepprune.data.tokenizer import resolve_token_unit
from deepprune.data.truncation import Truncator
from deepprune.engines.base import End, Engine, ProblemSpec, TraceHandle
from deepprune.engines.replay import ReplayEngine
from deepprune.instantiate import target_class
from deepprune.judges.base import Judge, score_examples
from deepprune.methods.base import Method
from deepprune.report.bootstrap import accuracy_interval
from deepprune.report.budget import ConsCurve
from deepprune.report.judge_metrics import judge_metrics, plot_roc_from_scores
from deepprune.report.loggers import RunLogger
from deepprune.report.provenance import run_inputs

log = logging.getLogger(__name__)


def run_problem(
    method: Method,
    problem: ProblemSpec,
    engine: Engine,
    checker: AnswerChecker,
    judge: Judge | None,
    seed: int,
    subsamples: int,
    curve: ConsCurve | None = None,
) -> dict[str, Any]:
    """One problem's record; with a stored pool larger than ``method.n``, the mean over subsamples.

    Numeric extras of the method's outcome (e.g. DeepPrune's ``fallback``, ``clusters``) are averaged over
    subsamples like ``correct`` (a fallback counts as the share of subsamples that fell back); the others are
    the first subsample's. ``curve``: the problem's whole pool is added to this cons@n accumulator.
    """
    pool = engine.pool_size(problem)
    repeats = subsamples if pool is not None and method.n is not None and method.n < pool else 1
    outcomes = [method.run(problem, engine, checker, judge, seed=seed + r) for r in range(repeats)]
    if curve is not None:
        add_to_curve(curve, problem, engine, outcomes[0].traces if repeats == 1 else None, seed)
    correct = [checker.is_correct(o.predicted, problem.gold) for o in outcomes]
    predictions = Counter(o.predicted for o in outcomes)
    record: dict[str, Any] = {
        "id": problem.id,
        "predicted": outcomes[0].predicted if repeats == 1 else predictions.most_common(1)[0][0],
        "gold": problem.gold,
        "correct": float(np.mean(correct)) if repeats > 1 else bool(correct[0]),
        "tokens": float(np.mean([o.tokens for o in outcomes])) if repeats > 1 else outcomes[0].tokens,
        "judge_calls": float(np.mean([o.judge_calls for o in outcomes])) if repeats > 1 else outcomes[0].judge_calls,
        "judge_tokens": float(np.mean([o.judge_tokens for o in outcomes])),
        # Seconds inside the judge's and the engine's calls, per method run (a mean over subsamples, like tokens).
        "judge_seconds": float(np.mean([o.judge_seconds for o in outcomes])),
        "generation_seconds": float(np.mean([o.generation_seconds for o in outcomes])),
        "traces_started": _mean_if_many([sum(t.num_tokens > 0 for t in o.traces) for o in outcomes]),
        "traces_finished": _mean_if_many([sum(t.finished for t in o.traces) for o in outcomes]),
    }
    if repeats > 1:
        record["subsamples"] = repeats
    for key, value in outcomes[0].extra.items():
        if key in record:
            continue
        values = [o.extra.get(key) for o in outcomes]
        numeric = all(isinstance(v, int | float) for v in values)  # bools included: a mean is a share
        record[key] = _mean_if_many(values) if numeric else value
    return record


def _mean_if_many(values: list[Any]) -> Any:
    """The value itself for one subsample (a bool stays a bool), else the float mean."""
    return values[0] if len(values) == 1 else float(np.mean(values))


def add_to_curve(
    curve: ConsCurve, problem: ProblemSpec, engine: Engine, traces: list[TraceHandle] | None, seed: int
) -> None:
    """Add ``problem``'s whole pool to the cons@n accumulator, finished to the end.

    ``traces``: the run's own traces when they are the whole pool (replay with ``method.n`` covering it, or a
    live engine's N generated traces); None when the run drew subsamples, in which case the stored pool is
    served once more (replay, in stored order: what cons@N votes).
    """
    if traces is None:
        traces = engine.start(problem, None, seed)
    engine.advance(traces, End())
    curve.add([t.answer for t in traces], [t.num_tokens for t in traces], problem.gold, problem.id)


def run_prune(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """Evaluate ``cfg.method`` on every problem and write ``run_dir/metrics.json``."""
    check_entry_config(cfg)
    checker = build_checker(cfg)
    truncation = build_truncation(cfg)
    method = build_method(cfg, truncation)
    judge = build_judge(cfg, checker) if method.needs_judge else None
    if (
        judge is not None
        and judge.needs_final_answers
        and not getattr(target_class(cfg.engine), "knows_final_answers", False)
    ):
        # Checked before a live engine starts (minutes on a large model), not when the first pair is scored.
        raise ValueError(
            f"judge={judge.name} reads the traces' final answers, which only stored traces have (engine=replay); "
            "use a learned judge (judge=trained judge.path=...) with a live engine"
        )
    method.bind(judge)  # e.g. DeepPrune's threshold=auto: fails here, before the engine starts, without a recorded tau
    warn_on_truncation_mismatch(judge, truncation)
    engine = build_engine(cfg, checker)
    logger = RunLogger(cfg, run_dir, name=f"{method.name}")
    records: list[dict[str, Any]] = []
    # cons@n curve (method=cons method.curve=true): accumulated in the same pass, exact over each problem's pool.
    curve = ConsCurve(checker) if method.curve else None
    started = time.perf_counter()
    try:
        # A with-block closes the bar on an error too, so the error message starts on a line of its own.
        with tqdm(engine.problems(), desc=f"{method.name}", unit="problem", dynamic_ncols=True) as bar:
            for problem in bar:
                records.append(run_problem(method, problem, engine, checker, judge, cfg.seed, cfg.subsamples, curve))
    finally:
        engine.close()
    stats: ReadStats | None = getattr(engine, "read_stats", None)
    metrics = summarize(records, cfg, method, judge, stats, time.perf_counter() - started)
    if curve is not None:
        metrics["curve"] = curve.points()
        # Per problem, what a paired bootstrap of Δacc@budget resamples (deepprune.report.bootstrap).
        for record, accuracy, pool_tokens in zip(records, curve.per_problem, curve.pool_tokens, strict=True):
            record["curve_accuracy"] = {str(n): value for n, value in accuracy.items()}
            record["pool_tokens"], record["pool_size"] = pool_tokens, curve.pool
    metrics.update(run_inputs(cfg, engine.replayed_file))
    metrics["method_params"] = method.params()  # what the method ran with, not its config node
    metrics.update(engine.describe())
    atomic_write_json(run_dir / "metrics.json", metrics)
    logger.log_metrics(metrics)
    logger.log_table("problems", records)
    logger.finish()
    print_summary(metrics)
    return metrics


def summarize(
    records: list[dict[str, Any]],
    cfg: DictConfig,
    method: Method,
    judge: Judge | None,
    stats: ReadStats | None,
    seconds: float,
) -> dict[str, Any]:
    if not records:
        replay = target_class(cfg.engine)
        source = cfg.data.traces if replay is not None and issubclass(replay, ReplayEngine) else cfg.benchmark.name
        why = (
            f"all {stats.skipped} records were malformed and skipped"
            if stats and stats.skipped
            else "it holds no records"
        )
        raise ValueError(f"{source}: no problems to evaluate ({why})")
    return {
        "method": method.name,
        "judge": judge.name if judge is not None else None,
        "benchmark": cfg.benchmark.name,
        "n": method.n,
        "threshold": method.params().get("threshold"),
        "truncation": method.truncation.describe() if method.needs_judge else None,
        "accuracy": float(np.mean([float(r["correct"]) for r in records])),
        # 95% bootstrap interval over problems (one problem in 50 is 2 points).
        "accuracy_ci95": list(accuracy_interval([float(r["correct"]) for r in records], seed=int(cfg.seed))),
        "total_tokens": float(sum(r["tokens"] for r in records)),
        "mean_tokens_per_problem": float(np.mean([r["tokens"] for r in records])),
        "judge_calls": float(sum(r["judge_calls"] for r in records)),
        "judge_tokens": float(sum(r["judge_tokens"] for r in records)),
        "judge_seconds": float(sum(r["judge_seconds"] for r in records)),
        "generation_seconds": float(sum(r["generation_seconds"] for r in records)),
        "num_problems": len(records),
        # Which problems: the leaderboard compares runs (and a cons@n curve) only on the same set.
        "problem_set": problem_set_hash(r["id"] for r in records),
        "mean_traces_finished": float(np.mean([r["traces_finished"] for r in records])),
        **method.summarize(records),
        "skipped_records": stats.skipped if stats is not None else 0,
        "skipped_errors": stats.errors if stats is not None else [],
        "wall_seconds": seconds,
        "problems": records,
    }


def problem_set_hash(ids: Iterable[str]) -> str:
    """A short fingerprint of a set of problem ids (sha256 of the sorted ids, 16 hex digits)."""
    return hashlib.sha256("\n".join(sorted(map(str, ids))).encode()).hexdigest()[:16]


def print_summary(metrics: dict[str, Any]) -> None:
    """The run's headline numbers (DeepPrune: with its fallback count), then the cons@n curve when there is one."""
    table = Table(title=f"{metrics['method']} on {metrics['benchmark']} ({metrics['num_problems']} problems)")
    fallback = "fallback_problems" in metrics
    columns = ["accuracy", "total tokens", "tokens/problem", "judge calls"]
    columns += ["calls/trace", "fallback", "clusters"] if fallback else []  # problems where K3 chose; mean clusters
    for column in [*columns, "skipped"]:
        table.add_column(column, justify="right")
    row = [
        f"{metrics['accuracy']:.4f}",
        f"{metrics['total_tokens']:,.0f}",
        f"{metrics['mean_tokens_per_problem']:,.1f}",
        f"{metrics['judge_calls']:,.0f}",
    ]
    if fallback:
        row += [
            f"{metrics['judge_calls_per_trace']:.2f}",
            f"{metrics['fallback_problems']:g} / {metrics['num_problems']}",
            f"{metrics['mean_clusters']:.1f}",
        ]
    table.add_row(*row, str(metrics["skipped_records"]))
    console = Console()
    console.print(table)
    if metrics.get("curve"):
        curve = Table(title="cons@n curve")
        for column in ("n", "accuracy", "total tokens"):
            curve.add_column(column, justify="right")
        for point in metrics["curve"]:
            curve.add_row(str(point["n"]), f"{point['accuracy']:.4f}", f"{point['total_tokens']:,.0f}")
        console.print(curve)


def run_eval_judge(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """Score same/different-answer prefix pairs of ``data.test`` and write judge metrics + ROC PNG."""
    check_entry_config(cfg)
    if not cfg.data.test:
        raise ValueError("eval_judge.py needs data.test=FILE (a trace file in the project's format)")
    checker = build_checker(cfg)
    truncation = build_truncation(cfg)
    judge = build_judge(cfg, checker)
    warn_on_truncation_mismatch(judge, truncation)
    stats = ReadStats()
    problems = list(read_problems(cfg.data.test, cfg.data.on_error, stats, checker.extract))
    # Prefixes in the unit replay cuts them in: data.tokenizer, else the tokenizer the traces name.
    recorded = next((p.tokenizer for p in problems if p.tokenizer), None)
    unit = resolve_token_unit(cfg.data.tokenizer, recorded, cfg.data.trust_remote_code)
    truncator = Truncator(truncation, unit.counter)
    with tqdm(problems, desc="pairs", unit="problem") as bar:
        pairs = build_pairs(bar, truncator, checker, cfg.data.pairs_per_problem, cfg.data.seed)
    if not pairs:
        raise ValueError(f"{cfg.data.test}: no pairs to score (no problem has two traces with an answer)")
    started = time.perf_counter()
    scores = score_examples(judge, pairs, desc=f"judge={judge.name}")
    seconds = time.perf_counter() - started
    labels = np.array([p.label for p in pairs])
    metrics: dict[str, Any] = {
        "judge": judge.name,
        "truncation": truncation.describe(),
        **judge_metrics(scores, labels),
        "num_pairs": len(pairs),
        "num_problems": len({p.problem_id for p in pairs}),
        "pos_fraction": float(labels.mean()),
        "judge_seconds": seconds,
        "pairs_per_second": len(pairs) / max(seconds, 1e-9),
        "skipped_records": stats.skipped,
        "skipped_errors": stats.errors,
        "token_unit": unit.name,
        **run_inputs(cfg, cfg.data.test),
    }
    roc_path = plot_roc_from_scores(
        scores, labels, run_dir / "roc.png", f"judge={judge.name}, {truncation.name} k={truncation.k}"
    )
    atomic_write_json(run_dir / "metrics.json", metrics)
    logger = RunLogger(cfg, run_dir, name=f"eval-{judge.name}")
    logger.log_metrics(metrics)
    logger.log_image("roc", roc_path)
    logger.finish()
    Console().print({k: v for k, v in metrics.items() if k != "truncation"})
    return metrics
