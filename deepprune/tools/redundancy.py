"""How redundant are parallel traces, and how much do their prefixes tell? (budget-matched view)

    deepprune redundancy FILE... --out DIR [--k 16 32 64] [--benchmark last_letters|aime24|...]
        [--pairs 64] [--subsamples 10] [--seed 0] [--tokenizer PATH] [--on-error raise|skip]
        [--override method.threshold=0.5 ...]

For each trace file (one model x benchmark), in one streaming pass (one problem in memory at a time):

* per-trace accuracy (an unanswered trace is wrong), distinct answers per problem (equivalence classes
  among answered traces), mean trace length in the unit replay counts in (the record's tokenizer when it
  loads, else the bundled MiniLM, or ``--tokenizer``);
* the same-answer share of answered pairs (both traces answered), pooled over the file, and its
  histogram over problems (the paper's Fig. 1a): ``<name>_pairs.png``;
* the exact cons@n curve (:mod:`deepprune.report.budget`): ``<name>_cons.png``;
* for each k (``truncation`` = first_tokens unless overridden): AUROC, on the pairs ``eval_judge.py``
  samples (``data.pairs_per_problem`` per problem, seeded, among answered traces), of three similarity
  scores of the two k-token prefixes -- identical text, difflib SequenceMatcher ratio, SBERT cosine
  (bundled all-MiniLM-L6-v2) -- for "same final answer"; the share of answered traces whose prefix already
  contains their final answer (as a whole token, case-insensitive; a short numeric answer can also appear
  by coincidence, e.g. in an intermediate step); and DeepPrune with the ideal judge (the oracle, clustering
  exactly: the real method over the replay engine, as ``prune.py method=deepprune judge=oracle
  method.call_budget=null truncation.k=k``): its accuracy (cons@N's answer at DeepPrune's cost; not a ceiling,
  a learned judge can be right where the majority is wrong), its tokens / cons@N tokens, the cons@n accuracy
  interpolated at its budget (and the difference), and its tokens / those at which the curve reaches its
  accuracy.

Writes ``DIR/redundancy.json`` (atomically), ``DIR/redundancy.md`` (tables) and the PNGs.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf
from tqdm.auto import tqdm

from deepprune.build import build_checker, build_engine, build_judge, build_method, build_truncation
from deepprune.commands.entry import run_tool
from deepprune.conf import CONFIG_DIR
from deepprune.data.answers import AnswerChecker
from deepprune.data.io import atomic_write_json, atomic_write_text, read_problems
from deepprune.data.pairs import build_pairs
from deepprune.data.schema import Problem
from deepprune.data.truncation import Truncator
from deepprune.engines.base import ProblemSpec
from deepprune.engines.replay import ReplayEngine
from deepprune.judges.base import Judge, score_examples
from deepprune.judges.heuristics import heuristic_judges
from deepprune.methods.base import Method
from deepprune.report.budget import ConsCurve, delta_acc_at_budget, interpolate_accuracy, tokens_vs_matched_cons
from deepprune.report.judge_metrics import judge_metrics, save_figure
from deepprune.report.leaderboard import check_output_dir, refuse_overwriting_inputs
from deepprune.report.provenance import run_inputs
from deepprune.runner import run_problem

log = logging.getLogger("redundancy")


@dataclass
class PrefixStats:
    """One k's accumulators: pair scores and labels, answer-in-prefix counts, oracle DeepPrune totals."""

    k: int
    method: Method
    truncation: Any
    labels: list[int] = field(default_factory=list)
    # Pair scores of each prefix heuristic (identical, difflib, sbert), aligned with ``labels``.
    scores: dict[str, list[float]] = field(default_factory=dict)
    answer_hits: int = 0
    answered: int = 0
    oracle_correct: float = 0.0
    oracle_tokens: float = 0.0


@dataclass
class FileStats:
    """Whole-file accumulators (sums and counts; per-problem values only for the histogram)."""

    traces: int = 0
    correct_traces: int = 0
    tokens: float = 0.0
    problems: int = 0
    distinct_answers: int = 0
    agreeing_pairs: int = 0
    answered_pairs: int = 0
    pair_fraction_per_problem: list[float] = field(default_factory=list)
    model: str | None = None


