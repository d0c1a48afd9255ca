"""benchmark=math: last \\boxed{} answers compared by value; subject-level test splits for transfer figures."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from deepprune.data.pairs import split_by_group
from deepprune.instantiate import build

CONF = str(Path(__file__).resolve().parents[1] / "conf")
SUBJECTS = ["algebra", "geometry", "counting_and_probability", "number_theory", "prealgebra", "precalculus"]


def math_checker():
    with initialize_config_dir(config_dir=CONF, version_base=None):
        cfg = compose("prune", overrides=["benchmark=math"])
    return build(cfg.benchmark.answer)


def test_math_benchmark_reads_the_last_boxed_answer_by_value() -> None:
    checker = math_checker()
    trace = r"First $\boxed{2}$ is wrong; so $x+y=-\frac{1}{2}+\frac{2}{7}=\boxed{-\dfrac{3}{14}}$."
    assert checker.extract(trace) == r"-\dfrac{3}{14}"
    assert checker.is_correct(checker.extract(trace), r"-\frac{3}{14}")
    assert not checker.is_correct(checker.extract(trace), r"-\frac{9}{14}")
    assert checker.vote([r"\frac{1}{2}", "0.5", r"\frac{2}{3}", None]) in (r"\frac{1}{2}", "0.5")


def test_math_prompt_asks_for_a_boxed_answer() -> None:
    with initialize_config_dir(config_dir=CONF, version_base=None):
        cfg = compose("generate", overrides=["benchmark=math"])
    assert "\\boxed{}" in cfg.benchmark.prompt and "{question}" in cfg.benchmark.prompt
    assert OmegaConf.select(cfg, "benchmark.hub_fields.answer") == "answer"


def test_split_by_group_keeps_every_subject_on_one_side() -> None:
    ids = [f"{subject}/{i}/0" for subject in SUBJECTS for i in range(4)]
    rest, held = split_by_group(ids, 0.5, r"^[^/]+", seed=3)
    held_subjects = {i.split("/")[0] for i in held}
    rest_subjects = {i.split("/")[0] for i in rest}
    assert held_subjects and rest_subjects and not held_subjects & rest_subjects
    assert len(held_subjects) == 3 and rest | held == set(ids)
    # Seeded: same split again; another seed gives another split of the subjects.
    assert split_by_group(ids, 0.5, r"^[^/]+", seed=3)[1] == held
    assert any(split_by_group(ids, 0.5, r"^[^/]+", seed=s)[1] != held for s in range(4, 10))


def test_split_by_group_capture_group_and_errors() -> None:
    ids = ["a-1", "a-2", "b-1", "c-1"]
    rest, held = split_by_group(ids, 0.34, r"^(\w)-", seed=0)
    assert len({i[0] for i in held}) == 1 and not {i[0] for i in held} & {i[0] for i in rest}
    with pytest.raises(ValueError, match="does not match problem id 'zz'"):
        split_by_group([*ids, "zz"], 0.5, r"^(\w)-")
    with pytest.raises(ValueError, match="finds 1 group"):
        split_by_group(["a-1", "a-2"], 0.5, r"^(\w)-")
    # Even a fraction rounding to every group leaves one group for training.
    assert split_by_group(ids, 0.99, r"^(\w)-")[0]
