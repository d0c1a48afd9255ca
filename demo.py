"""The embedded demo: ``python demo.py [engine=vllm] [overrides...]``.

Runs cons@N, DeepConf-low, DeepConf-high and DeepPrune on the shipped demo evaluation traces (replay;
``engine=vllm`` reruns them live with the tiny reasoner), prints the leaderboard and writes
``leaderboard.md``/``.csv`` and ``pareto.png`` into the run directory.
"""

from pathlib import Path

from hydra import compose
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from deepprune.cli import entry
from deepprune.report.leaderboard import write_leaderboard
from deepprune.runner import run_prune


@entry("demo")
def main(cfg: DictConfig) -> None:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    user = list(HydraConfig.get().overrides.task)
    if HydraConfig.get().runtime.choices.engine != "replay" and not any(o.startswith("model=") for o in user):
        user.append(f"model={cfg.live_model}")
    for method in cfg.methods:
        extra = list(cfg.method_overrides[method]) if method in cfg.method_overrides else []
        method_cfg = compose("demo", overrides=[*user, f"method={method}", *extra])
        run_prune(method_cfg, run_dir / method)
    print(write_leaderboard([run_dir / m for m in cfg.methods], run_dir))
    print(f"leaderboard.md, leaderboard.csv and pareto.png written to {run_dir}")


if __name__ == "__main__":
    main()
