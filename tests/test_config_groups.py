"""Every config file of every group under ``conf/`` composes into an entry config and builds what it names.

Groups and files are read from disk: a new YAML file in any group, or a new group folder, is checked without
editing this test. A file is composed into the entry configs (``conf/*.yaml``; those selecting its group first,
the others with ``+group=...``) and checked in the first one where its keys resolve (``judge=tiny_qwen3`` needs
train.py's ``output_dir``); there every outermost ``_target_`` node among its keys is built with
``deepprune.instantiate.build`` and the run-time objects the scripts hand in, and every other value must resolve.
"""

from __future__ import annotations

import functools
import inspect
from pathlib import Path
from typing import Any

import pytest
from hydra.errors import ConfigCompositionException
from hydra.utils import get_object, instantiate
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import InterpolationResolutionError, InterpolationToMissingValueError

from deepprune import asset_path
from deepprune.data.answers import AnswerChecker
from deepprune.data.truncation import FirstTokens
from deepprune.instantiate import build
from tests.helpers.configs import compose_entry, config_path, group_name, groups, options
from tests.helpers.run_if import RunIf
from tests.helpers.traces import write_toy_file

# What a file needs that a test machine lacks: overrides that stand in for it ({toy}: a small trace file,
# {tiny_judge}: a tiny Qwen3, {tiny_test}: the tiny vLLM model, {demo_judge}: the shipped demo judge) and the
# RunIf mark for hardware or packages. A file not listed must build as it is.
NEEDS: dict[str, tuple[tuple[str, ...], pytest.MarkDecorator | None]] = {
    "engine/replay": (("data.traces={toy}",), None),
    "engine/vllm": ((), RunIf(min_gpus=1)),
    "engine/vllm_cpu": (("model.path={tiny_test}", "engine.max_model_len=512"), RunIf(requires_vllm=True)),
    "inference/judge/trained": (("judge.path={demo_judge}",), None),
    "inference/judge/zero_shot": (("judge.path={tiny_judge}",), None),
    "training/judge/qwen3_4b": (("judge.path={tiny_judge}",), None),
    "trainer/gpu": ((), RunIf(min_gpus=1)),
    "trainer/ddp": ((), RunIf(min_gpus=1)),
    "hydra/launcher/submitit_local": ((), RunIf(modules=("hydra_plugins.hydra_submitit_launcher",))),
    "hydra/launcher/submitit_slurm": ((), RunIf(modules=("hydra_plugins.hydra_submitit_launcher",))),
}
# Run-time arguments a script passes without a ``???`` slot in the file: train.py's build_loggers gives every
# Lightning logger its save_dir.
UNDECLARED = {"logger": lambda run_dir: {"save_dir": str(run_dir)}}
FILES = [(group, option) for group in groups() for option in options(group)]


def file_param(group: str, option: str) -> Any:
    _, mark = NEEDS.get(f"{group}/{option}", ((), None))
    return pytest.param(group, option, id=f"{group}/{option}", marks=[mark] if mark else [])


def test_needs_name_existing_files():
    assert not [key for key in NEEDS if key not in {f"{g}/{o}" for g, o in FILES}], "stale rows in NEEDS"


def test_every_entry_config_composes(entry_configs):
    assert set(entry_configs) >= {"prune", "train", "eval_judge", "generate", "demo"}
    assert all(cfg.task == entry for entry, cfg in entry_configs.items())


def package_node(cfg: DictConfig, group: str, option: str) -> DictConfig:
    """The node a file of ``group`` fills: its ``# @package`` or, by default, the group path."""
    header = config_path(group, option).read_text().splitlines()
    package = next((line.split("@package", 1)[1].strip() for line in header if "@package" in line), group_name(group))
    if package == "_global_":
        return cfg
    return OmegaConf.select(cfg, package.replace("/", "."), throw_on_missing=False)


def own_keys(group: str, option: str) -> set[str]:
    """Top-level keys the file sets itself or inherits from files of its own group (``defaults: [default]``)."""
    content = OmegaConf.load(config_path(group, option))
    keys = {str(key) for key in content if key != "defaults"}
    for parent in content.get("defaults", []):
        if isinstance(parent, str) and parent != "_self_" and "/" not in parent:
            keys |= own_keys(group, parent)
    return keys


