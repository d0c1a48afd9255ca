"""``deepprune serve`` under load: the same requests sent by concurrent clients, then one at a time.

    python benchmarks/bench_serve.py [--requests 64] [--concurrency 16] [--n 16] [--max-tokens 384]
                                     [--method deepprune] [--url http://127.0.0.1:8000]

Without ``--url`` it starts ``python serve.py`` (the shipped tiny reasoner and judge on vLLM-on-CPU) on a free
port with ``limits.max_concurrent_requests=--concurrency``, and stops it at the end. The requests are the chat
questions of the demo's test split (the first ``--requests``, cycled), each with ``--n`` traces and ``--method``;
one warm-up request comes first. Prints, per phase: errors, wall seconds, requests/s, p50/p95 latency, generated
tokens (``usage.completion_tokens``) and tokens/s, accuracy against the split's answers; then how much longer the
one-at-a-time phase took. Exits 1 if any request failed.
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from deepprune.conf import CONFIG_DIR
from omegaconf import OmegaConf

from deepprune import asset_path
from deepprune.config_checks import check_int
from deepprune.instantiate import build

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 600
# The demo benchmark's answer rules: how serve.py's default config reads and votes answers.
CHECKER = build(OmegaConf.load(CONFIG_DIR / "benchmark" / "demo.yaml").answer)


@dataclass
class Outcome:
    seconds: float
    tokens: int = 0
    correct: bool = False
    error: str | None = None


@contextmanager
def serve_subprocess(
    overrides: list[str], run_dir: Path, env: dict[str, str] | None = None, timeout: float = START_TIMEOUT_S
) -> Iterator[str]:
    """``python serve.py`` with ``overrides`` on a free port of 127.0.0.1, once it answers ``/health``; its URL.

    The log goes to ``run_dir/server.log`` (its tail is in the error if the server exits or does not answer within
    ``timeout`` seconds); on exit the server gets SIGINT (a clean engine shutdown), then SIGKILL after 60 s.
    The load test and tests/test_serve.py start their servers through this.
    """
    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log_path = run_dir / "server.log"
    log = log_path.open("w")
    command = [sys.executable, str(ROOT / "serve.py"), f"port={port}", f"hydra.run.dir={run_dir}", *overrides]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"serve.py exited with {process.returncode}:\n{log_path.read_text()[-4000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"serve.py did not answer within {timeout:g} s:\n{log_path.read_text()[-4000:]}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(1)
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@contextmanager
def local_server(concurrency: int) -> Iterator[str]:
    """The load test's server: the defaults, ``concurrency`` requests at a time; its log in a temporary directory."""
    run_dir = Path(tempfile.mkdtemp(prefix="bench_serve_"))
    with serve_subprocess([f"limits.max_concurrent_requests={concurrency}"], run_dir) as url:
        print(f"server up on {url} (log: {run_dir / 'server.log'})", flush=True)
        yield url


def questions(count: int) -> list[tuple[str, str]]:
    """(question, answer) of the demo test split, cycled to ``count``."""
    lines = Path(asset_path("demo_benchmark/test.jsonl")).read_text().splitlines()
    records = [json.loads(line) for line in lines if line.strip()]
    return [(records[i % len(records)]["question"], records[i % len(records)]["true_answer"]) for i in range(count)]


def phase(url: str, requests: list[tuple[str, str]], workers: int, args: argparse.Namespace) -> tuple[list, float]:
    """Send ``requests`` with ``workers`` clients at a time; the outcomes and the wall seconds of the phase."""
    from openai import OpenAI

    client = OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=900)

    def ask(item: tuple[str, str]) -> Outcome:
        question, gold = item
        started = time.perf_counter()
        try:
            response = client.chat.completions.create(
                model="tiny_reasoner",
                messages=[{"role": "user", "content": question}],
                n=args.n,
                max_tokens=args.max_tokens,
                extra_body={"deepprune": {"method": args.method}},
            )
        except Exception as err:  # counted and shown, never hidden: a load test reports every failure
            return Outcome(time.perf_counter() - started, error=f"{type(err).__name__}: {err}")
        seconds = time.perf_counter() - started
        correct = CHECKER.is_correct(response.deepprune["answer"], gold)
        return Outcome(seconds, response.usage.completion_tokens, correct)

    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        outcomes = list(pool.map(ask, requests))
    return outcomes, time.perf_counter() - started


def row(name: str, outcomes: list[Outcome], wall: float) -> str:
    ok = [o for o in outcomes if o.error is None]
    p50, p95 = np.percentile([o.seconds for o in ok], [50, 95]) if ok else (float("nan"), float("nan"))
    tokens = sum(o.tokens for o in ok)
    accuracy = np.mean([o.correct for o in ok]) if ok else float("nan")
    return (
        f"| {name} | {len(outcomes)} | {len(outcomes) - len(ok)} | {wall:.1f} | {len(outcomes) / wall:.2f} | "
        f"{p50:.2f} | {p95:.2f} | {tokens:,} | {tokens / wall:,.0f} | {accuracy:.2f} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=384)
    parser.add_argument("--method", default="deepprune")
    parser.add_argument("--url", default=None, help="a running server (default: start serve.py here)")
    args = parser.parse_args(argv)
    for name in ("requests", "concurrency", "n", "max_tokens"):
        check_int(f"--{name.replace('_', '-')}", getattr(args, name))
    requests = questions(args.requests)

    with local_server(args.concurrency) if args.url is None else nullcontext(args.url.rstrip("/")) as url:
        phase(url, requests[:1], 1, args)  # warm-up: first judge and engine calls
        concurrent, concurrent_s = phase(url, requests, args.concurrency, args)
        sequential, sequential_s = phase(url, requests, 1, args)

    print(f"\n{args.requests} requests, n={args.n}, max_tokens={args.max_tokens}, method={args.method}\n")
    print("| clients | requests | errors | wall s | req/s | p50 s | p95 s | generated tokens | tokens/s | accuracy |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(row(f"{args.concurrency} concurrent", concurrent, concurrent_s))
    print(row("1 (one at a time)", sequential, sequential_s))
    print(f"\none at a time took {sequential_s / concurrent_s:.2f}x the concurrent wall time")
    errors = [o.error for o in concurrent + sequential if o.error is not None]
    for error in errors[:5]:
        print(f"error: {error}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
