"""Build objects from ``_target_`` configs, handing in the run-time objects a config asks for.

A config declares a run-time slot with ``???`` (``conf/judge/oracle.yaml``: ``checker: ???``); :func:`build`
fills the slots the node declares from the objects the caller offers and ignores the rest, so one call
builds any member of a group (the oracle gets the answer checker, SBERT does not).
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

from hydra.errors import InstantiationException
from hydra.utils import get_object, instantiate
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
    _check_keys(node, factory, slots)
    return factory(**slots)


def target_class(node: DictConfig) -> type | None:
    """The class a config's ``_target_`` names, without building it (None: no target, not a class, or not
    importable, which :func:`build` then reports naming the target)."""
    target = node.get("_target_")
    try:
        found = get_object(target) if isinstance(target, str) else None
    except ImportError:
        return None
    return found if isinstance(found, type) else None


def _check_keys(node: DictConfig, factory: functools.partial, slots: dict[str, Any]) -> None:
    """Refuse, naming the config key, a key the constructor does not take (``+method.bogus=1``) or a missing
    required one, instead of the constructor's TypeError traceback."""
    try:
        signature = inspect.signature(factory.func)
    except (TypeError, ValueError):  # a builtin without a signature: let the call itself decide
        return
    prefix = node._get_full_key(None)
    try:
        signature.bind(*factory.args, **factory.keywords, **slots)
    except TypeError as err:
        taken = [name for name in signature.parameters if name not in ("self", "args", "kwargs")]
        given = set(factory.keywords) | set(slots)
        unknown = sorted(given - set(taken))
        if unknown and not any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values()):
            raise ValueError(
                f"{prefix}.{unknown[0]}: not a setting of {node.get('_target_')} (its settings: {', '.join(taken)})"
            ) from None
        raise ValueError(f"{prefix}: {node.get('_target_')} cannot be built from this config ({err})") from None
