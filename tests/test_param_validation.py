"""Out-of-range numeric knobs stop the run where the object is built, with an error naming the config key."""

import math
import re
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from deepprune.build import build_method, build_truncation
from deepprune.data.answers import AnswerChecker
from deepprune.data.pairs import build_pairs
from deepprune.data.tokenizer import TokenCounter
from deepprune.data.truncation import FirstTokens, ReasoningWords, Truncator
from deepprune.judges.sbert import SbertJudge
from deepprune.judges.trained import TrainedJudge
from deepprune.methods.cons import ConsMethod
from deepprune.methods.deepconf import DeepConfMethod, DeepConfOfflineMethod
from deepprune.methods.deepprune import DeepPruneMethod
from deepprune.runner import run_eval_judge
from tests.helpers.traces import write_toy_file

ROOT = Path(__file__).resolve().parents[1]
NAN, INF = math.nan, math.inf
CHECKER = AnswerChecker("answer_is", "string")


def deepprune(**kwargs):
    return DeepPruneMethod(None, FirstTokens(4), **kwargs)


def trained(**kwargs):
    return TrainedJudge("/no/such/judge", device="cpu", trust_remote_code=False, **kwargs)


def pairs(value):
    return build_pairs([], Truncator(FirstTokens(4), TokenCounter()), CHECKER, value)


# (key named in the error, builder, rejected value): every numeric knob, below, above, NaN, inf, wrong kind.
REJECTED = (
    [("method.n", ConsMethod, v) for v in (0, -3, 2.5, NAN, INF, True, "8")]
    + [("method.warmup", lambda v: DeepConfMethod(None, warmup=v), v) for v in (0, -1, 1.5, NAN)]
    + [("method.window", lambda v: DeepConfMethod(None, window=v), v) for v in (0, -2048, NAN)]
    + [
        ("method.keep_top_percent", lambda v: DeepConfMethod(None, keep_top_percent=v), v)
        for v in (0, -10, 100.5, NAN, INF)
    ]
    + [("method.consensus_beta", lambda v: DeepConfMethod(None, consensus_beta=v), v) for v in (0.5, 0.2, 1.01, NAN)]
    + [("method.window", lambda v: DeepConfOfflineMethod(None, window=v), v) for v in (0, NAN)]
    + [("method.tail_tokens", lambda v: DeepConfOfflineMethod(None, tail_tokens=v), v) for v in (0, -1, NAN)]
    + [("method.threshold", lambda v: deepprune(threshold=v), v) for v in (-1, -0.01, 1.01, 2, NAN, INF, -INF, "0.5")]
    + [("method.max_compare", lambda v: deepprune(max_compare=v), v) for v in (0, -1, NAN)]
    + [("method.max_clusters", lambda v: deepprune(max_clusters=v), v) for v in (0, 3.5, NAN)]
    + [("method.finish_largest", lambda v: deepprune(finish_largest=v), v) for v in (0, NAN)]
    + [("method.finish_singletons", lambda v: deepprune(finish_singletons=v), v) for v in (-1, NAN)]
    + [("judge.batch_size", lambda v: SbertJudge(batch_size=v), v) for v in (0, -4, NAN)]
    + [("judge.batch_size", lambda v: trained(batch_size=v), v) for v in (0, NAN)]
    + [("truncation.k", FirstTokens, v) for v in (0, -1, NAN, 2.5)]
    + [("truncation.k", ReasoningWords, v) for v in (0, NAN)]
    + [("data.pairs_per_problem", pairs, v) for v in (0, -5, NAN, 1.5)]
)


@pytest.mark.parametrize(("key", "build", "value"), REJECTED, ids=[f"{k}={v!r}" for k, _, v in REJECTED])
def test_out_of_domain_value_is_a_config_error(key, build, value):
    with pytest.raises(ValueError, match=rf"^{re.escape(key)} must be .*, got {re.escape(repr(value))}$"):
        build(value)


def test_messages_state_the_domain():
    with pytest.raises(ValueError, match=r"^method\.threshold must be in \[0, 1\], got 2\.0$"):
        deepprune(threshold=2.0)
    with pytest.raises(ValueError, match=r"^method\.keep_top_percent must be in \(0, 100\], got 0$"):
        DeepConfMethod(None, keep_top_percent=0)
    with pytest.raises(ValueError, match=r"^method\.warmup must be in \[1, method\.n=4\], got 8$"):
        DeepConfMethod(4, warmup=8)
    with pytest.raises(ValueError, match=r"^data\.pairs_per_problem must be >= 1, got 0$"):
        pairs(0)


def test_domain_edges_are_accepted():
    method = deepprune(threshold=0, max_compare=1, max_clusters=1, finish_largest=1, finish_singletons=1)
    assert method.threshold == 0.0 and deepprune(threshold=1).threshold == 1.0
    conf = DeepConfMethod(16, warmup=16.0, window=1, keep_top_percent=100, consensus_beta=1.0)
    assert conf.warmup == 16 and isinstance(conf.warmup, int) and conf.consensus_beta == 1.0
    assert ConsMethod(None).n is None and ConsMethod(8.0).n == 8
    assert FirstTokens(1).k == 1 and pairs(1) == []


def compose_config(task: str, overrides: list[str]):
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose(task, overrides)


@pytest.mark.parametrize("value", ["-1", "2", "nan"])
def test_prune_config_threshold_is_checked_when_the_method_is_built(value):
    cfg = compose_config("prune", ["method=deepprune", f"method.threshold={value}"])
    with pytest.raises(ValueError, match=r"^method\.threshold must be"):
        build_method(cfg, build_truncation(cfg))


@pytest.mark.parametrize("value", ["0", "2.5", "nan"])
def test_truncation_k_is_checked_when_the_rule_is_built(value):
    for group in ("first_tokens", "reasoning_words"):
        cfg = compose_config("prune", [f"truncation={group}", f"truncation.k={value}"])
        with pytest.raises(ValueError, match=r"^truncation\.k must be"):
            build_truncation(cfg)


@pytest.mark.parametrize("value", ["0", "-2"])
def test_eval_judge_pairs_per_problem_is_checked_where_pairs_are_built(tmp_path, value):
    toy = write_toy_file(tmp_path / "toy.jsonl")
    cfg = compose_config(
        "eval_judge",
        [f"data.test={toy}", "judge=oracle", "benchmark=last_letters", f"data.pairs_per_problem={value}"],
    )
    with pytest.raises(ValueError, match=rf"^data\.pairs_per_problem must be >= 1, got {value}$"):
        run_eval_judge(cfg, tmp_path / "run")
