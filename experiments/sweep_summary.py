"""Summarise a threshold sweep (``python prune.py -m method=deepprune method.threshold=0.25,0.5,0.75``).

    python experiments/sweep_summary.py multirun/prune/DATE_TIME [--out DIR]

Writes DIR/sweep.md and DIR/sweep.png (accuracy and tokens per threshold) and prints the table.
"""

import argparse
import logging
from collections.abc import Sequence

from deepprune.cli import run_guarded
from deepprune.report.leaderboard import check_output_dir, load_runs, sweep_summary


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep_dir", help="a Hydra multirun directory")
    parser.add_argument("--out", default=None, help="defaults to the sweep directory itself")
    args = parser.parse_args(argv)
    out = check_output_dir(args.out or args.sweep_dir, "--out" if args.out else "sweep directory")
    print(sweep_summary(load_runs([args.sweep_dir]), out))


if __name__ == "__main__":
    # As the other entry scripts: a user error (no runs, a file as --out) is one line and exit code 2.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    run_guarded(main)
