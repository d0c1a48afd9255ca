"""Write the demo benchmark: problems of the held-out ``train`` / ``test`` splits of the synthetic task.

    python -m experiments.demo.make_benchmark            # deepprune/assets/demo_benchmark/{train,test}.jsonl

Same record format as the real benchmarks (``index``, ``question``, ``true_answer``). The reasoner never
trains on these splits (see ``task.SPLIT_BUCKETS``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from experiments.demo.task import TaskConfig, benchmark_rows, generate_problems, write_jsonl_atomic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out-dir", type=Path, default=Path("deepprune/assets/demo_benchmark"))
    parser.add_argument("--num-train", type=int, default=200, help="problems for judge training")
    parser.add_argument("--num-test", type=int, default=50, help="problems for evaluation")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    config = TaskConfig()
    # Test ids follow the training ids, so a problem id names one problem across both splits.
    for split, n, first in (("train", args.num_train, 0), ("test", args.num_test, args.num_train)):
        path = args.out_dir / f"{split}.jsonl"
        write_jsonl_atomic(path, benchmark_rows(generate_problems(n, split, args.seed, config), first))
        print(f"wrote {n} problems to {path}")


if __name__ == "__main__":
    main()
