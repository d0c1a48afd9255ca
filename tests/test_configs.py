"""Every config file of the prune-side groups composes into a prune run and builds (or resolves) its object.

Groups: method, judge (oracle, sbert built; trained, zero_shot resolved without loading weights), engine
(replay built; vllm, vllm_cpu resolved), truncation, and each benchmark's answer checker. New files in these
groups are picked up from conf/ automatically.
"""

import inspect

import pytest
from hydra.utils import get_class, get_object
from omegaconf import DictConfig, OmegaConf

from deepprune.build import build_checker, build_engine, build_judge, build_method, build_truncation
from deepprune.data.answers import AnswerChecker
from deepprune.data.truncation import FirstTokens, ReasoningWords
from deepprune.engines.replay import ReplayEngine
from deepprune.instantiate import build
from deepprune.judges.oracle import OracleJudge
from deepprune.judges.sbert import SbertJudge
from deepprune.methods.cons import ConsMethod
from deepprune.methods.deepconf import DeepConfMethod, DeepConfOfflineMethod
from deepprune.methods.deepprune import DeepPruneMethod
from deepprune.methods.deepprune_deepconf import DeepPruneDeepConfMethod
from tests.helpers.configs import CONF, compose_entry, group_name, options
from tests.helpers.traces import write_toy_file


def prune_config(*overrides: str) -> DictConfig:
    return compose_entry("prune", *overrides)


def constructor(node) -> inspect.Signature:
    target = get_object(node._target_)
    return inspect.signature(target.__init__ if inspect.isclass(target) else target)


def check_keys_are_parameters(node) -> None:
    """Every key of the config is a constructor argument (a typo or a stale key would fail at run time)."""
    parameters = constructor(node).parameters
    unknown = [key for key in node.keys() if not str(key).startswith("_") and key not in parameters]
    assert not unknown, f"{node._target_} has no arguments {unknown}"


METHODS = {
    "cons": (ConsMethod, "n", 32),
    "deepconf_low": (DeepConfMethod, "keep_top_percent", 10),
    "deepconf_high": (DeepConfMethod, "keep_top_percent", 90),
    "deepconf_offline": (DeepConfOfflineMethod, "variant", "bottom_window_weighted"),
    "deepprune": (DeepPruneMethod, "threshold", 0.5),
    "deepprune_deepconf": (DeepPruneDeepConfMethod, "keep_top_percent", 90),
}


def test_every_method_file_is_covered():
    assert options("method") == sorted(METHODS)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_method_builds_with_the_run_truncation(name):
    cfg = prune_config(f"method={name}", "method.n=32", "truncation.k=12")
    truncation = build_truncation(cfg)
    method = build_method(cfg, truncation)
    cls, key, value = METHODS[name]
    assert type(method) is cls and method.n == 32 and method.params()[key] == value
    if method.needs_judge:
        assert method.truncation is truncation  # built once, handed in
        assert method.params()["truncation"] == {"name": "first_tokens", "k": 12}


def test_deepconf_variants_share_one_file_and_differ_in_their_percentile():
    low, high = (build_method(prune_config(f"method=deepconf_{v}"), FirstTokens(4)) for v in ("low", "high"))
    assert (low.name, high.name) == ("deepconf_low", "deepconf_high")
    assert (low.keep_top_percent, high.keep_top_percent) == (10, 90)
    assert low.params() | {"variant": "high", "keep_top_percent": 90} == high.params()


@pytest.mark.parametrize(
    ("entry", "group"),
    [("prune", "method"), ("prune", "inference/judge"), ("train", "training/judge"), ("prune", "truncation")],
)
def test_constructor_defaults_match_the_yaml(entry, group):
    """Constructors keep defaults only for callers in code; they must be the YAML's, never a different copy.

    The reference is the file that names the ``_target_``; variants inheriting it (deepconf_high) override.
    """
    for name in options(group):
        if "_target_" not in OmegaConf.load(CONF / group / f"{name}.yaml"):
            continue
        node = compose_entry(entry, f"{group_name(group)}={name}")[group_name(group)]
        check_keys_are_parameters(node)
        for key, parameter in constructor(node).parameters.items():
            if key in node.keys() and parameter.default is not inspect.Parameter.empty:
                if OmegaConf.is_missing(node, key) or OmegaConf.is_interpolation(node, key):
                    continue
                value = OmegaConf.to_container(node, resolve=True)[key]
                default = list(parameter.default) if isinstance(parameter.default, tuple) else parameter.default
                assert value == default, f"{group}={name}: {key} is {value!r} in YAML, {default!r} in the constructor"


