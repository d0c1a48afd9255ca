"""The shipped demo assets are the regime the demo is about: long traces decided early, a judge that reads the
decisive step (recorded AUROC), and DeepPrune forming real clusters with it on the shipped evaluation traces."""

from __future__ import annotations

import json
from pathlib import Path

from deepprune import asset_path
from deepprune.data.io import read_problems
from deepprune.runner import run_prune
from tests.helpers.configs import compose_entry

K = 32  # the judge's prefix: conf/experiment/demo.yaml truncation.k


def test_shipped_judge_reads_the_decisive_step():
    judge = json.loads(Path(asset_path("demo/judge/judge.json")).read_text())
    assert judge["truncation"] == {"_target_": "deepprune.data.truncation.FirstTokens", "k": K}
    # test/* = the shipped evaluation traces (build_assets.sh trains with data.test=traces_eval; nothing is selected
    # on them: the checkpoint is chosen on val/*, held-out training problems).
    assert judge["metrics"]["test/auroc"] >= 0.85, judge["metrics"]
    assert judge["metrics"]["val/auroc"] >= 0.7, judge["metrics"]  # build_assets.sh's shipping check
    assert Path(asset_path("demo/judge_roc_test.png")).stat().st_size > 0


def test_shipped_traces_are_long_and_decided_early():
    problems = list(read_problems(asset_path("demo/traces_eval.jsonl.gz")))
    assert len(problems) >= 30 and all(len(p.traces) == 64 for p in problems)
    lengths = [t.num_tokens for p in problems for t in p.traces]
    assert sum(lengths) / len(lengths) >= 10 * K  # the prefix the judge reads is <= 10% of a trace
    answered = [t for p in problems for t in p.traces if t.answer is not None]
    # At T=1.4 some traces ramble past the 384-token budget without an answer (13%): they do not vote.
    assert len(answered) / len(lengths) > 0.8


def test_shipped_assets_are_small():
    root = Path(asset_path("demo")).parent
    assert sum(f.stat().st_size for f in root.rglob("*") if f.is_file()) < 50 * 2**20


def test_deepprune_forms_clusters_with_the_shipped_judge(tmp_path):
    # `python prune.py experiment=demo method=deepprune ...` on the first 4 evaluation problems, in this process.
    cfg = compose_entry(
        "prune", "experiment=demo", "method=deepprune", "method.n=64", "method.compare=fast", "data.limit=4"
    )
    run_prune(cfg, tmp_path)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["num_problems"] == 4 and metrics["judge"] == "trained"
    assert metrics["fallback_problems"] <= 1  # <= 25% of the problems fall back to all singletons
    sizes = [p["cluster_sizes"] for p in metrics["problems"]]
    assert all(s[0] >= 8 for s in sizes), sizes  # the largest cluster gathers many traces of each problem
    pool = list(read_problems(asset_path("demo/traces_eval.jsonl.gz")))[:4]
    assert metrics["total_tokens"] < 0.5 * sum(t.num_tokens for p in pool for t in p.traces)  # cons@64's tokens
