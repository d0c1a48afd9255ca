"""Time the answer labelling of a trace file, without the on-disk memo (a fresh machine's cost).

    python benchmarks/bench_labelling.py /work/shared/data/traces/math_gpt35_dev.jsonl.gz
    python benchmarks/bench_labelling.py FILE --workers 2
    python benchmarks/bench_labelling.py FILE --limit 500 --extractor boxed --equivalence math

Labels every problem as judge training does (``label_problems``, which ``build_pairs`` calls: one
``AnswerChecker.group`` per problem over its answered traces) with ``DEEPPRUNE_ANSWER_CACHE=off``, in one
process or ``--workers`` processes, and prints problems, traces, distinct answers, answer comparisons,
time-outs (comparisons that ran out of time, counted as different answers) and seconds (reading and
labelling apart; CPU seconds of the labelling process too, which a loaded machine does not inflate). Records
the file cannot use are skipped and counted, as ``data.on_error=skip``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

# Before deepprune is imported: the memo is opened on first use, and this measures a run without one.
os.environ["DEEPPRUNE_ANSWER_CACHE"] = "off"

from deepprune.data.answers import AnswerChecker  # noqa: E402
from deepprune.data.io import ReadStats, read_problems  # noqa: E402
from deepprune.data.pairs import answered_traces, label_problems  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", type=Path, help="trace file (JSONL, JSONL.gz or Parquet)")
    parser.add_argument("--extractor", default="boxed", choices=AnswerChecker.EXTRACTORS)
    parser.add_argument("--equivalence", default="math", choices=AnswerChecker.EQUIVALENCES)
    parser.add_argument("--limit", type=int, default=None, help="label only the first N problems")
    parser.add_argument("--workers", type=int, default=1, help="labelling processes (default 1, as train.py)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    checker = AnswerChecker(args.extractor, args.equivalence)
    start = time.monotonic()
    read = ReadStats()
    problems = list(read_problems(args.file, "skip", read, checker.extract))[: args.limit]
    read_seconds = time.monotonic() - start

    start, cpu_start = time.monotonic(), time.process_time()
    label_problems(problems, checker, args.workers, progress="labelling")
    label_seconds, cpu_seconds = time.monotonic() - start, time.process_time() - cpu_start
    traces = sum(len(p.traces) for p in problems)
    distinct = sum(len({t.answer for t in answered_traces(p)}) for p in problems)

    rows = [
        ("problems", f"{len(problems):,}" + (f" ({read.skipped} records skipped)" if read.skipped else "")),
        ("traces", f"{traces:,}"),
        ("distinct answers", f"{distinct:,}"),
        ("comparisons", f"{checker.stats.comparisons:,}"),
        ("time-outs", f"{checker.stats.timeouts:,}"),
        ("seconds", f"{label_seconds:.1f} labelling (+ {read_seconds:.1f} reading)"),
        ("workers", f"{args.workers}" + ("" if args.workers > 1 else f" ({cpu_seconds:.1f} CPU seconds)")),
    ]
    for name, value in rows:
        print(f"{name:>17}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
