"""Build check: voting must still pay beyond DeepPrune's budget on the demo's evaluation traces.

    python -m experiments.demo.check_curve CONS_METRICS DEEPPRUNE_METRICS [--min-rise 0.06]

Reads a cons run with its cons@n curve (``method.curve=true``) and a DeepPrune run on the same traces; exits 1
(naming the figures) when the curve rises by less than ``--min-rise`` from DeepPrune's tokens to cons@N: on a flat
curve no method can show a gain larger than its noise.
"""

from __future__ import annotations

import argparse
import json
import sys

from deepprune.commands.entry import run_guarded
from deepprune.report.budget import interpolate_accuracy, rise_beyond


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cons", help="metrics.json of prune.py method=cons method.curve=true")
    parser.add_argument("deepprune", help="metrics.json of the DeepPrune run on the same traces")
    parser.add_argument("--min-rise", type=float, default=0.06)
    args = parser.parse_args(argv)
    with open(args.cons, encoding="utf-8") as handle:
        cons = json.load(handle)
    with open(args.deepprune, encoding="utf-8") as handle:
        deepprune = json.load(handle)
    if "curve" not in cons:
        raise ValueError(f"{args.cons}: no cons@n curve (run prune.py method=cons method.curve=true)")
    if cons.get("problem_set") != deepprune.get("problem_set"):
        raise ValueError(f"{args.cons} and {args.deepprune} cover different problems")
    tokens = float(deepprune["total_tokens"])
    rise = rise_beyond(cons["curve"], tokens)
    top = max(cons["curve"], key=lambda p: p["n"])
    at_budget = 100 * interpolate_accuracy(cons["curve"], tokens)
    print(
        f"cons@n curve: {at_budget:.1f} at DeepPrune's {tokens:,.0f} tokens, {100 * top['accuracy']:.1f} at "
        f"cons@{top['n']}: rise {100 * rise:+.1f} pt (required >= {100 * args.min_rise:g})"
    )
    if rise < args.min_rise:
        print("error: the cons@n curve is flat beyond DeepPrune's budget: not shipping these traces", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(run_guarded(main))
