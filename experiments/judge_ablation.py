"""Judge quality on unseen problems: trained judge vs prefix heuristics, and the paper's ablations.

    # train the grid (skips runs that already have metrics.json), then print the table
    python experiments/judge_ablation.py --traces FILE --out DIR --grid acceptance k ablation [--override KEY=VALUE]
    # only tabulate finished train.py runs
    python experiments/judge_ablation.py --runs DIR1 DIR2 ...

Every run holds out ``data.test_fraction=0.2`` of the file's problems as test (split by problem, seeded:
all runs share the same test problems). For each run the heuristics are scored on exactly that run's
test pairs (rebuilt from the run's saved config): exact match of the two prefixes, difflib
SequenceMatcher ratio, and SBERT cosine (bundled all-MiniLM-L6-v2).
"""

from __future__ import annotations

import argparse
import difflib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf
from torchmetrics.functional.classification import binary_auroc, binary_roc

from deepprune.data.io import atomic_write_json
from deepprune.judges.base import Prefix
from deepprune.judges.sbert import SbertJudge
from deepprune.report.judge_metrics import tnr_at_fnr
from deepprune.training.datamodule import JudgeDataModule

REPO = Path(__file__).resolve().parents[1]
COMMON = ["data.test_fraction=0.2", "judge=minilm", "truncation=first_tokens", "trainer.enable_progress_bar=false"]
GRIDS = {
    "acceptance": {"focal_k64": ["truncation.k=64", "loss=focal"]},
    "k": {"focal_k16": ["truncation.k=16", "loss=focal"], "focal_k32": ["truncation.k=32", "loss=focal"]},
    # The paper's ablation; `--ablation-pairs` keeps it affordable on a CPU.
    "ablation": {
        "abl_focal_oversample": ["loss=focal", "sampler=oversample"],
        "abl_bce_oversample": ["loss=bce", "sampler=oversample"],
        "abl_focal_none": ["loss=focal", "sampler=none"],
        "abl_bce_none": ["loss=bce", "sampler=none"],
    },
}


def train_run(run_dir: Path, traces: Path, overrides: list[str]) -> None:
    if (run_dir / "metrics.json").exists():
        print(f"[skip] {run_dir} has metrics.json", flush=True)
        return
    command = ["nice", "-n", "5", sys.executable, "train.py", f"data.train={traces}", *COMMON, *overrides,
               f"hydra.run.dir={run_dir}"]
    print("[train]", " ".join(command), flush=True)
    subprocess.run(command, cwd=REPO, check=True)


def auroc_tnr(labels: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    preds, target = torch.tensor(scores, dtype=torch.float32), torch.tensor(labels)
    fpr, tpr, thresholds = binary_roc(preds, target)
    return float(binary_auroc(preds, target)), tnr_at_fnr(fpr, tpr, thresholds)[0]


def heuristics(run_dir: Path, sbert: SbertJudge) -> tuple[dict[str, tuple[float, float]], int]:
    cfg = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
    dm = JudgeDataModule(cfg.data, cfg.truncation, cfg.benchmark.answer, lambda items: items, cfg.sampler)
    dm.setup("test")
    examples = dm.examples["test"]
    labels = np.array([e.label for e in examples])
    exact = np.array([float(e.text_a == e.text_b) for e in examples])
    ratio = np.array([difflib.SequenceMatcher(None, e.text_a, e.text_b).ratio() for e in examples])
    cosine = sbert.score([(Prefix(e.text_a, e.tokens_a), Prefix(e.text_b, e.tokens_b)) for e in examples])
    sbert.reset()
    results = {name: auroc_tnr(labels, s) for name, s in (("exact", exact), ("difflib", ratio), ("sbert", cosine))}
    results["identical_share"] = (float(exact.mean()), float("nan"))
    return results, len(examples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--traces", type=Path)
    parser.add_argument("--out", type=Path, default=Path("outputs/judge_ablation"))
    parser.add_argument("--grid", nargs="*", default=[], choices=sorted(GRIDS))
    parser.add_argument("--ablation-k", type=int, default=32)
    parser.add_argument("--ablation-pairs", type=int, default=16, help="data.pairs_per_problem for the ablation grid")
    parser.add_argument("--runs", nargs="*", type=Path, default=[])
    parser.add_argument("--override", action="append", default=[], help="train.py override for every trained run")
    args = parser.parse_args()
    runs = list(args.runs)
    for grid in args.grid:
        if args.traces is None:
            parser.error("--grid needs --traces")
        for name, overrides in GRIDS[grid].items():
            if grid == "ablation":
                overrides = [*overrides, f"truncation.k={args.ablation_k}",
                             f"data.pairs_per_problem={args.ablation_pairs}"]
            train_run(args.out / name, args.traces.resolve(), [*overrides, *args.override])
            runs.append(args.out / name)
    if not runs:
        parser.error("nothing to tabulate: pass --grid or --runs")
    sbert = SbertJudge()
    rows = []
    for run_dir in runs:
        metrics = json.loads((run_dir / "metrics.json").read_text())
        cfg = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
        baseline, pairs = heuristics(run_dir, sbert)
        rows.append({
            "run": run_dir.name, "k": cfg.truncation.k, "loss": cfg.loss.name, "sampler": cfg.sampler.name,
            "lora": cfg.judge.lora.enabled, "train_pairs": metrics["train_pairs"], "steps": metrics["global_step"],
            "test_pairs": pairs, "judge_auroc": metrics["test/auroc"], "judge_tnr": metrics["test/tnr@fnr0.2"],
            **{f"{name}_auroc": value[0] for name, value in baseline.items() if name != "identical_share"},
            **{f"{name}_tnr": value[1] for name, value in baseline.items() if name != "identical_share"},
            "identical_share": baseline["identical_share"][0],
        })
    header = ("| run | k | loss | sampler | LoRA | train pairs | steps | test pairs | judge AUROC | judge TNR@FNR0.2 "
              "| exact AUROC | difflib AUROC | SBERT AUROC | SBERT TNR@FNR0.2 | identical prefixes |")
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for r in rows:
        print(f"| {r['run']} | {r['k']} | {r['loss']} | {r['sampler']} | {r['lora']} | {r['train_pairs']} | "
              f"{r['steps']} | {r['test_pairs']} | {r['judge_auroc']:.3f} | {r['judge_tnr']:.3f} | "
              f"{r['exact_auroc']:.3f} | {r['difflib_auroc']:.3f} | {r['sbert_auroc']:.3f} | {r['sbert_tnr']:.3f} | "
              f"{r['identical_share']:.3f} |")
    atomic_write_json(args.out / "ablation.json", rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
