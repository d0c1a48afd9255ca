"""The Hydra configs under ``conf/``: entry configs (``conf/*.yaml``), groups (every folder holding YAML files,
``hydra/launcher`` included) and their options, found on disk so new files are picked up without a list.

A group is named here by its folder; folders under a search-path root (``inference/judge``, ``training/judge``)
are the group ``judge`` of the entries whose ``hydra.searchpath`` lists that root (:func:`group_name`)."""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from tests.helpers.run_entry import ROOT

CONF = ROOT / "conf"
# Folders some entry configs put on their search path: their subfolders are groups named without the root.
SEARCH_ROOTS = ("inference", "training")


def entries() -> list[str]:
    """The entry configs: prune, train, eval_judge, generate, demo (one per script)."""
    return sorted(path.stem for path in CONF.glob("*.yaml"))


def group_name(folder: str) -> str:
    """The Hydra group a folder of ``conf/`` is (``inference/judge`` -> ``judge``, ``hydra/launcher`` stays)."""
    root, _, rest = folder.partition("/")
    return rest if root in SEARCH_ROOTS and rest else folder


def groups() -> list[str]:
    """Every group folder (``method``, ``hydra/launcher``, ``inference/judge``)."""
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
