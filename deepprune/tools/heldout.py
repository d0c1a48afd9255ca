"""Write the problems of one split of a finished train.py run to a trace file, for prune.py replay on them.

    deepprune heldout RUN_DIR OUT.jsonl.gz [--split test] [--limit N]
    deepprune prune data.traces=OUT.jsonl.gz benchmark=math method=deepprune judge=trained judge.path=RUN_DIR/judge

The split is rebuilt from the run's saved config (``RUN_DIR/.hydra/config.yaml``: same files, fractions, groups and
seeds as training used), so end-to-end figures are measured on problems the judge never saw.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from omegaconf import OmegaConf

from deepprune.build import build_checker
from deepprune.commands.entry import run_tool
from deepprune.data.io import read_problems, write_problems
from deepprune.training.datamodule import split_problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="deepprune heldout", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run_dir", type=Path, help="a train.py run directory")
    parser.add_argument("out", type=Path, help="trace file to write (.jsonl, .jsonl.gz or .parquet)")
    parser.add_argument("--split", choices=["train", "val", "test"], default="test")
    parser.add_argument("--limit", type=int, default=None, help="only the first N problems of the split")
    args = parser.parse_args(argv)
    config = args.run_dir / ".hydra" / "config.yaml"
    if not config.is_file():
        parser.error(f"{config} not found: RUN_DIR must be a train.py run directory")
    cfg = OmegaConf.load(config)
    data, checker = cfg.data, build_checker(cfg)
    # Answers extracted as training extracted them: the written file states each trace's answer (or null).
    problems = split_problems(data, lambda path: list(read_problems(path, data.on_error, None, checker.extract)))
    problems = problems[args.split]
    if not problems:
        parser.error(f"{args.run_dir}: the {args.split} split is empty (set data.test or data.test_fraction)")
    written = write_problems(args.out, problems[: args.limit])
    print(f"{written} {args.split} problems of {args.run_dir} -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(run_tool(main))
