"""``method.threshold=auto``: DeepPrune's tau from what training recorded in an exported judge's judge.json."""

import json
import shutil
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from deepprune.commands.entry import is_user_error, one_line
from deepprune.data.answers import AnswerChecker
from deepprune.data.truncation import FirstTokens
from deepprune.judges.oracle import OracleJudge
from deepprune.judges.trained import TrainedJudge
from deepprune.methods.deepprune import DeepPruneMethod
from deepprune.runner import run_prune
from tests.helpers.traces import write_toy_file

ROOT = Path(__file__).resolve().parents[1]
DEMO_JUDGE = ROOT / "deepprune" / "assets" / "demo" / "judge"
CHECKER = AnswerChecker("answer_is", "string")


def judge_copy(tmp_path: Path, metrics: dict) -> Path:
    """The shipped demo judge (a real train.py export) with ``metrics`` as its recorded training metrics."""
    target = tmp_path / "judge"
    shutil.copytree(DEMO_JUDGE, target)
    meta = json.loads((target / "judge.json").read_text())
    meta["metrics"] = metrics
    (target / "judge.json").write_text(json.dumps(meta))
    return target


def auto(**kwargs) -> DeepPruneMethod:
    return DeepPruneMethod(None, FirstTokens(32), threshold="auto", **kwargs)


def test_auto_takes_the_recorded_threshold_of_the_chosen_key(tmp_path):
    judge = TrainedJudge(str(judge_copy(tmp_path, {"val/threshold@fnr0.2": 0.37, "test/threshold@fnr0.2": 0.61})))
    method = auto()
    assert method.params()["threshold"] == "auto"  # nothing bound yet
    method.bind(judge)
    assert method.tau == 0.37
    assert method.params()["threshold"] == 0.37 and method.params()["threshold_key"] == "val/threshold@fnr0.2"
    other = auto(threshold_key="test/threshold@fnr0.2")
    other.bind(judge)
    assert other.tau == 0.61
    # A number stays the number; the key is then reported as unused.
    fixed = DeepPruneMethod(None, FirstTokens(32), threshold=0.8)
    fixed.bind(judge)
    assert fixed.params()["threshold"] == 0.8 and fixed.params()["threshold_key"] is None


def test_shipped_demo_judge_records_a_threshold():
    judge = TrainedJudge(str(DEMO_JUDGE))
    method = auto()
    method.bind(judge)
    recorded = json.loads((DEMO_JUDGE / "judge.json").read_text())["metrics"]
    assert method.tau == pytest.approx(recorded["val/threshold@fnr0.2"])


def test_judges_without_a_recorded_threshold_give_one_line_naming_the_judge(tmp_path):
    with pytest.raises(ValueError, match=r"method.threshold=auto: judge=oracle records no training metrics") as err:
        auto().bind(OracleJudge(CHECKER))
    assert "\n" not in str(err.value)
    judge = TrainedJudge(str(judge_copy(tmp_path, {"val/auroc": 0.9})))
    with pytest.raises(ValueError, match=r"judge=trained has no 'val/threshold@fnr0.2'") as err:
        auto().bind(judge)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("value", [None, 1.5, "0.4", float("nan")])
def test_a_recorded_threshold_outside_0_1_is_refused(tmp_path, value):
    judge = TrainedJudge(str(judge_copy(tmp_path, {"val/threshold@fnr0.2": value})))
    with pytest.raises(ValueError, match=r"judge.json metrics 'val/threshold@fnr0.2' must be"):
        auto().bind(judge)


def test_metrics_json_records_the_tau_used(tmp_path):
    judge_dir = judge_copy(tmp_path, {"val/threshold@fnr0.2": 0.42})
    toy = write_toy_file(tmp_path / "toy.jsonl")
    overrides = ["method=deepprune", "judge=trained", "benchmark=last_letters", "truncation.k=5"]
    overrides.append("method.threshold=auto")
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("prune", [*overrides, f"data.traces={toy}", f"judge.path={judge_dir}"])
    metrics = run_prune(cfg, tmp_path / "run")
    written = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert written["threshold"] == metrics["threshold"] == 0.42
    assert written["method_params"]["threshold"] == 0.42
    assert written["method_params"]["threshold_key"] == "val/threshold@fnr0.2"


def test_prune_run_with_the_oracle_fails_before_running_as_a_one_line_user_error(tmp_path):
    toy = write_toy_file(tmp_path / "toy.jsonl")
    overrides = ["method=deepprune", "judge=oracle", "benchmark=last_letters", "method.threshold=auto"]
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("prune", [*overrides, f"data.traces={toy}"])
    with pytest.raises(ValueError) as err:
        run_prune(cfg, tmp_path / "run")
    # prune.py prints a user error as "error: <one line>" and exits 2 (deepprune.commands.entry).
    assert is_user_error(err.value) and one_line(err.value) == str(err.value)
    assert str(err.value).startswith("method.threshold=auto: judge=oracle records no training metrics")
    assert not (tmp_path / "run" / "metrics.json").exists()
