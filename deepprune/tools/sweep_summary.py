"""Summarise a threshold sweep (``deepprune prune -m method=deepprune method.threshold=0.25,0.5,0.75``).

    deepprune sweep-summary multirun/prune/DATE_TIME [--out DIR]

Writes DIR/sweep.md and DIR/sweep.png (accuracy and tokens per threshold) and prints the table.
"""

import argparse
import sys
from collections.abc import Sequence

from deepprune.commands.entry import run_tool
from deepprune.report.leaderboard import check_output_dir, load_runs, sweep_summary


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="deepprune sweep-summary", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("sweep_dir", help="a Hydra multirun directory")
    parser.add_argument("--out", default=None, help="defaults to the sweep directory itself")
    args = parser.parse_args(argv)
    out = check_output_dir(args.out or args.sweep_dir, "--out" if args.out else "sweep directory")
    print(sweep_summary(load_runs([args.sweep_dir]), out))


if __name__ == "__main__":
    sys.exit(run_tool(main))
