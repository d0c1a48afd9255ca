"""Test environment (offline, in-process vLLM on CPU), the ``RunIf`` selection markers, and shared fixtures:
entry configs composed once, tiny models built once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from omegaconf import DictConfig

ROOT = Path(__file__).resolve().parents[1]
# Offline everywhere: tests never reach a hub, and W&B never asks for a login.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
# No on-disk memo of answer comparisons: tests count math-verify work and must not depend on earlier runs.
os.environ.setdefault("DEEPPRUNE_ANSWER_CACHE", "off")
# vLLM on CPU in tests: in-process engine (fast start, no spawned workers) and a 1 GiB KV cache. Set here,
# before any test module imports vLLM; subprocesses (prune.py, generate.py, demo.py) inherit them.
os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")

from tests.helpers.configs import compose_entry, entries  # noqa: E402 - after the environment above
from tests.helpers.run_if import tag_requirements  # noqa: E402

pytest_plugins = ["pytester"]  # tests/test_helpers.py runs small test files through pytest itself


@pytest.hookimpl(tryfirst=True)  # before -m selects: RunIf(requires_vllm=True) tests are `vllm` tests
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    tag_requirements(items)


@pytest.fixture
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def entry_configs() -> dict[str, DictConfig]:
    """Every entry config (prune, train, eval_judge, generate, demo) composed with its defaults and Hydra node."""
    return {entry: compose_entry(entry, hydra=True) for entry in entries()}


@pytest.fixture(scope="session")
def tiny_test_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    """``model=tiny_test`` built once: pass ``model.path=`` this directory and the builder finds it there."""
    from deepprune.tiny_models import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny_test"))


@pytest.fixture(scope="session")
def tiny_judge_base(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny random Qwen3 with the bundled MiniLM tokenizer (what ``judge=tiny_qwen3`` generates), built once."""
    from tests.helpers.training import tiny_qwen3_dir

    return tiny_qwen3_dir(tmp_path_factory.mktemp("tiny_judge") / "qwen3")
