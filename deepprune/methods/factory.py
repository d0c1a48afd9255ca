"""Build the method named by ``cfg.method.name``."""

from __future__ import annotations

from omegaconf import DictConfig

from deepprune.data.truncation import make_truncation
from deepprune.methods.base import Method


def build_method(cfg: DictConfig) -> Method:
    """Instantiate a pruning method from ``conf/method/*.yaml`` (DeepPrune also reads ``truncation``)."""
    m = cfg.method
    if m.name == "cons":
        from deepprune.methods.cons import ConsMethod

        return ConsMethod(m.n)
    if m.name == "deepconf":
        from deepprune.methods.deepconf import DeepConfMethod

        return DeepConfMethod(m.n, m.variant, m.warmup, m.window, m.keep_top_percent, m.get("consensus_beta"))
    if m.name == "deepconf_offline":
        from deepprune.methods.deepconf import DeepConfOfflineMethod

        return DeepConfOfflineMethod(m.n, m.variant, m.window, m.tail_tokens)
    if m.name == "deepprune":
        from deepprune.methods.deepprune import DeepPruneMethod

        truncation = make_truncation(cfg.truncation.name, cfg.truncation.k, cfg.truncation.get("words"))
        return DeepPruneMethod(
            m.n, truncation, m.threshold, m.max_compare, m.max_clusters, m.finish, m.finish_largest,
            m.finish_singletons,
        )
    raise ValueError(f"unknown method.name={m.name!r} (conf/method/ lists the available methods)")
