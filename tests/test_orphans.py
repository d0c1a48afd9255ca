"""The multiprocessing vLLM engine's processes die with the script (even on ``kill -9``), and Ctrl-C prints one line.

Both run ``generate.py`` with ``VLLM_ENABLE_V1_MULTIPROCESSING=1`` (an EngineCore process, its Worker and a
multiprocessing resource tracker) and strike once the first problem was written; see
``deepprune/engines/process_guard.py``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from tests.helpers.run_entry import entry_env
from tests.helpers.run_if import RunIf

ROOT = Path(__file__).resolve().parents[1]
# The CPU preset with a short context for a fast start (as in test_shutdown.py).
CPU = ["engine=vllm_cpu", "engine.max_model_len=512"]


@dataclass
class Run:
    proc: subprocess.Popen
    stdout: Path
    stderr: Path
    descendants: list[psutil.Process] = field(default_factory=list)

    def log(self) -> str:
        return self.stderr.read_text()[-3000:]


def alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    """The processes still running; a zombie holds no memory and waits only for its reaper."""
    out = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                out.append(process)
        except psutil.NoSuchProcess:
            pass
    return out


def describe(processes: list[psutil.Process]) -> list[tuple[int, str, list[str]]]:
    out = []
    for process in processes:
        try:
            out.append((process.pid, process.name(), process.cmdline()[:4]))
        except psutil.Error:
            out.append((process.pid, "?", []))
    return out


@contextmanager
def generating(tmp_path: Path) -> Iterator[Run]:
    """``generate.py`` in its own session (its own process group), once it wrote a problem; killed at the end."""
    bench, out = tmp_path / "bench.jsonl", tmp_path / "traces.jsonl"
    # Enough problems that the run is still generating when the first line lands.
    rows = [{"index": i, "question": f"What is {i}+{i}?", "true_answer": str(2 * i)} for i in range(40)]
    bench.write_text("".join(json.dumps(r) + "\n" for r in rows))
    env = entry_env({"VLLM_ENABLE_V1_MULTIPROCESSING": "1", "VLLM_CPU_KVCACHE_SPACE": "1"})
    command = [
        sys.executable, str(ROOT / "generate.py"), "model=tiny_test", "model.max_tokens=64",
        "benchmark=aime24", f"benchmark.path={bench}", "n=8", f"out={out}", *CPU,
        f"hydra.run.dir={tmp_path / 'run'}",
    ]  # fmt: skip
    run = Run(None, tmp_path / "stdout.txt", tmp_path / "stderr.txt")  # type: ignore[arg-type]
    with open(run.stdout, "w") as stdout, open(run.stderr, "w") as stderr:
        run.proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=stdout, stderr=stderr, start_new_session=True)
    try:
        # Start-up (imports, engine, worker) takes 20-80 s on a busy 2-core machine.
        deadline = time.monotonic() + 180
        while not (out.exists() and out.read_bytes().count(b"\n") >= 1):
            assert run.proc.poll() is None, run.log()
            assert time.monotonic() < deadline, "generate.py wrote no problem within 180 s"
            time.sleep(0.2)
        run.descendants = psutil.Process(run.proc.pid).children(recursive=True)
        names = [p.name() for p in run.descendants]
        assert any("EngineCore" in n for n in names) and any("Worker" in n for n in names), names
        yield run
    finally:
        # Never leak a process, whatever failed: the script, everything it started, and anything started since.
        try:
            run.descendants += psutil.Process(run.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            pass
        if run.proc.poll() is None:
            run.proc.kill()
        run.proc.wait()
        for process in alive(run.descendants):
            process.kill()


@RunIf(requires_vllm=True)
def test_kill_9_leaves_no_engine_process(tmp_path):
    with generating(tmp_path) as run:
        run.proc.kill()  # SIGKILL: no finally block, no atexit, no shutdown message to the engine
        run.proc.wait()
        deadline = time.monotonic() + 30
        while (survivors := alive(run.descendants)) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not survivors, f"alive 30 s after kill -9 of generate.py: {describe(survivors)}"


@RunIf(requires_vllm=True)
def test_ctrl_c_prints_one_line_and_stops_the_engine(tmp_path):
    with generating(tmp_path) as run:
        os.killpg(run.proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole foreground group
        returncode = run.proc.wait(timeout=60)
        _, survivors = psutil.wait_procs(alive(run.descendants), timeout=10)
        assert returncode == 128 + signal.SIGINT, run.log()
        assert not alive(survivors), f"alive after Ctrl-C: {describe(alive(survivors))}"
        stderr, stdout = run.stderr.read_text(), run.stdout.read_text()
        assert "interrupted (SIGINT): stopped cleanly" in stderr
        # Neither the engine's processes nor the client report an error (vLLM logs to stdout under Hydra).
        for text in (stderr, stdout):
            assert "Traceback" not in text and "EngineDeadError" not in text, text[-3000:]
        # Only the script took the SIGINT: the engine was stopped by it, never by the signal (which also made a
        # Worker exit without unlinking its shared memory: a resource_tracker warning).
        assert "received signal=SIGINT" not in stdout, stdout[-3000:]
        assert "leaked shared_memory" not in stderr, stderr[-3000:]
