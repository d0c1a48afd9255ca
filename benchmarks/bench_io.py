"""Reading one large trace record: time and peak memory of ``read_problems``.

    python benchmarks/bench_io.py                       # 512 traces x 25k tokens (~97 MB on one line)
    python benchmarks/bench_io.py --traces 64 --tokens 4000

Writes a synthetic one-record JSONL (text plus per-token confidences with two decimals, like
``generate.py confs_digits=2``), then reads it in a fresh child process and prints the read time, the
child's peak RSS, and the same child's RSS after importing only (the baseline), so
``peak - baseline`` is what the record costs.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

CHILD = """
import resource, sys, time
from deepprune.data.io import read_problems
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
(problem,) = read_problems(sys.argv[1])
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(seconds, baseline * 1024, peak * 1024, len(problem.traces))
"""


def write_record(path: Path, traces: int, tokens: int, seed: int = 0) -> None:
    """Written a trace at a time: a child inherits its parent's peak RSS, so this process must stay small."""
    rng = np.random.default_rng(seed)
    words = " ".join(["st"] * (tokens // 4))
    with open(path, "w") as handle:
        handle.write('{"id": "big", "question": "q", "gold": "1", "traces": [')
        for t in range(traces):
            confs = np.round(rng.normal(12.0, 1.5, tokens), 2).tolist()
            trace = {
                "text": f"{words} the answer is {t % 3}",
                "answer": str(t % 3),
                "num_tokens": tokens,
                "confs": confs,
            }
            handle.write(("," if t else "") + json.dumps(trace))
        handle.write("]}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--traces", type=int, default=512)
    parser.add_argument("--tokens", type=int, default=25_000)
    parser.add_argument("--workdir", default=tempfile.gettempdir())
    args = parser.parse_args()
    path = Path(args.workdir) / f"bench_io_{args.traces}x{args.tokens}.jsonl"
    if not path.exists():
        write_record(path, args.traces, args.tokens)
    size = path.stat().st_size
    out = subprocess.run([sys.executable, "-c", CHILD, str(path)], check=True, capture_output=True, text=True)
    seconds, baseline, peak, traces = out.stdout.split()
    record_cost = int(peak) - int(baseline)
    print(
        f"{path.name}: one record of {size / 1e6:.1f} MB ({traces} traces x {args.tokens} tokens) read in "
        f"{float(seconds):.2f} s; peak RSS {int(peak) / 1e6:.0f} MB, of which {record_cost / 1e6:.0f} MB for the "
        f"record ({record_cost / size:.1f}x its size on disk)"
    )


if __name__ == "__main__":
    main()
