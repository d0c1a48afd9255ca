"""The embedded demo: the shipped assets load, demo.py prints the leaderboard of every method, and the
tiny reasoner runs live through vLLM with the shipped judge (the README's main command, at CI scale)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deepprune import asset_path
from deepprune.data.io import read_problems
from deepprune.engines.replay import ReplayEngine
from deepprune.runner import run_prune
from tests.helpers.configs import compose_entry
from tests.helpers.run_entry import run_entry
from tests.helpers.run_if import RunIf


def test_shipped_traces_have_confidences_and_answers():
    problems = list(read_problems(asset_path("demo/traces_eval.jsonl.gz")))
    assert len(problems) >= 20
    for problem in problems:
        assert len(problem.traces) >= 16
        for trace in problem.traces:
            assert trace.confs is not None and len(trace.confs) == trace.num_tokens > 0
    answered = [t.answer is not None for p in problems for t in p.traces]
    assert sum(answered) / len(answered) > 0.8  # at T=1.4, 13% of traces run out of tokens before answering


RUNS = (
    "cons",
    "deepconf_low",
    "deepconf_high",
    "deepprune",
    "deepprune_adaptive",
    "deepprune_diversity",
    "deepprune_deepconf",
    "deepprune_oracle",
)


@pytest.mark.slow
def test_demo_runs_every_method(tmp_path):
    # The first 2 of the evaluation problems (every stored trace, n of conf/experiment/demo.yaml); the default
    # methods and the other finishing rule.
    methods = f"methods=[{','.join(RUNS)}]"
    result = run_entry("demo.py", "data.limit=2", methods, f"hydra.run.dir={tmp_path}", timeout=900)
    board = (tmp_path / "leaderboard.md").read_text()
    # The shipped judge's tau is the one its training recorded (threshold=auto), shown to 3 digits.
    tau = json.loads(Path(asset_path("demo/judge/judge.json")).read_text())["metrics"]["val/threshold@fnr0.2"]
    for row in ("cons", "deepconf_low", "deepconf_high", f"deepprune (trained, tau={tau:.3f})",
                f"deepprune (trained, tau={tau:.3f}, finish=diversity)",
                f"deepprune (trained, tau={tau:.3f}, finish=adaptive)", "deepprune, ideal judge"):  # fmt: skip
        assert f"| {row}" in board, board
    assert (tmp_path / "pareto.png").exists() and (tmp_path / "leaderboard.csv").exists()
    metrics = {m: json.loads((tmp_path / m / "metrics.json").read_text()) for m in RUNS}
    assert all(m["num_problems"] == 2 and m["n"] == 64 for m in metrics.values())
    assert metrics["deepconf_low"]["method_params"]["window"] == 64  # the demo's per-method setting
    assert metrics["cons"]["judge"] is None and metrics["deepprune_oracle"]["judge"] == "oracle"
    assert metrics["deepprune"]["judge"] == metrics["deepprune_diversity"]["judge"] == "trained"
    finishes = [metrics[m]["finish"] for m in ("deepprune", "deepprune_diversity", "deepprune_adaptive")]
    assert finishes == ["paper", "diversity", "adaptive"]
    for name in ("deepprune", "deepprune_adaptive", "deepprune_diversity", "deepprune_oracle", "deepconf_low"):
        assert metrics[name]["total_tokens"] < metrics["cons"]["total_tokens"]
    # The shipped judge forms clusters: fewer clusters than traces, so finish=diversity finishes fewer traces.
    assert all(p["cluster_sizes"][0] > 1 for p in metrics["deepprune_diversity"]["problems"])
    assert "leaderboard" in result.stdout.lower() or "| Method |" in result.stdout


def test_data_limit_serves_the_first_problems():
    path = asset_path("demo/traces_eval.jsonl.gz")
    first = [p.id for p in read_problems(path)][:3]
    assert [p.id for p in ReplayEngine(str(path), limit=3).problems()] == first
    with pytest.raises(ValueError, match="data.limit must be >= 1"):
        ReplayEngine(str(path), limit=0)


def test_prune_runs_one_method_of_the_demo_experiment(tmp_path):
    # `python prune.py experiment=demo method=cons data.limit=3`, in this process (prune.py runs as a script in
    # tests/test_cli.py): the demo's settings are an ordinary experiment config of prune.py.
    run_prune(compose_entry("prune", "experiment=demo", "method=cons", "data.limit=3"), tmp_path)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["method"] == "cons" and metrics["benchmark"] == "demo" and metrics["num_problems"] == 3


@pytest.mark.slow
def test_demo_names_an_unknown_method(tmp_path):
    result = run_entry("demo.py", "methods=[cons,deepconff]", f"hydra.run.dir={tmp_path}", expect=2, timeout=300)
    known = ", ".join(RUNS)
    assert f"error: methods: ['deepconff'] not in method_configs ({known})" in result.stderr
    assert not (tmp_path / "cons").exists()  # checked before any method runs


@RunIf(requires_vllm=True)
def test_demo_runs_live_with_its_reasoner(tmp_path):
    result = run_entry(
        "demo.py", "engine=vllm_cpu", "benchmark.limit=1", "n=4", "methods=[cons,deepprune,deepprune_oracle]",
        f"hydra.run.dir={tmp_path}", timeout=900,
    )  # fmt: skip
    for method in ("cons", "deepprune"):
        metrics = json.loads((tmp_path / method / "metrics.json").read_text())
        # demo.py swaps the live engine's default model (tiny_test) for the demo's reasoner.
        assert metrics["model"] == "tiny_reasoner" and metrics["n"] == 4 and metrics["num_problems"] == 1
    # The oracle judge reads stored answers: live, it is skipped (and said so), not run on nothing.
    assert "skipping deepprune_oracle" in result.stdout and not (tmp_path / "deepprune_oracle").exists()
    assert (tmp_path / "leaderboard.md").exists()


@RunIf(requires_vllm=True)
def test_tiny_reasoner_live_with_the_demo_judge(tmp_path):
    run_entry(
        "prune.py",
        "engine=vllm_cpu",
        "model=tiny_reasoner",
        "benchmark=demo",
        "benchmark.limit=2",
        "method=deepprune",
        "method.n=8",
        "judge=trained",
        f"judge.path={asset_path('demo/judge')}",
        "truncation.k=32",
        f"hydra.run.dir={tmp_path}",
        timeout=900,
    )
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["model"] == "tiny_reasoner" and metrics["num_problems"] == 2
    # The reasoner writes real solutions: answers are extracted from its boxed output.
    assert all(p["predicted"] is not None for p in metrics["problems"])
    assert metrics["judge_calls"] > 0
