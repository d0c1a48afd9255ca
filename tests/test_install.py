"""The installed package works without the checkout: build the wheel, install it (not editable) into a fresh
venv, and run ``deepprune`` from an empty directory.

The fresh venv borrows this environment's dependencies through a ``.pth`` line (no downloads); a path added that
way does not run the ``.pth`` files inside it, so this checkout's editable install stays invisible there.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.helpers.run_entry import ROOT, entry_env

# What the wheel is built from: the rest of the checkout (tests, recipes, benchmarks) must not be needed.
WHEEL_SOURCES = ("pyproject.toml", "README.md", "conf", "deepprune")


def run(command: list[str | Path], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(c) for c in command], cwd=cwd, env=entry_env(), capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"{command}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``bin/`` of a venv holding the wheel built from this checkout."""
    tmp = tmp_path_factory.mktemp("install")
    source = tmp / "source"
    source.mkdir()
    for name in WHEEL_SOURCES:
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy2
        copy(
            ROOT / name,
            source / name,
            **({"ignore": shutil.ignore_patterns("__pycache__")} if copy is shutil.copytree else {}),
        )
    run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", tmp / "dist", source],
        tmp,
    )
    (wheel,) = (tmp / "dist").glob("deepprune-*.whl")
    venv = tmp / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv], tmp)
    python = venv / "bin" / "python"
    run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", "--no-index", wheel], tmp)
    site = run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp).stdout.strip()
    (Path(site) / "borrowed_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv / "bin"


@pytest.mark.slow
def test_the_wheel_runs_prune_and_the_demo_from_an_empty_directory(installed: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    where = run([installed / "python", "-c", "import deepprune; print(deepprune.__file__)"], empty).stdout
    assert where.startswith(str(installed.parent)), where  # the wheel's package, not this checkout's

    traces = run([installed / "python", "-c", "import deepprune; print(deepprune.asset_path('demo'))"], empty)
    run(
        [
            installed / "deepprune",
            "prune",
            f"data.traces={traces.stdout.strip()}/traces_eval.jsonl.gz",
            "benchmark=demo",
            "method=cons",
            "data.tokenizer=${asset:tiny_reasoner}",
            "hydra.run.dir=prune_run",
        ],
        empty,
    )
    metrics = json.loads((empty / "prune_run" / "metrics.json").read_text())
    assert metrics["method"] == "cons" and metrics["num_problems"] == 100

    demo = run([installed / "deepprune", "demo", "methods=[cons,deepprune]", "hydra.run.dir=demo_run"], empty)
    assert "| cons |" in demo.stdout and "| deepprune (trained" in demo.stdout
    assert (empty / "demo_run" / "leaderboard.md").exists() and (empty / "demo_run" / "pareto.png").exists()
    assert "recount" not in demo.stderr  # the shipped traces' tokenizer is found in the installed package
    assert sorted(p.name for p in empty.iterdir()) == ["demo_run", "prune_run"]  # nothing else written here


def test_the_command_lists_its_subcommands_and_refuses_unknown_ones(installed: Path, tmp_path: Path) -> None:
    listing = run([installed / "deepprune", "--help"], tmp_path).stdout
    for name in ("demo", "prune", "train", "eval-judge", "generate", "serve", "leaderboard", "redundancy", "payoff"):
        assert f"\n  {name} " in listing, name
    unknown = subprocess.run(
        [installed / "deepprune", "bogus"], cwd=tmp_path, env=entry_env(), capture_output=True, text=True, timeout=60
    )
    assert unknown.returncode == 2 and "error: unknown command 'bogus'" in unknown.stderr
