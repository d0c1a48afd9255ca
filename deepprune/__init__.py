"""DeepPrune: judge-based pruning of redundant parallel reasoning traces (arXiv 2510.08483).

The package follows the pipeline: ``data`` (trace datasets, answers, truncation, pairs) →
``judges`` (P(same final answer) for two trace prefixes) → ``engines`` (where traces come from:
stored replay or live vLLM) → ``methods`` (cons@N, DeepConf, DeepPrune) → ``report``.
"""

__version__ = "0.1.0"


def asset_path(relative: str) -> str:
    """Absolute path of a file shipped in ``deepprune/assets`` (demo model, traces, judge)."""
    from pathlib import Path

    path = Path(__file__).parent / "assets" / relative
    if not path.exists():
        raise FileNotFoundError(f"shipped asset missing: {path} (regenerate it with the recipes in experiments/demo)")
    return str(path)


def _register_resolvers() -> None:
    # ${asset:demo/traces_eval.jsonl.gz} in configs points into the installed package.
    from omegaconf import OmegaConf

    if not OmegaConf.has_resolver("asset"):
        OmegaConf.register_new_resolver("asset", asset_path)


_register_resolvers()
