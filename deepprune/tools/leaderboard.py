"""Render the leaderboard from run directories.

    deepprune leaderboard RUN_DIR... [--out DIR]

Writes DIR/leaderboard.md (least tokens bold, best accuracy underlined), DIR/leaderboard.csv and
DIR/pareto.png; prints the Markdown table.

Include a cons run with its cons@n curve (``deepprune prune method=cons method.curve=true ...`` on the same
traces) to compare every method at equal budget: ``Δacc@budget`` (accuracy minus the curve's at the same
tokens) and ``tokens vs matched cons`` (tokens ÷ those of the cheapest cons@n as accurate, within 0.5 pt);
the plot then draws the curve, and a DeepPrune run with ``judge=oracle`` as the ceiling any judge can reach.

``judge tok / saved tok`` (shown once a DeepPrune run is in): a DeepPrune row's ``judge_tokens`` ÷ (the tokens of
the full-budget cons run on the same traces − the row's ``total_tokens``), what its judge reads per reasoning
token pruned; "–" when there is no cons run to compare with or the row saved nothing.
"""

import argparse
import sys
from collections.abc import Sequence

from deepprune.commands.entry import run_tool
from deepprune.report.leaderboard import check_output_dir, write_leaderboard


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="deepprune leaderboard", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("runs", nargs="+", help="prune.py run directories (searched recursively for metrics.json)")
    parser.add_argument("--out", default="outputs/leaderboard", help="where the table and plot go")
    args = parser.parse_args(argv)
    # Before reading any run: a mistyped --out should not cost the user the wait (nor end in a traceback).
    check_output_dir(args.out, "--out")
    print(write_leaderboard(args.runs, args.out, "--out"))


if __name__ == "__main__":
    sys.exit(run_tool(main))
