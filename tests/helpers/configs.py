"""The Hydra configs under ``conf/``: entry configs (``conf/*.yaml``), groups (every folder holding YAML files,
``hydra/launcher`` included) and their options, found on disk so new files are picked up without a list."""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from tests.helpers.run_entry import ROOT

CONF = ROOT / "conf"


def entries() -> list[str]:
    """The entry configs: prune, train, eval_judge, generate, demo (one per script)."""
    return sorted(path.stem for path in CONF.glob("*.yaml"))


def groups() -> list[str]:
    """Every config group, as Hydra names it (``method``, ``hydra/launcher``)."""
    folders = {path.parent.relative_to(CONF).as_posix() for path in CONF.rglob("*.yaml") if path.parent != CONF}
    return sorted(folders)


def options(group: str) -> list[str]:
    return sorted(path.stem for path in (CONF / group).glob("*.yaml"))


def compose_entry(entry: str, *overrides: str, hydra: bool = False) -> DictConfig:
    """``conf/<entry>.yaml`` composed with ``overrides`` as its script would (``hydra``: keep the ``hydra`` node)."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(entry, list(overrides), return_hydra_config=hydra)


def config_path(group: str, option: str) -> Path:
    return CONF / group / f"{option}.yaml"
