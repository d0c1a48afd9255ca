"""Experiment loggers for the non-Lightning entry points (prune.py, eval_judge.py).

``logger=wandb`` logs config, metrics, the per-problem table and plots, in offline mode when no API
key is configured (runs are written under the run directory and can be ``wandb sync``ed later);
``logger=csv`` writes ``metrics.csv``/``problems.csv``; ``logger=none`` logs nothing beyond metrics.json.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from deepprune.data.io import atomic_write_text


def wandb_mode(requested: str) -> str:
    """``auto`` means online only when an API key is available, so runs never fail for lack of login."""
    if requested != "auto":
        return requested
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    has_key = bool(os.environ.get("WANDB_API_KEY")) or (Path.home() / ".netrc").exists()
    return "online" if has_key else "offline"


def wandb_group(group: str | None) -> str | None:
    """``logger.group`` (``group``), else the sweep directory for the jobs of a Hydra multirun (one group per sweep).

    The sweep directory is resolved once by the launcher, so every job of a sweep gets the same group even
    when the jobs start minutes apart (a ``${now:}`` in the group itself would be re-resolved per job).
    """
    if group:
        return str(group)
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        return str(HydraConfig.get().sweep.dir)
    return None


class RunLogger:
    """Minimal common surface: ``log_metrics``, ``log_table``, ``log_image``, ``finish``."""

    def __init__(self, cfg: DictConfig, run_dir: Path, name: str) -> None:
        self.kind = cfg.logger.name
        self.run_dir = run_dir
        self.run: Any = None
        if self.kind == "wandb":
            import wandb

            self.run = wandb.init(
                project=cfg.logger.project,
                entity=cfg.logger.entity,
                group=wandb_group(cfg.logger.group),
                tags=list(cfg.logger.tags),
                name=name,
                dir=str(run_dir),
                mode=wandb_mode(cfg.logger.mode),
                config=OmegaConf.to_container(cfg, resolve=True),
                reinit="finish_previous",
            )
        elif self.kind not in ("none", "csv", "tensorboard"):
            raise ValueError(f"logger={self.kind!r} is not supported here (none|csv|wandb)")

    def log_metrics(self, metrics: dict[str, Any]) -> None:
        scalars = {k: v for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)}
        if self.kind == "wandb":
            self.run.summary.update(scalars)
            self.run.log(scalars)
        elif self.kind == "csv":
            _write_csv(self.run_dir / "metrics.csv", [scalars])

    def log_table(self, key: str, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        if self.kind == "wandb":
            import wandb

            columns = list(rows[0])
            self.run.log({key: wandb.Table(columns=columns, data=[[_cell(r.get(c)) for c in columns] for r in rows])})
        elif self.kind == "csv":
            _write_csv(self.run_dir / f"{key}.csv", rows)

    def log_image(self, key: str, path: Path) -> None:
        if self.kind == "wandb":
            import wandb

            self.run.log({key: wandb.Image(str(path))})

    def finish(self) -> None:
        if self.run is not None:
            self.run.finish()


def _cell(value: Any) -> Any:
    return value if isinstance(value, int | float | str | bool) or value is None else str(value)


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    writer.writerows({k: _cell(v) for k, v in row.items()} for row in rows)
    atomic_write_text(path, buffer.getvalue())