def test_truncation_files_build_rules():
    assert options("truncation") == ["first_tokens", "reasoning_words"]
    assert build_truncation(prune_config("truncation.k=7")) == FirstTokens(7)
    rule = build_truncation(prune_config("truncation=reasoning_words", "truncation.words=[hmm,wait]"))
    assert isinstance(rule, ReasoningWords) and rule.k == 25 and rule.words == ("hmm", "wait")


def test_oracle_receives_the_run_checker_and_sbert_loads_the_bundled_encoder():
    cfg = prune_config("judge=oracle")
    checker = build_checker(cfg)
    oracle = build_judge(cfg, checker)
    assert isinstance(oracle, OracleJudge) and oracle.checker is checker
    sbert = build_judge(prune_config("judge=sbert", "judge.batch_size=3"), checker)
    assert isinstance(sbert, SbertJudge) and sbert.batch_size == 3


@pytest.mark.parametrize("name", ["trained", "zero_shot"])
def test_weight_loading_judges_resolve_without_loading(name):
    node = prune_config(f"judge={name}", "judge.path=/some/dir")["judge"]
    check_keys_are_parameters(node)
    assert get_class(node._target_).name == name and node.path == "/some/dir"


def test_missing_judge_path_names_the_key():
    cfg = prune_config("judge=trained")
    with pytest.raises(Exception, match=r"Missing mandatory value: judge\.path"):
        build_judge(cfg, build_checker(cfg))


def test_replay_engine_builds_from_the_data_fields(tmp_path):
    toy = write_toy_file(tmp_path / "toy.jsonl")
    cfg = prune_config(f"data.traces={toy}", "data.on_error=skip")
    checker = build_checker(cfg)
    engine = build_engine(cfg, checker)
    assert isinstance(engine, ReplayEngine) and engine.traces == str(toy) and engine.on_error == "skip"
    assert engine.extract_answer == checker.extract
    with pytest.raises(ValueError, match=r"^engine=replay needs data\.traces=FILE"):
        build_engine(prune_config(), checker)


@pytest.mark.parametrize("name", ["vllm", "vllm_cpu"])
def test_vllm_engine_config_resolves_to_the_constructor(name):
    node = prune_config(f"engine={name}", "model=deepseek_8b", "model.max_tokens=99")["engine"]
    check_keys_are_parameters(node)
    resolved = OmegaConf.to_container(node, resolve=True)
    assert get_class(resolved["_target_"]).name == "vllm"
    assert resolved["max_tokens"] == 99 and resolved["model_name"] == "deepseek_8b" and resolved["top_p"] == 0.95
    assert resolved["model_builder"] is None  # models without a builder key
    assert resolved["dtype"] == ("float32" if name == "vllm_cpu" else "auto")
    parameters = constructor(node).parameters
    assert all(p.default is inspect.Parameter.empty for k, p in parameters.items() if k.startswith("model_"))


@pytest.mark.parametrize("benchmark", options("benchmark"))
def test_benchmark_answer_builds_a_checker(benchmark):
    cfg = prune_config(f"benchmark={benchmark}")
    checker = build_checker(cfg)
    assert isinstance(checker, AnswerChecker) and checker.extractor == cfg.benchmark.answer.extractor
    overridden = build_checker(prune_config(f"benchmark={benchmark}", "benchmark.answer.equivalence=string"))
    assert overridden.equivalence == "string"


def test_build_raises_the_constructor_error_itself():
    with pytest.raises(ValueError, match=r"^method\.threshold must be in \[0, 1\], got 2$"):
        build(prune_config("method.threshold=2").method, truncation=FirstTokens(4))
    with pytest.raises(ValueError, match="answer.extractor must be one of"):
        build_checker(prune_config("benchmark.answer.extractor=nope"))