def resolve_leaves(node: Any) -> None:
    """Resolve every value under ``node``. ``???`` is left to the run (a run-time slot ``build`` fills or a value
    the user must set, which ``build`` names), as are interpolations to one (``hydra.job.num``, set by Hydra)."""
    if isinstance(node, DictConfig | ListConfig):
        for key in node.keys() if isinstance(node, DictConfig) else range(len(node)):
            resolve_leaves(node._get_node(key))
        return
    try:
        node._dereference_node()
    except InterpolationToMissingValueError:
        pass


def targets(node: Any, where: str) -> list[tuple[str, DictConfig]]:
    """The outermost ``_target_`` nodes under ``node`` (nested ones are built by their parent)."""
    if isinstance(node, DictConfig):
        if "_target_" in node:
            return [(where, node)]
        return [t for key in node for t in targets(node._get_node(key), f"{where}.{key}")]
    if isinstance(node, ListConfig):
        return [t for i in range(len(node)) for t in targets(node._get_node(i), f"{where}[{i}]")]
    return []


def compose_file(
    group: str, option: str, entry_configs: dict[str, DictConfig], extra: list[str], run_dir: Path
) -> tuple[str, list[tuple[str, DictConfig]]]:
    """The first entry config that takes the file and the overrides and in which the file's keys resolve, and the
    file's ``_target_`` nodes there. Entries selecting the group come first (fewest groups first); the others get
    it appended (``experiment=math_judge`` is meant for train.py)."""

    name = group_name(group)

    def order(entry: str) -> tuple[bool, int, str]:
        choices = entry_configs[entry].hydra.runtime.choices
        return name not in choices, len(choices), entry

    errors = []
    for entry in sorted(entry_configs, key=order):
        choice = f"{name}={option}" if name in entry_configs[entry].hydra.runtime.choices else f"+{name}={option}"
        # train() points output_dir (checkpoints, generated models) at its run directory; so does the test.
        run = [f"output_dir={run_dir}"] if "output_dir" in entry_configs[entry] else []
        try:
            cfg = compose_entry(entry, choice, *extra, *run, hydra=group.startswith("hydra"))
            node = package_node(cfg, group, option)
            keys = sorted(own_keys(group, option))
            for key in keys:
                resolve_leaves(node._get_node(key))
            found = [t for key in keys for t in targets(node._get_node(key), key)]
        except (ConfigCompositionException, InterpolationResolutionError) as err:  # e.g. no data.traces there
            errors.append(f"{entry}: {err}")
            continue
        return entry, found
    pytest.fail(f"{group}/{option} composes and resolves in no entry config: " + "; ".join(errors))


@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory, tiny_judge_base) -> dict[str, str]:
    toy = write_toy_file(tmp_path_factory.mktemp("traces") / "toy.jsonl")
    return {"toy": str(toy), "tiny_judge": tiny_judge_base, "demo_judge": str(asset_path("demo/judge"))}


@pytest.mark.parametrize(("group", "option"), [file_param(g, o) for g, o in FILES])
def test_config_file_builds(group, option, entry_configs, stand_ins, tmp_path, request):
    overrides, _ = NEEDS.get(f"{group}/{option}", ((), None))
    values = dict(stand_ins)
    if any("{tiny_test}" in o for o in overrides):
        values["tiny_test"] = request.getfixturevalue("tiny_test_model")
    extra = [o.format(**values) for o in overrides]
    entry, found = compose_file(group, option, entry_configs, extra, tmp_path)
    checker = AnswerChecker(extractor="boxed", equivalence="string")
    runtime = {
        "checker": checker,
        "truncation": FirstTokens(4),
        "extract_answer": checker.extract,
        "problems": list,
    }
    for where, node in found:
        built = build(node, **runtime) if group not in UNDECLARED else instantiate(node, **UNDECLARED[group](tmp_path))
        target = get_object(node._target_)
        if node.get("_partial_"):  # completed at run time (optimizer, scheduler, sampler)
            assert isinstance(built, functools.partial) and built.func is target, (entry, where, built)
        elif inspect.isclass(target):
            assert isinstance(built, target), (entry, where, built)
        else:  # a factory function
            assert built is not None, (entry, where)
        close = getattr(built, "close", None)
        if callable(close):
            close()  # engines hold a model and a KV cache
