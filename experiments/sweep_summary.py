"""Summarise a threshold sweep (``python prune.py -m method=deepprune method.threshold=0.25,0.5,0.75``).

    python experiments/sweep_summary.py multirun/prune/DATE_TIME [--out DIR]

Writes DIR/sweep.md and DIR/sweep.png (accuracy and tokens per threshold) and prints the table.
"""

import argparse
from pathlib import Path

from deepprune.report.leaderboard import load_runs, sweep_summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep_dir", help="a Hydra multirun directory")
    parser.add_argument("--out", default=None, help="defaults to the sweep directory itself")
    args = parser.parse_args()
    print(sweep_summary(load_runs([args.sweep_dir]), Path(args.out or args.sweep_dir)))


if __name__ == "__main__":
    main()
