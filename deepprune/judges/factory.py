"""Build the judge named by ``cfg.judge.name``."""

from __future__ import annotations

from omegaconf import DictConfig

from deepprune.data.answers import AnswerChecker
from deepprune.judges.base import Judge


def build_judge(cfg: DictConfig, checker: AnswerChecker) -> Judge:
    """Instantiate a judge from its config group entry (``conf/judge/*.yaml``)."""
    name = cfg.name
    if name == "oracle":
        from deepprune.judges.oracle import OracleJudge

        return OracleJudge(checker)
    if name == "sbert":
        from deepprune.judges.sbert import SbertJudge

        return SbertJudge(path=cfg.get("path"), batch_size=cfg.get("batch_size", 64), device=cfg.get("device", "cpu"))
    if name == "trained":
        from deepprune.judges.trained import TrainedJudge

        return TrainedJudge(
            path=cfg.path,
            batch_size=cfg.get("batch_size", 64),
            device=cfg.get("device", "cpu"),
            trust_remote_code=bool(cfg.get("trust_remote_code", False)),
        )
    if name == "zero_shot":
        from deepprune.judges.zero_shot import ZeroShotJudge

        return ZeroShotJudge.from_config(cfg)
    raise ValueError(f"unknown judge.name={name!r} (conf/judge/ lists the available judges)")
