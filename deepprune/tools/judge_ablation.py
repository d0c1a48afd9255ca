"""Judge quality on unseen problems: trained judge vs prefix heuristics, and the paper's ablations.

    # train the grid (skips runs that already have metrics.json), then print the table
    deepprune judge-ablation --traces FILE --out DIR --grid acceptance k ablation \
        [--pairs 64] [--ablation-k 64] [--seeds 0 1] [--override trainer.threads=1 ...]
    # only tabulate finished train.py runs
    deepprune judge-ablation --runs DIR1 DIR2 ...

Every run holds out ``data.test_fraction=0.2`` of the file's problems as test (split by problem, seeded:
all runs share the same test problems). For each run the heuristics are scored on exactly that run's
test pairs (rebuilt from the run's saved config): exact match of the two prefixes, difflib
SequenceMatcher ratio, and SBERT cosine (bundled all-MiniLM-L6-v2). Grids: ``acceptance`` (focal +
oversampling at k=64), ``k`` (the same at k=16/32/64), ``ablation`` (focal vs BCE x oversampling vs none).
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from deepprune.commands.entry import run_tool
from deepprune.data.io import atomic_write_json
from deepprune.judges.base import Judge, score_examples
from deepprune.judges.heuristics import heuristic_judges
from deepprune.report.judge_metrics import judge_metrics, save_figure
from deepprune.training.datamodule import run_test_examples

COMMON = ["data.test_fraction=0.2", "judge=minilm", "truncation=first_tokens", "trainer.enable_progress_bar=false"]
# (loss, sampler, k) cells. A run directory is named after its cell, so a cell shared by two grids (focal +
# oversampling at k=64 is both the acceptance run and the ablation's reference) is trained once.
LOSSES, SAMPLERS = ("focal", "bce"), ("oversample", "none")
COLUMNS = [  # (table header, row key)
    ("run", "run"),
    ("seed", "seed"),
    ("k", "k"),
    ("loss", "loss"),
    ("sampler", "sampler"),
    ("LoRA", "lora"),
    ("train pairs", "train_pairs"),
    ("steps", "steps"),
    ("test pairs", "test_pairs"),
    ("judge AUROC", "judge_auroc"),
    ("judge TNR@FNR0.2", "judge_tnr"),
    ("identical-prefix AUROC", "identical_auroc"),
    ("difflib AUROC", "difflib_auroc"),
    ("SBERT AUROC", "sbert_auroc"),
    ("SBERT TNR@FNR0.2", "sbert_tnr"),
    ("identical prefixes", "identical_share"),
]


def grid_cells(grid: str, ablation_k: int) -> list[tuple[str, str, int]]:
    if grid == "acceptance":
        return [("focal", "oversample", 64)]
    if grid == "k":
        return [("focal", "oversample", 16), ("focal", "oversample", 32), ("focal", "oversample", 64)]
    return [(loss, sampler, ablation_k) for loss in LOSSES for sampler in SAMPLERS]


def train_run(run_dir: Path, traces: Path, overrides: list[str]) -> None:
    if (run_dir / "metrics.json").exists():
        print(f"[skip] {run_dir} has metrics.json", flush=True)
        return
    command = [
        "nice",
        "-n",
        "5",
        sys.executable,
        "-m",
        "deepprune.commands.train",
        f"data.train={traces}",
        *COMMON,
        *overrides,
        f"hydra.run.dir={run_dir}",
    ]
    print("[train]", " ".join(command), flush=True)
    subprocess.run(command, check=True)


def heuristics(cfg: DictConfig, judges: dict[str, Judge]) -> tuple[dict[str, tuple[float, float]], int]:
    """AUROC and TNR@FNR0.2 of each prefix heuristic on the run's test pairs, and how many pairs there are."""
    examples = run_test_examples(cfg)
    labels = np.array([e.label for e in examples])
    results = {}
    for name, judge in judges.items():
        metrics = judge_metrics(score_examples(judge, examples), labels, prefix="")
        results[name] = (metrics["auroc"], metrics["tnr@fnr0.2"])
    results["identical_share"] = (float(np.mean([e.text_a == e.text_b for e in examples])), float("nan"))
    return results, len(examples)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="deepprune judge-ablation", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--traces", type=Path)
    parser.add_argument("--out", type=Path, default=Path("outputs/judge_ablation"))
    parser.add_argument("--grid", nargs="*", default=[], choices=["acceptance", "k", "ablation"])
    parser.add_argument("--ablation-k", type=int, default=64, help="truncation.k of the focal/BCE x sampler grid")
    parser.add_argument("--pairs", type=int, default=64, help="data.pairs_per_problem of every trained run")
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=[0],
        help="training seeds (LoRA/head init, dropout, batch order); the split and pairs stay fixed",
    )
    parser.add_argument("--runs", nargs="*", type=Path, default=[])
    parser.add_argument("--override", action="append", default=[], help="train.py override for every trained run")
    args = parser.parse_args(argv)
    runs = list(args.runs)
    if args.grid and args.traces is None:
        parser.error("--grid needs --traces")
    cells = dict.fromkeys(cell for grid in args.grid for cell in grid_cells(grid, args.ablation_k))
    for (loss, sampler, k), seed in itertools.product(cells, args.seeds):
        run_dir = args.out / (f"{loss}_{sampler}_k{k}_p{args.pairs}" + (f"_s{seed}" if seed else ""))
        overrides = [
            f"loss={loss}",
            f"sampler={sampler}",
            f"truncation.k={k}",
            f"data.pairs_per_problem={args.pairs}",
            f"seed={seed}",
        ]
        train_run(run_dir, args.traces.resolve(), [*overrides, *args.override])
        runs.append(run_dir)
    if not runs:
        parser.error("nothing to tabulate: pass --grid or --runs")
    judges = heuristic_judges()
    rows = []
    baselines: dict[str, tuple[dict[str, tuple[float, float]], int]] = {}
    for run_dir in runs:
        metrics = json.loads((run_dir / "metrics.json").read_text())
        cfg = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
        choices = OmegaConf.load(run_dir / ".hydra" / "hydra.yaml").hydra.runtime.choices  # config group files
        # Runs that differ only in training settings share their test pairs: score the heuristics once.
        pairs_key = json.dumps(
            OmegaConf.to_container(OmegaConf.masked_copy(cfg, ["data", "truncation", "benchmark"]), resolve=True),
            sort_keys=True,
        )
        if pairs_key not in baselines:
            baselines[pairs_key] = heuristics(cfg, judges)
        baseline, pairs = baselines[pairs_key]
        rows.append(
            {
                "run": run_dir.name,
                "seed": cfg.seed,
                "k": cfg.truncation.k,
                "loss": choices.loss,
                "sampler": choices.sampler,
                "lora": cfg.judge.lora is not None,
                "train_pairs": metrics["train_pairs"],
                "steps": metrics["global_step"],
                "test_pairs": pairs,
                "judge_auroc": metrics["test/auroc"],
                "judge_tnr": metrics["test/tnr@fnr0.2"],
                **{f"{name}_auroc": value[0] for name, value in baseline.items() if name != "identical_share"},
                **{f"{name}_tnr": value[1] for name, value in baseline.items() if name != "identical_share"},
                "identical_share": baseline["identical_share"][0],
            }
        )
    print("| " + " | ".join(header for header, _ in COLUMNS) + " |")
    print("|" + "---|" * len(COLUMNS))
    for row in rows:
        print(
            "| "
            + " | ".join(f"{row[key]:.3f}" if isinstance(row[key], float) else str(row[key]) for _, key in COLUMNS)
            + " |"
        )
    print_seed_summary(rows)
    atomic_write_json(args.out / "ablation.json", rows)
    print(f"wrote {args.out / 'ablation.json'} and {plot_auroc(rows, args.out / 'ablation.png')}")
    return 0


