"""The ``deepprune`` console script: ``deepprune COMMAND [ARGS...]``.

Hydra commands take Hydra overrides (``key=value``, ``group=option``, ``-m`` sweeps, ``--help``); tools take
``--flags`` (``deepprune TOOL --help``). Each command is one module with a ``main()``; this table is the only
place that lists them.
"""

from __future__ import annotations

import importlib
import sys

from deepprune.commands.entry import run_tool

# name -> (module, whether it is a Hydra app, one line for `deepprune --help`)
COMMANDS: dict[str, tuple[str, bool, str]] = {
    "demo": ("deepprune.commands.demo", True, "the embedded demo: every method on the shipped traces, one leaderboard"),
    "prune": ("deepprune.commands.prune", True, "evaluate a pruning method on a trace file or live"),
    "train": ("deepprune.commands.train", True, "train a judge on trace-prefix pairs"),
    "eval-judge": ("deepprune.commands.eval_judge", True, "measure a judge on labelled prefix pairs"),
    "generate": ("deepprune.commands.generate", True, "sample a trace dataset with vLLM"),
    "serve": ("deepprune.serving.server", True, "an OpenAI-compatible server doing pruned self-consistency"),
    "leaderboard": ("deepprune.tools.leaderboard", False, "one table and Pareto plot from several run directories"),
    "sweep-summary": ("deepprune.tools.sweep_summary", False, "a Hydra multirun's runs as one table and plot"),
    "redundancy": ("deepprune.tools.redundancy", False, "how redundant a trace file is, and the prefix heuristics"),
    "heldout": ("deepprune.tools.heldout", False, "write the held-out problems of a train run's split"),
    "judge-ablation": ("deepprune.tools.judge_ablation", False, "train/compare judge recipe variants"),
    "payoff": ("deepprune.tools.payoff", False, "will DeepPrune pay off? delta-acc@budget against judge AUROC"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: deepprune COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<{width}}  {help_line}" for name, (_, _, help_line) in COMMANDS.items()]
    lines += ["", "deepprune COMMAND --help shows a command's options (Hydra commands: its config groups)."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    if not args or args[0] in ("-h", "--help"):
        print(usage())
        sys.exit(0 if args else 2)
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"error: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        sys.exit(2)
    module_name, hydra_app, _ = COMMANDS[name]
    module = importlib.import_module(module_name)
    if hydra_app:
        # Hydra parses sys.argv; Lightning's DDP launcher reruns sys.argv[0] once per rank, so argv[0] is the
        # command's own module file (each ends in `if __name__ == "__main__": main()`).
        sys.argv = [module.__file__, *rest]
        module.main()
    else:
        sys.exit(run_tool(lambda: module.main(rest)))