def compose_prune(benchmark: str, overrides: list[str], tokenizer: str | None) -> DictConfig:
    """``prune.py``'s config on ``benchmark`` (a ``conf/benchmark`` name, checked) with ``overrides``, composed in code
    by the tools that replay a trace file themselves (redundancy, payoff)."""
    if not (CONFIG_DIR / "benchmark" / f"{benchmark}.yaml").exists():
        known = sorted(p.stem for p in (CONFIG_DIR / "benchmark").glob("*.yaml"))
        raise ValueError(f"no benchmark config conf/benchmark/{benchmark}.yaml (known: {', '.join(known)})")
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("prune", [f"benchmark={benchmark}", *overrides])
    # Paths are set here, not as overrides: a path may hold characters the override grammar reserves.
    cfg.data.tokenizer = tokenizer
    return cfg


def compose_config(benchmark: str, args: argparse.Namespace) -> DictConfig:
    """``prune.py``'s config for DeepPrune with the oracle judge on ``benchmark`` (plus ``--override``s)."""
    overrides = [
        "method=deepprune",
        "judge=oracle",
        "method.call_budget=null",  # exact clustering: a budget would split answer groups
        "engine=replay",
        f"seed={args.seed}",
        f"subsamples={args.subsamples}",
        f"data.seed={args.seed}",
        f"data.pairs_per_problem={args.pairs}",
        f"data.on_error={args.on_error}",
        *args.override,
    ]
    return compose_prune(benchmark, overrides, args.tokenizer)


def file_benchmark(path: Path, on_error: str) -> str:
    """The ``benchmark`` field of the file's first readable record."""
    for problem in read_problems(path, on_error):
        if problem.benchmark:
            return problem.benchmark
        raise ValueError(f"{path}: the first record has no 'benchmark' field; pass --benchmark NAME")
    # Not "no benchmark field": a file without one readable record (e.g. a gzip of nothing) has no first record.
    raise ValueError(f"{path}: no problems (empty file, or every record skipped)")


def answer_classes(checker: AnswerChecker, answers: Sequence[str | None]) -> list[int]:
    """Equivalence-class labels of the answered traces (unanswered ones dropped)."""
    return [label for label in checker.group(answers) if label is not None]