def print_seed_summary(rows: list[dict]) -> None:
    """Judge AUROC per (k, loss, sampler, pairs) cell over its training seeds: mean and range."""
    cells: dict[tuple, list[float]] = {}
    for row in rows:
        cells.setdefault((row["k"], row["loss"], row["sampler"], row["train_pairs"]), []).append(row["judge_auroc"])
    if all(len(values) == 1 for values in cells.values()):
        return
    print("\n| k | loss | sampler | train pairs | seeds | judge AUROC mean | min | max |")
    print("|---|---|---|---|---|---|---|---|")
    for (k, loss, sampler, pairs), values in cells.items():
        print(
            f"| {k} | {loss} | {sampler} | {pairs} | {len(values)} | {np.mean(values):.3f} | {min(values):.3f} | "
            f"{max(values):.3f} |"
        )


def plot_auroc(rows: list[dict], path: Path) -> Path:
    """Grouped bars: each run's judge AUROC next to the heuristics on the same test pairs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scorers = [
        ("judge", "trained judge"),
        ("sbert", "SBERT cosine"),
        ("difflib", "difflib ratio"),
        ("identical", "identical prefix"),
    ]
    width = 0.8 / len(scorers)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(rows)), 4.0))
    for i, (key, label) in enumerate(scorers):
        ax.bar([x + i * width for x in range(len(rows))], [r[f"{key}_auroc"] for r in rows], width, label=label)
    ax.axhline(0.5, color="grey", lw=0.8, ls="--")
    ax.set_xticks([x + 1.5 * width for x in range(len(rows))], [r["run"] for r in rows], rotation=30, ha="right")
    ax.set_ylim(0.4, 1.0)
    ax.set_ylabel("test AUROC (unseen problems)")
    ax.legend(fontsize=8, ncol=len(scorers), loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    fig.tight_layout()
    return save_figure(fig, path)


if __name__ == "__main__":
    sys.exit(run_tool(main))
