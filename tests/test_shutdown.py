"""SIGTERM to generate.py shuts the multiprocessing vLLM engine down and keeps the finished problems."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from deepprune.data.io import read_problems
from tests.helpers.run_entry import entry_env
from tests.helpers.run_if import RunIf

ROOT = Path(__file__).resolve().parents[1]
# The CPU preset (float32, eager, small KV cache, 32-token blocks) with a short context for a fast start.
CPU = ["engine=vllm_cpu", "engine.max_model_len=512"]
N = 8


@RunIf(requires_vllm=True)
def test_sigterm_stops_generate_and_its_engine_process(tmp_path):
    bench, out = tmp_path / "bench.jsonl", tmp_path / "traces.jsonl"
    # Enough problems that the run is still generating when the first line lands.
    rows = [{"index": i, "question": f"What is {i}+{i}?", "true_answer": str(2 * i)} for i in range(40)]
    bench.write_text("".join(json.dumps(r) + "\n" for r in rows))
    # The multiprocessing engine (a spawned EngineCore process) is the one that used to outlive a SIGTERM.
    env = entry_env({"VLLM_ENABLE_V1_MULTIPROCESSING": "1", "VLLM_CPU_KVCACHE_SPACE": "1"})
    command = [
        sys.executable, str(ROOT / "generate.py"), "model=tiny_test", "model.max_tokens=64",
        "benchmark=aime24", f"benchmark.path={bench}", f"n={N}", f"out={out}", *CPU,
        f"hydra.run.dir={tmp_path / 'run'}",
    ]  # fmt: skip
    with open(tmp_path / "stderr.txt", "w") as stderr:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    children: list[psutil.Process] = []
    try:
        # Start-up (imports, engine, worker) takes 20-80 s on a busy 2-core machine.
        deadline = time.monotonic() + 180
        while not (out.exists() and out.read_bytes().count(b"\n") >= 1):
            assert proc.poll() is None, (tmp_path / "stderr.txt").read_text()[-3000:]
            assert time.monotonic() < deadline, "generate.py wrote no problem within 180 s"
            children = psutil.Process(proc.pid).children(recursive=True)
            time.sleep(0.2)
        children = psutil.Process(proc.pid).children(recursive=True)
        assert any("EngineCore" in p.name() for p in children), [p.name() for p in children]
        proc.send_signal(signal.SIGTERM)
        returncode = proc.wait(timeout=30)
        _, alive = psutil.wait_procs(children, timeout=10)
        assert not alive, f"processes left running after SIGTERM: {[(p.pid, p.name()) for p in alive]}"
        assert returncode == 128 + signal.SIGTERM, (tmp_path / "stderr.txt").read_text()[-3000:]
        assert "interrupted (SIGTERM)" in (tmp_path / "stderr.txt").read_text()
        problems = list(read_problems(out))  # every line written is a complete, valid record
        assert 1 <= len(problems) < len(rows)
        assert all(len(p.traces) == N for p in problems)
    finally:
        # Leave nothing behind if an assertion failed half-way.
        if proc.poll() is None:
            proc.kill()
        for process in children:
            if process.is_running():
                process.kill()


DEFERRED = """
import os, signal, sys
from deepprune.commands.entry import run_guarded
from deepprune.interrupts import deferred_interrupts, raise_if_interrupted

def main():
    steps = []
    with deferred_interrupts():
        os.kill(os.getpid(), signal.SIGTERM)  # held back: the "engine step" completes
        steps.append("step finished")
        print(*steps, flush=True)
        raise_if_interrupted()
        print("not reached", flush=True)

run_guarded(main)
"""


def test_signals_inside_deferred_blocks_wait_for_a_safe_point(tmp_path):
    result = subprocess.run([sys.executable, "-c", DEFERRED], capture_output=True, text=True, timeout=60)
    assert result.stdout == "step finished\n"
    assert result.returncode == 128 + signal.SIGTERM
    assert "interrupted (SIGTERM)" in result.stderr and "Traceback" not in result.stderr
