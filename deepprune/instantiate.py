"""Build objects from ``_target_`` configs, handing in the run-time objects a config asks for.

A config declares a run-time slot with ``???`` (``conf/judge/oracle.yaml``: ``checker: ???``); :func:`build`
fills the slots the node declares from the objects the caller offers and ignores the rest, so one call
builds any member of a group (the oracle gets the answer checker, SBERT does not).
"""

from __future__ import annotations

from typing import Any

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf


def build(node: DictConfig, **runtime: Any) -> Any:
    """Instantiate ``node``, passing as keyword arguments the ``runtime`` objects whose keys ``node`` declares.

    A constructor's own error (e.g. ``ValueError: method.threshold must be in [0, 1]``) is raised as itself, not
    wrapped in Hydra's ``InstantiationException``, so entry scripts report it as a one-line config error.
    """
    slots = {key: value for key, value in runtime.items() if key in node.keys()}  # `in node` is False for ???
    for key in node:
        if key not in slots and OmegaConf.is_missing(node, key):
            _ = node[key]  # raises MissingMandatoryValue naming the full key (judge.path), as Hydra would
    try:
        # The slots are handed to the constructor, not merged into the config: OmegaConf would turn a dataclass
        # (a truncation rule) into a config node.
        factory = instantiate(node, _partial_=True)
    except InstantiationException as err:
        cause = err.__cause__
        if cause is None:
            raise
        raise cause from cause.__cause__
    return factory(**slots)
