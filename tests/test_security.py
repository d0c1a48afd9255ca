"""Configs and judge directories cannot run code of their own choosing, and weights are never downloaded."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from deepprune import asset_path
from deepprune.engines.vllm_engine import resolve_model_path
from deepprune.judges.sbert import SbertJudge
from deepprune.judges.trained import TrainedJudge
from deepprune.judges.zero_shot import ZeroShotJudge
from tests.helpers.run_entry import run_entry
from tests.helpers.traces import write_toy_file

NOT_CACHED = "nonexistent-org/never-downloaded-model"


def malicious_judge(tmp_path: Path, *, judge_json_trusts: bool) -> tuple[Path, Path]:
    """The shipped demo judge whose base model is a local folder with an ``auto_map`` to a Python file.

    Importing that file writes the returned marker: the marker existing means the code ran.
    """
    judge, marker = tmp_path / "judge", tmp_path / "PWNED"
    shutil.copytree(asset_path("demo/judge"), judge)
    base = judge / "base"
    base.mkdir()
    (base / "evil.py").write_text(f"from pathlib import Path\nPath({str(marker)!r}).write_text('code ran')\n")
    config = {"model_type": "evil_bert", "auto_map": {"AutoConfig": "evil.EvilConfig", "AutoModel": "evil.EvilModel"}}
    (base / "config.json").write_text(json.dumps(config))
    meta = json.loads((judge / "judge.json").read_text())
    meta["judge"]["trust_remote_code"] = judge_json_trusts
    meta["base_model"] = "base"
    (judge / "judge.json").write_text(json.dumps(meta))
    return judge, marker


@pytest.mark.slow
def test_judge_json_cannot_enable_remote_code_under_prune_py(tmp_path):
    judge, marker = malicious_judge(tmp_path, judge_json_trusts=True)
    toy = write_toy_file(tmp_path / "toy.jsonl")
    result = run_entry(
        "prune.py", f"data.traces={toy}", "benchmark=last_letters", "method=deepprune", "judge=trained",
        f"judge.path={judge}", "truncation.k=5", f"hydra.run.dir={tmp_path / 'run'}", expect=None, timeout=300,
    )  # fmt: skip
    assert not marker.exists()
    assert result.returncode == 2, result.stderr[-3000:]
    lines = result.stderr.strip().splitlines()
    assert lines[-2].startswith(f"error: {judge / 'judge.json'}: this judge needs trust_remote_code")
    assert "judge.trust_remote_code=true" in lines[-2] and "Traceback" not in result.stderr


def test_custom_code_in_base_config_needs_the_flag(tmp_path):
    # judge.json does not ask for remote code, but the base model's config would run it.
    judge, marker = malicious_judge(tmp_path, judge_json_trusts=False)
    with pytest.raises(ValueError, match=r"base/config\.json: model_type 'evil_bert' .*judge\.trust_remote_code=true"):
        TrainedJudge(str(judge))
    assert not marker.exists()


def test_the_flag_is_what_allows_it(tmp_path):
    # Shows the fixture is real: with judge.trust_remote_code=true the shipped Python does run.
    judge, marker = malicious_judge(tmp_path, judge_json_trusts=True)
    with pytest.raises(AttributeError, match="EvilConfig"):  # evil.py defines no classes: loading fails after it ran
        TrainedJudge(str(judge), trust_remote_code=True)
    assert marker.read_text() == "code ran"


@pytest.mark.parametrize(
    "builder", ["os:system", "subprocess:call", "deepprune.training.export:shutil", "deepprune.tiny_models:"]
)
def test_model_builder_must_be_a_project_function(tmp_path, builder):
    marker = tmp_path / "MARKER"
    with pytest.raises(ValueError, match="must name a function of the deepprune package"):
        resolve_model_path({"builder": builder, "path": f"touch {marker}"})
    assert not marker.exists()


def test_project_builder_still_builds(tmp_path):
    built = resolve_model_path({"builder": "deepprune.tiny_models:build_tiny_model", "path": str(tmp_path)})
    assert (Path(built) / "config.json").exists()


@pytest.mark.parametrize(
    "load",
    [
        lambda: SbertJudge(NOT_CACHED),
        lambda: ZeroShotJudge(NOT_CACHED),
        lambda: resolve_model_path({"path": NOT_CACHED}),
    ],
    ids=["sbert", "zero_shot", "vllm_model"],
)
def test_weights_not_on_disk_are_never_downloaded(load):
    with pytest.raises(FileNotFoundError, match=rf"{NOT_CACHED}.*(download|never downloads)") as info:
        load()
    assert "path" in str(info.value)
