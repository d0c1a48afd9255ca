"""Shared fixtures: small trace files written by the tests themselves (never the dev data)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
# Offline everywhere: tests never reach a hub, and W&B never asks for a login.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
# vLLM on CPU in tests: in-process engine (fast start, no spawned workers) and a 1 GiB KV cache. Set here,
# before any test module imports vLLM; subprocesses (prune.py, generate.py, demo.py) inherit them.
os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")


@pytest.fixture
def repo_root() -> Path:
    return ROOT