def analyse_problem(
    spec: ProblemSpec,
    engine: ReplayEngine,
    checker: AnswerChecker,
    oracle: Judge,
    heuristics: dict[str, Judge] | None,
    cfg: DictConfig,
    stats: FileStats,
    curve: ConsCurve,
    prefixes: list[PrefixStats],
) -> None:
    """Every analysis of one problem, while it is the only one in memory."""
    problem: Problem = spec.payload
    unit = engine.unit_for(problem.tokenizer)
    for trace in problem.traces:
        # Replay's own count (its _full_tokens), cached on the trace as replay caches it.
        if trace.num_tokens is None:
            trace.num_tokens = unit.counter.count(trace.text)
    answers = [t.answer for t in problem.traces]
    tokens = [t.num_tokens for t in problem.traces]
    stats.model = stats.model or problem.model
    stats.problems += 1
    stats.traces += len(answers)
    stats.correct_traces += sum(a is not None and checker.is_correct(a, problem.gold) for a in answers)
    stats.tokens += float(sum(tokens))
    classes = answer_classes(checker, answers)
    sizes = np.bincount(classes) if classes else np.zeros(0, dtype=int)
    stats.distinct_answers += int(np.count_nonzero(sizes))
    agreeing, pairs = int((sizes * (sizes - 1) // 2).sum()), len(classes) * (len(classes) - 1) // 2
    stats.agreeing_pairs += agreeing
    stats.answered_pairs += pairs
    if pairs:
        stats.pair_fraction_per_problem.append(agreeing / pairs)
    curve.add(answers, tokens, problem.gold, problem.id)

    for entry in prefixes:
        truncator = Truncator(entry.truncation, unit.counter)
        for trace in problem.traces:
            if trace.answer is not None:
                text, _ = truncator.apply(trace.text)
                entry.answer_hits += answer_in_text(trace.answer, text)
                entry.answered += 1
        examples = build_pairs([problem], truncator, checker, cfg.data.pairs_per_problem, cfg.data.seed)
        if examples and heuristics is not None:
            entry.labels += [e.label for e in examples]
            for name, judge in heuristics.items():
                entry.scores.setdefault(name, []).extend(score_examples(judge, examples).tolist())
        record = run_problem(entry.method, spec, engine, checker, oracle, cfg.seed, cfg.subsamples)
        entry.oracle_correct += float(record["correct"])
        entry.oracle_tokens += float(record["tokens"])


def answer_in_text(answer: str, text: str) -> bool:
    """``answer`` occurs in ``text`` as a whole token (case-insensitive): "25" is not found in "125"."""
    answer = answer.strip()
    return bool(answer) and re.search(rf"(?<!\w){re.escape(answer)}(?!\w)", text, re.IGNORECASE) is not None


def auroc(scores: list[float], labels: list[int], what: str) -> float | None:
    """The AUROC of ``scores`` for label 1 (same answer); None when only one class occurs."""
    if len(set(labels)) < 2:
        log.warning("%s: AUROC undefined (every sampled pair has the same label)", what)
        return None
    return judge_metrics(np.asarray(scores), np.asarray(labels), prefix="")["auroc"]


def analyse_file(
    path: Path, args: argparse.Namespace, heuristics: dict[str, Judge] | None, name: str
) -> dict[str, Any]:
    benchmark = args.benchmark or file_benchmark(path, args.on_error)
    cfg = compose_config(benchmark, args)
    cfg.data.traces = str(path)
    checker = build_checker(cfg)
    engine = build_engine(cfg, checker)
    if not isinstance(engine, ReplayEngine):
        raise ValueError(f"redundancy.py reads stored traces: engine must be replay, got {type(engine).__name__}")
    oracle = build_judge(cfg, checker)
    prefixes = []
    for k in args.k:
        cfg_k = OmegaConf.merge(cfg, {"truncation": {"k": k}})
        rule = build_truncation(cfg_k)
        prefixes.append(PrefixStats(k, build_method(cfg_k, rule), rule))
    stats, curve = FileStats(), ConsCurve(checker)
    try:
        for spec in tqdm(engine.problems(), desc=path.name, unit="problem", dynamic_ncols=True):
            analyse_problem(spec, engine, checker, oracle, heuristics, cfg, stats, curve, prefixes)
    except ValueError as err:
        if str(path) in str(err):  # read errors already name file and line
            raise
        raise ValueError(f"{path}: {err}") from err
    finally:
        engine.close()
    if not stats.problems:
        raise ValueError(f"{path}: no problems (empty file, or every record skipped)")
    points = curve.points()
    full = points[-1]
    result: dict[str, Any] = {
        "path": str(path),
        "model": stats.model,
        "benchmark": benchmark,
        "num_problems": stats.problems,
        "num_traces": stats.traces,
        "skipped_records": engine.read_stats.skipped,
        "token_unit": engine.describe().get("token_unit"),
        "per_trace_accuracy": stats.correct_traces / stats.traces,
        "same_answer_pair_fraction": stats.agreeing_pairs / stats.answered_pairs if stats.answered_pairs else None,
        "answered_pairs": stats.answered_pairs,
        "distinct_answers_per_problem": stats.distinct_answers / stats.problems,
        "mean_trace_tokens": stats.tokens / stats.traces,
        "cons_curve": points,
        "prefix": [],
        "pairs_png": f"{name}_pairs.png",
        "cons_png": f"{name}_cons.png",
    }
    for entry in prefixes:
        what = f"{path.name} k={entry.k}"
        oracle_accuracy = entry.oracle_correct / stats.problems
        result["prefix"].append(
            {
                "k": entry.k,
                "num_pairs": len(entry.labels),
                "same_answer_share": float(np.mean(entry.labels)) if entry.labels else None,
                **{
                    f"{name}_auroc": auroc(entry.scores.get(name, []), entry.labels, f"{what} {name}")
                    for name in ("identical", "difflib", "sbert")
                },
                "identical_share": float(np.mean(entry.scores["identical"])) if entry.labels else None,
                "answer_in_prefix": entry.answer_hits / entry.answered if entry.answered else None,
                "oracle_accuracy": oracle_accuracy,
                "oracle_tokens": entry.oracle_tokens,
                "oracle_token_ratio": entry.oracle_tokens / full["total_tokens"] if full["total_tokens"] else None,
                "cons_accuracy_at_oracle_budget": (
                    interpolate_accuracy(points, entry.oracle_tokens) if entry.oracle_tokens > 0 else None
                ),
                "oracle_delta_acc_at_budget": (
                    delta_acc_at_budget(points, oracle_accuracy, entry.oracle_tokens)
                    if entry.oracle_tokens > 0
                    else None
                ),
                "oracle_tokens_vs_matched_cons": tokens_vs_matched_cons(points, oracle_accuracy, entry.oracle_tokens),
            }
        )
    plot_pairs(stats.pair_fraction_per_problem, result, args.out / result["pairs_png"])
    plot_cons(result, args.out / result["cons_png"])
    return result


def plot_pairs(fractions: list[float], result: dict[str, Any], path: Path) -> Path:
    """Histogram over problems of the same-answer share of answered pairs (the paper's Fig. 1a)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.0, 3.6))
    ax.hist(fractions, bins=np.linspace(0.0, 1.0, 21), color="tab:blue", edgecolor="white")
    if result["same_answer_pair_fraction"] is not None:
        ax.axvline(
            result["same_answer_pair_fraction"],
            color="tab:red",
            linestyle="--",
            linewidth=1,
            label=f"all answered pairs: {result['same_answer_pair_fraction']:.3f}",
        )
        ax.legend(loc="upper left", fontsize=8)
    ax.set(
        xlabel="same-answer share of answered trace pairs",
        ylabel="problems",
        title=f"{result['model'] or Path(result['path']).name} on {result['benchmark']}",
    )
    fig.tight_layout()
    return save_figure(fig, path)


def plot_cons(result: dict[str, Any], path: Path) -> Path:
    """cons@n accuracy against total tokens (log), with oracle DeepPrune for each k."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    points = result["cons_curve"]
    fig, ax = plt.subplots(figsize=(5.5, 4.0))
    ax.plot([p["total_tokens"] for p in points], [p["accuracy"] for p in points], "o-", label="cons@n")
    for p in points:
        ax.annotate(
            f"{p['n']}", (p["total_tokens"], p["accuracy"]), textcoords="offset points", xytext=(3, -10), fontsize=7
        )
    for entry in result["prefix"]:
        if entry["oracle_tokens"] > 0:
            ax.plot(
                entry["oracle_tokens"],
                entry["oracle_accuracy"],
                "*",
                markersize=10,
                label=f"DeepPrune, oracle judge, k={entry['k']}",
            )
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels overlap on a short range
    ax.set(
        xlabel="total tokens (all problems)",
        ylabel="accuracy",
        title=f"{result['model'] or Path(result['path']).name} on {result['benchmark']}",
    )
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return save_figure(fig, path)


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.{digits}f}"
    return str(value)


def markdown(files: list[dict[str, Any]]) -> str:
    lines = ["# Trace redundancy and the cons@n budget curve", ""]
    lines += [
        "| file | model | benchmark | problems | traces/problem | per-trace acc | same-answer pairs | "
        "distinct answers | mean tokens | cons@1 | cons@N |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for f in files:
        lines.append(
            f"| {Path(f['path']).name} | {f['model'] or '–'} | {f['benchmark']} | {f['num_problems']} | "
            f"{f['cons_curve'][-1]['n']} | {_fmt(f['per_trace_accuracy'])} | {_fmt(f['same_answer_pair_fraction'])} | "
            f"{_fmt(f['distinct_answers_per_problem'], 2)} | {_fmt(f['mean_trace_tokens'], 1)} | "
            f"{_fmt(f['cons_curve'][0]['accuracy'])} | {_fmt(f['cons_curve'][-1]['accuracy'])} |"
        )
    for f in files:
        lines += [
            "",
            f"## {Path(f['path']).name}",
            "",
            "cons@n (exact: every n-subset of the pool, ties split evenly):",
            "",
        ]
        lines += ["| n | accuracy | total tokens |", "|---|---|---|"]
        lines += [f"| {p['n']} | {p['accuracy']:.3f} | {p['total_tokens']:,.0f} |" for p in f["cons_curve"]]
        lines += [
            "",
            "What k-token prefixes tell (AUROC for same final answer on sampled answered pairs), and DeepPrune "
            "with the oracle judge against cons@n at its budget:",
            "",
            "| k | pairs | identical AUROC | difflib AUROC | SBERT AUROC | answer in prefix | oracle acc | "
            "oracle tokens / cons@N | cons acc at oracle budget | oracle tokens / matched cons |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {e['k']} | {e['num_pairs']} | {_fmt(e['identical_auroc'])} | {_fmt(e['difflib_auroc'])} | "
            f"{_fmt(e['sbert_auroc'])} | {_fmt(e['answer_in_prefix'])} | {_fmt(e['oracle_accuracy'])} | "
            f"{_fmt(e['oracle_token_ratio'])} | {_fmt(e['cons_accuracy_at_oracle_budget'])} | "
            f"{_fmt(e['oracle_tokens_vs_matched_cons'], 2)} |"
            for e in f["prefix"]
        ]
        lines += ["", f"![pairs]({f['pairs_png']}) ![cons]({f['cons_png']})"]
    return "\n".join(lines) + "\n"


def output_names(paths: Sequence[Path]) -> list[str]:
    """A distinct file-name-safe stem per input (``.jsonl.gz`` etc. dropped; repeats numbered)."""
    names: list[str] = []
    for path in paths:
        stem = re.sub(r"(\.jsonl|\.parquet)?(\.gz)?$", "", path.name)
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", stem) or "traces"
        name, i = stem, 1
        while name in names:
            i += 1
            name = f"{stem}_{i}"
        names.append(name)
    return names


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="deepprune redundancy", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("files", nargs="+", type=Path, help="trace files (one model x benchmark each)")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--k", type=int, nargs="*", default=[16, 32, 64], help="prefix lengths (truncation.k)")
    parser.add_argument("--benchmark", help="conf/benchmark/NAME.yaml (default: each file's 'benchmark' field)")
    parser.add_argument("--pairs", type=int, default=64, help="pairs sampled per problem (data.pairs_per_problem)")
    parser.add_argument("--subsamples", type=int, default=10, help="seeded subsamples per cons@n point, 1 < n < N")
    parser.add_argument("--seed", type=int, default=0, help="seed and data.seed (subsamples, pair sampling)")
    parser.add_argument("--tokenizer", help="data.tokenizer (default: the tokenizer each record names)")
    parser.add_argument("--on-error", choices=["raise", "skip"], default="raise", help="data.on_error")
    parser.add_argument("--override", action="append", default=[], help="extra prune.py override, e.g. method.*")
    args = parser.parse_args(argv)
    # ValueError, not parser.error: run_guarded makes it the project's one "error: ..." line (exit 2) instead of
    # argparse's usage block.
    if any(k < 1 for k in args.k):
        raise ValueError(f"--k values must be >= 1, got {' '.join(map(str, args.k))}")
    for name in ("pairs", "subsamples"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name} must be >= 1, got {getattr(args, name)}")
    if args.seed < 0:  # numpy's generators take no negative seed: fail now, not at the first problem
        raise ValueError(f"--seed must be >= 0, got {args.seed}")
    return args


def check_inputs(args: argparse.Namespace, names: Sequence[str]) -> None:
    """Refuse, before the model loads or anything is written, trace files that cannot be read and an --out that
    cannot hold the outputs or whose outputs would replace an input."""
    for path in args.files:
        if path.is_dir():
            raise ValueError(f"trace file {path}: is a directory, expected a .jsonl(.gz) or .parquet file")
        if not path.is_file():
            raise FileNotFoundError(f"trace file not found: {path}")
        if path.stat().st_size == 0:
            raise ValueError(f"trace file {path}: empty file (no records)")
    check_output_dir(args.out, "--out")
    outputs = [args.out / "redundancy.json", args.out / "redundancy.md"]
    outputs += [args.out / f"{name}_{plot}.png" for name in names for plot in ("pairs", "cons")]
    refuse_overwriting_inputs(outputs, args.files, "--out")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    names = output_names(args.files)
    check_inputs(args, names)
    args.out.mkdir(parents=True, exist_ok=True)
    heuristics = heuristic_judges() if args.k else None
    files = [analyse_file(path, args, heuristics, name) for path, name in zip(args.files, names, strict=True)]
    inputs = run_inputs(compose_config(files[0]["benchmark"], args))
    inputs.pop("traces")
    report = {
        "settings": {"k": args.k, "pairs_per_problem": args.pairs, "subsamples": args.subsamples, **inputs},
        "files": files,
    }
    atomic_write_json(args.out / "redundancy.json", report)
    atomic_write_text(args.out / "redundancy.md", markdown(files))
    print(markdown(files))
    print(f"wrote {args.out / 'redundancy.json'}, {args.out / 'redundancy.md'} and the PNGs")
    return 0


if __name__ == "__main__":
    sys.exit(run_tool(main))
