"""Run a command as users run it: ``deepprune leaderboard ...``, or a root script (``python prune.py ...``, a
recipe or benchmark script) in a subprocess of this interpreter, offline, with a timeout.

One runner for every test instead of a copy per file: the environment is the same everywhere, and a failing or
hanging run reports the command with the tails of its stdout and stderr.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Tests never reach a hub or W&B and never ask for a login; a developer's HYDRA_FULL_ERROR or W&B key must not
# change what a test sees (pass env={"HYDRA_FULL_ERROR": "1"} to test that mode).
TEST_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "WANDB_MODE": "offline",
    "WANDB_SILENT": "true",
    "TOKENIZERS_PARALLELISM": "false",
}
DROPPED = ("WANDB_API_KEY", "HYDRA_FULL_ERROR")
TAIL_CHARS = 4000


def entry_env(changes: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """This process's environment plus :data:`TEST_ENV`; ``changes`` set variables (``None`` removes one)."""
    env = {**os.environ, **TEST_ENV}
    for key in DROPPED:
        env.pop(key, None)
    for key, value in (changes or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def tail(text: str | bytes | None, chars: int = TAIL_CHARS) -> str:
    if text is None:
        return ""
    if isinstance(text, bytes):  # TimeoutExpired keeps what it captured as bytes
        text = text.decode(errors="replace")
    return text[-chars:]


def run_entry(
    script: str | os.PathLike[str],
    *args: str | os.PathLike[str],
    expect: int | None = 0,
    timeout: float = 600,
    cwd: str | os.PathLike[str] = ROOT,
    env: Mapping[str, str | None] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``script`` with ``args``; return the finished process.

    ``script``: ``"deepprune COMMAND"`` (the console script, run as ``python -m deepprune COMMAND``), ``"-m MODULE"``
    (e.g. a recipe script) or a file path (relative to the repository root, or absolute).

    ``expect`` is the exit code the test needs (``None``: the caller checks it); any other code fails the test
    with the tails of stdout and stderr, as does running past ``timeout`` seconds.
    """
    if str(script).startswith(("deepprune ", "-m ")):
        module = str(script).removeprefix("-m ").split()
        command = [sys.executable, "-m", *module, *map(str, args)]
        shown = " ".join([str(script), *map(str, args)])
    else:
        path = Path(script) if Path(script).is_absolute() else ROOT / script
        command = [sys.executable, str(path), *map(str, args)]
        shown = " ".join([Path(path).name, *map(str, args)])
    try:
        result = subprocess.run(
            command, cwd=cwd, env=entry_env(env), capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as err:
        pytest.fail(
            f"{shown}: still running after {timeout:g} s\n"
            f"--- stdout (tail) ---\n{tail(err.stdout)}\n--- stderr (tail) ---\n{tail(err.stderr)}",
            pytrace=False,
        )
    if expect is not None and result.returncode != expect:
        pytest.fail(
            f"{shown}: exit code {result.returncode}, expected {expect}\n"
            f"--- stdout (tail) ---\n{tail(result.stdout)}\n--- stderr (tail) ---\n{tail(result.stderr)}",
            pytrace=False,
        )
    return result
