"""Build the engine named by ``cfg.engine.name``."""

from __future__ import annotations

from omegaconf import DictConfig

from deepprune.data.answers import AnswerChecker
from deepprune.engines.base import Engine


def build_engine(cfg: DictConfig, checker: AnswerChecker) -> Engine:
    """Instantiate the engine for a prune run from the composed config."""
    name = cfg.engine.name
    if name == "replay":
        from deepprune.engines.replay import ReplayEngine

        if not cfg.data.traces:
            raise ValueError("engine=replay needs data.traces=FILE (a trace file in the project's format)")
        return ReplayEngine(
            cfg.data.traces,
            cfg.data.tokenizer,
            on_error=cfg.data.on_error,
            extract_answer=checker.extract,
            trust_remote_code=cfg.data.trust_remote_code,
        )
    if name == "vllm":
        from deepprune.engines.vllm_engine import VllmEngine

        return VllmEngine.from_config(cfg, checker.extract)
    raise ValueError(f"unknown engine.name={name!r} (conf/engine/ lists the available engines)")
