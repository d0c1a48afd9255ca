"""``deepprune demo``: the embedded demo, ``deepprune demo [engine=vllm_cpu] [overrides...]``.

Runs the methods of ``conf/experiment/demo.yaml`` (cons@N with its cons@n curve, DeepConf-low, DeepConf-high,
DeepPrune with the shipped judge under both finishing rules, DeepPrune with the oracle judge) on the shipped
demo evaluation traces (replay; ``engine=vllm``/``vllm_cpu`` reruns them live with the tiny reasoner, without
the oracle, which needs stored answers), prints the leaderboard and writes ``leaderboard.md``/``.csv`` and
``pareto.png`` into the run directory.
"""

from pathlib import Path

from hydra import compose
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from deepprune.commands.entry import entry
from deepprune.report.leaderboard import write_leaderboard
from deepprune.runner import run_prune


@entry("demo")
def main(cfg: DictConfig) -> None:
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    user = list(hydra_cfg.overrides.task)
    live = hydra_cfg.runtime.choices.engine != "replay"
    if live and not any(o.startswith("model=") for o in user):
        # A live engine brings its own default model (tiny_test); the demo's is its reasoner. Hydra cannot
        # override a group that only the chosen engine adds, so the config is composed once more with it.
        cfg = compose("demo", overrides=[*user, f"model={cfg.live_model}"])
    unknown = [name for name in cfg.methods if name not in cfg.method_configs]
    if unknown:
        raise ValueError(f"methods: {unknown} not in method_configs ({', '.join(cfg.method_configs)})")
    names = list(cfg.methods)
    if live:
        skipped = [name for name in names if name in cfg.replay_only]
        if skipped:
            print(f"skipping {', '.join(skipped)}: replay only (its judge reads the stored answers)")
        names = [name for name in names if name not in cfg.replay_only]
    for name in names:
        run_cfg = cfg.copy()
        run_cfg.method = cfg.method_configs[name]  # the run's config (metrics.json, loggers) names what it ran
        if name in cfg.judge_configs:
            run_cfg.judge = cfg.judge_configs[name]
        run_prune(run_cfg, run_dir / name)
    print(write_leaderboard([run_dir / name for name in names], run_dir))
    print(f"leaderboard.md, leaderboard.csv and pareto.png written to {run_dir}")


if __name__ == "__main__":
    main()
