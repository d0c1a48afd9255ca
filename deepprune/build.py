"""One home for the builders: each turns a config group's ``_target_`` node into its object, handing in the
run-time objects the group's configs may declare (``???`` slots). Every command builds through these, once per
run, and passes the objects on; nothing rebuilds them from the config.
"""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import Callback, LearningRateMonitor
from pytorch_lightning.loggers import Logger

from deepprune.data.answers import AnswerChecker
from deepprune.data.benchmarks import load_benchmark
from deepprune.data.truncation import TruncationRule
from deepprune.engines.base import Engine
from deepprune.instantiate import build, target_class
from deepprune.judges.base import Judge
from deepprune.methods.base import Method

log = logging.getLogger(__name__)


def build_checker(cfg: DictConfig) -> AnswerChecker:
    """The benchmark's answer checker (``benchmark.answer``)."""
    return build(cfg.benchmark.answer)


def build_truncation(cfg: DictConfig) -> TruncationRule:
    """What the judge sees of each trace (``conf/truncation``)."""
    return build(cfg.truncation)


def build_method(cfg: DictConfig, truncation: TruncationRule) -> Method:
    """The pruning method (``conf/method``); DeepPrune receives the run's truncation rule."""
    return build(cfg.method, truncation=truncation)


def build_judge(cfg: DictConfig, checker: AnswerChecker) -> Judge:
    """The judge (``conf/judge``); the oracle receives the answer checker.

    A trainable judge network (``judge=minilm``, ``bi_encoder``, ``qwen3_4b``, ``tiny_qwen3``) is refused before
    it is built: it scores nothing until ``train.py`` has trained and exported it.
    """
    cls = target_class(cfg.judge)
    if cls is not None and not issubclass(cls, Judge):
        raise ValueError(
            f"judge: {cfg.judge._target_} is a judge network to train (train.py judge=...), not a judge to score with; "
            "use judge=trained judge.path=RUN_DIR/judge (its export), or judge=sbert|oracle|zero_shot"
        )
    return build(cfg.judge, checker=checker)


def build_engine(cfg: DictConfig, checker: AnswerChecker) -> Engine:
    """The engine (``conf/engine``) with the benchmark's answer extractor (and problems, for live engines)."""
    return build(cfg.engine, extract_answer=checker.extract, problems=partial(load_benchmark, cfg.benchmark))


def warn_on_truncation_mismatch(judge: Judge | None, truncation: TruncationRule) -> None:
    """A trained judge reads prefixes like the ones it was trained on; say so when the run's differ."""
    if judge is not None and judge.truncation is not None and judge.truncation != truncation:
        log.warning("judge was trained on truncation %s but this run uses %s", judge.truncation, truncation)


def build_loggers(cfg: DictConfig, run_dir: Path) -> list[Logger]:
    """The Lightning loggers of ``conf/logger`` (its nodes with a ``_target_``), writing under ``run_dir``."""
    loggers = [
        instantiate(node, save_dir=str(run_dir))
        for node in cfg.logger.values()
        if isinstance(node, DictConfig) and "_target_" in node
    ]
    for logger in loggers:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
    return loggers


def build_callbacks(cfg: DictConfig, loggers: list[Logger]) -> list[Callback]:
    """The callbacks of ``conf/callbacks``: every node with a ``_target_`` (lightning-hydra-template style).

    A learning-rate monitor is left out when there is no logger to write to (Lightning refuses it then).
    """
    callbacks = [build(node) for node in cfg.callbacks.values() if isinstance(node, DictConfig) and "_target_" in node]
    return [c for c in callbacks if loggers or not isinstance(c, LearningRateMonitor)]


def build_trainer(cfg: DictConfig, run_dir: Path, loggers: list[Logger], callbacks: list[Callback]) -> pl.Trainer:
    """``pl.Trainer`` from ``conf/trainer`` (``threads`` is ours: torch threads per process)."""
    if cfg.trainer.threads:
        torch.set_num_threads(int(cfg.trainer.threads))
    options = OmegaConf.masked_copy(cfg.trainer, [k for k in cfg.trainer if k != "threads"])
    return instantiate(options, logger=loggers or False, callbacks=callbacks, default_root_dir=str(run_dir))
