"""The shared test helpers: ``run_entry`` (environment, exit codes, timeouts) and ``RunIf`` (skip reasons and the
``vllm`` / ``gpu`` selection markers it adds)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.helpers.configs import CONF, groups, options
from tests.helpers.run_entry import ROOT, run_entry
from tests.helpers.run_if import RunIf

SCRIPT = """
import os, sys, time
print("offline", os.environ.get("HF_HUB_OFFLINE"), os.environ.get("WANDB_MODE"))
print("key", os.environ.get("WANDB_API_KEY"), "full", os.environ.get("HYDRA_FULL_ERROR"), "x", os.environ.get("X"))
print("cwd", os.getcwd())
if sys.argv[1] == "sleep":
    time.sleep(30)
print("the last words", file=sys.stderr)
sys.exit(int(sys.argv[1]))
"""


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "entry.py"
    path.write_text(SCRIPT)
    return path


def test_run_entry_runs_offline_without_credentials(script, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", "secret")
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    monkeypatch.setenv("X", "inherited")
    result = run_entry(script, "0", cwd=tmp_path, env={"X": None})
    assert result.stdout.splitlines() == ["offline 1 offline", "key None full None x None", f"cwd {tmp_path}"]
    assert run_entry(script, "0", env={"HYDRA_FULL_ERROR": "1"}).stdout.splitlines()[1] == "key None full 1 x inherited"


def test_run_entry_fails_with_the_tails_on_an_unexpected_exit_code(script):
    assert run_entry(script, "2", expect=2).returncode == 2
    assert run_entry(script, "3", expect=None).returncode == 3
    with pytest.raises(pytest.fail.Exception, match=r"(?s)entry\.py 3: exit code 3, expected 0.*the last words"):
        run_entry(script, "3")


def test_run_entry_fails_on_timeout(script):
    with pytest.raises(pytest.fail.Exception, match=r"(?s)entry\.py sleep: still running after 2 s.*offline 1"):
        run_entry(script, "sleep", timeout=2)


def test_run_entry_finds_scripts_relative_to_the_repository():
    assert run_entry("tests/helpers/__init__.py").args[1] == str(ROOT / "tests" / "helpers" / "__init__.py")


def test_groups_are_every_folder_with_yaml():
    found = groups()
    assert {"method", "inference/judge", "training/judge", "engine", "trainer", "hydra/launcher", "experiment"} <= set(
        found
    )
    assert all(options(group) for group in found)
    assert sum(len(options(g)) for g in found) == len([p for p in CONF.rglob("*.yaml") if p.parent != CONF])


RUN_IF_TESTS = """
import pytest
from tests.helpers.run_if import RunIf

@RunIf(min_gpus=10**6)
def test_many_gpus(): pass

@RunIf(modules=("no_such_module_for_run_if",))
def test_missing_module(): pass

@RunIf(modules=("json",))
def test_present_module(): pass

@RunIf(requires_vllm=True, modules=("json",))
def test_vllm(): pass
"""

CONFTEST = """
import pytest
from tests.helpers.run_if import tag_requirements

@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    tag_requirements(items)
    for item in items:
        print("tags", item.name, sorted(m.name for m in item.iter_markers() if m.name != "skipif"))
"""


def test_run_if_skips_with_a_reason_and_tags_tests_before_selection(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makeini(f"[pytest]\npythonpath = {ROOT}\nmarkers =\n    vllm: v\n    gpu: g\n")
    pytester.makepyfile(test_run_if=RUN_IF_TESTS)
    # One subprocess (a pytest start costs seconds): -m "not gpu" only works if the gpu tag came first.
    result = pytester.runpytest_subprocess("-rs", "-s", "-m", "not gpu", "-p", "no:cacheprovider")
    vllm_installed = RunIf(requires_vllm=True).args == (False,)
    result.assert_outcomes(passed=1 + vllm_installed, skipped=2 - vllm_installed, deselected=1)
    result.stdout.fnmatch_lines(["*requires no_such_module_for_run_if*"])
    tags = [line for line in result.stdout.lines if line.startswith("tags ")]
    assert tags == [
        "tags test_many_gpus ['gpu']",
        "tags test_missing_module []",
        "tags test_present_module []",
        "tags test_vllm ['vllm']",
    ]


def test_run_if_names_the_missing_gpus():
    mark = RunIf(min_gpus=10**6)
    assert mark.args == (True,) and mark.kwargs["reason"].startswith("requires 1000000 GPUs (found ")


def test_run_if_without_requirements_runs():
    mark = RunIf()
    assert mark.name == "skipif" and mark.args == (False,)
    assert sys.modules["tests.helpers.run_if"].module_available("json")
