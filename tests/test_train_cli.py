"""End-to-end ``python train.py`` runs (real Lightning, peft, W&B offline, gloo DDP) on tiny data."""

import json
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from torchmetrics.functional.classification import binary_auroc

from deepprune.data.truncation import FirstTokens
from deepprune.judges.base import Prefix
from deepprune.judges.trained import TrainedJudge
from deepprune.training.datamodule import run_test_examples
from tests.helpers.run_entry import run_entry
from tests.helpers.training import write_traces


def roc_auc_score(labels, scores) -> float:
    return float(binary_auroc(torch.tensor(scores), torch.tensor(labels)))


@pytest.fixture(scope="module")
def traces(tmp_path_factory):
    return write_traces(tmp_path_factory.mktemp("data") / "traces.jsonl", num_problems=16, traces_per_problem=8)


def run_train(run_dir: Path, traces: Path, *overrides: str) -> subprocess.CompletedProcess:
    """train.py on the tiny data: 3 steps, a quarter of the problems for validation and a quarter for test."""
    return run_entry(
        "train.py", f"data.train={traces}", "data.test_fraction=0.25", "data.val_fraction=0.25",
        "data.pairs_per_problem=8", "data.batch_size=8", "trainer.max_steps=3", "trainer.limit_val_batches=2",
        "trainer.num_sanity_val_steps=0", "trainer.enable_progress_bar=false", "truncation.k=24",
        f"hydra.run.dir={run_dir}", *overrides, env={"WANDB_DIR": str(run_dir.parent)}, timeout=300,
    )  # fmt: skip


def _test_pairs(run_dir: Path):
    return run_test_examples(OmegaConf.load(run_dir / ".hydra" / "config.yaml"))


@pytest.fixture(scope="module")
def minilm_run(tmp_path_factory, traces) -> Path:
    """One 3-step MiniLM run logged to W&B offline, shared: its export is reloaded, its checkpoint resumed."""
    run_dir = tmp_path_factory.mktemp("minilm") / "run"
    run_train(run_dir, traces, "judge=minilm", "logger=wandb", "logger.project=deepprune-test", "logger.group=ci")
    return run_dir


@pytest.mark.slow
def test_minilm_wandb_offline_export_and_reload(minilm_run):
    run_dir = minilm_run
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for key in ("val/auroc", "test/auroc", "test/ap", "test/tnr@fnr0.2"):
        assert 0.0 <= metrics[key] <= 1.0, key
    assert metrics["train_pairs"] > 0 and metrics["test_pairs"] > 0
    assert (run_dir / "roc_test.png").stat().st_size > 1000
    assert (run_dir / "checkpoints" / "last.ckpt").exists()
    # W&B offline run with the logged metrics.
    runs = list((run_dir / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    # The offline run log (protobuf records) holds the metric keys and the values as JSON text.
    records = next(runs[0].glob("*.wandb")).read_bytes()
    for key in (b"train/loss", b"val/auroc", b"deepprune-test"):
        assert key in records
    assert b"test/auroc" in records and repr(metrics["test/auroc"]).encode() in records
    assert list((runs[0] / "files" / "media").rglob("*.png"))  # the ROC curve
    # Export reloads as judge=trained and reproduces the run's test AUROC on the same pairs.
    exported = json.loads((run_dir / "judge" / "judge.json").read_text())
    assert exported["judge"]["_target_"] == "deepprune.judges.networks.EncoderJudgeModel"
    judge = TrainedJudge(str(run_dir / "judge"), batch_size=5, device="cpu", trust_remote_code=False)
    assert judge.truncation == FirstTokens(24)
    examples = _test_pairs(run_dir)
    scores = judge.score([(Prefix(e.text_a, e.tokens_a), Prefix(e.text_b, e.tokens_b)) for e in examples])
    assert len(scores) == metrics["test_pairs"]
    assert roc_auc_score([e.label for e in examples], scores) == pytest.approx(metrics["test/auroc"], abs=1e-4)
    assert judge.tokens_read == sum(e.tokens_a + e.tokens_b for e in examples)


@pytest.mark.slow
def test_resume_from_checkpoint(tmp_path, traces, minilm_run):
    first = minilm_run
    assert json.loads((first / "metrics.json").read_text())["global_step"] == 3
    # LoRA checkpoints hold only adapter + head (+ optimizer state), far smaller than the 90 MB encoder.
    assert (first / "checkpoints" / "last.ckpt").stat().st_size < 20e6
    second = tmp_path / "second"
    # The first run ended its (only) epoch at max_steps; the resumed one may train on into more epochs.
    proc = run_train(
        second,
        traces,
        "logger=csv",
        "trainer.max_steps=5",
        "trainer.max_epochs=3",
        f"ckpt_path={first}/checkpoints/last.ckpt",
    )
    assert "Restoring states from the checkpoint" in proc.stdout + proc.stderr
    assert json.loads((second / "metrics.json").read_text())["global_step"] == 5


@pytest.mark.slow
def test_tiny_qwen3_lora_decoder_ddp_cpu(tmp_path, traces):
    run_dir = tmp_path / "ddp"
    proc = run_train(
        run_dir,
        traces,
        "judge=tiny_qwen3",
        "judge.scoring=yes_no",
        "trainer=ddp_cpu",
        "trainer.max_steps=2",
        "logger=csv",
    )
    log = proc.stdout + proc.stderr
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in log and "GLOBAL_RANK: 0, MEMBER: 1/2" in log
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["global_step"] == 2
    assert 0.0 <= metrics["test/auroc"] <= 1.0


@pytest.mark.slow
def test_tiny_qwen3_head_export_reload(tmp_path, traces):
    run_dir = tmp_path / "tiny"
    run_train(run_dir, traces, "judge=tiny_qwen3", "judge.scoring=head", "logger=tensorboard")
    assert list((run_dir / "tensorboard").rglob("events.out.tfevents.*"))
    judge_dir = run_dir / "judge"
    assert (judge_dir / "adapter" / "adapter_model.safetensors").exists() and (judge_dir / "base").is_dir()
    assert (judge_dir / "head.safetensors").exists()
    judge = TrainedJudge(str(judge_dir), batch_size=3, device="cpu", trust_remote_code=False)
    examples = _test_pairs(run_dir)
    scores = judge.score([(Prefix(e.text_a, e.tokens_a), Prefix(e.text_b, e.tokens_b)) for e in examples])
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert roc_auc_score([e.label for e in examples], scores) == pytest.approx(metrics["test/auroc"], abs=1e-4)
    assert np.all((scores > 0) & (scores < 1))


@pytest.mark.slow
def test_qwen3_4b_without_weights_fails_fast(tmp_path, traces):
    started = time.perf_counter()
    env_home = tmp_path / "hf"
    proc = run_entry(
        "train.py", f"data.train={traces}", "judge=qwen3_4b", f"hydra.run.dir={tmp_path / 'q'}",
        env={"HF_HOME": str(env_home), "HF_HUB_CACHE": str(env_home / "hub")}, expect=None, timeout=120,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "judge.path='Qwen/Qwen3-4B-Instruct-2507'" in proc.stderr and "set judge.path=" in proc.stderr
    assert time.perf_counter() - started < 60
    assert not (tmp_path / "q" / "metrics.json").exists()


@pytest.mark.slow
def test_judge_ablation_trains_each_cell_once_and_tabulates(tmp_path, traces):
    """deepprune judge-ablation: the acceptance run is also the ablation's focal+oversample cell."""
    out = tmp_path / "abl"
    tiny = [
        "data.val_fraction=0.25",
        "data.batch_size=8",
        "trainer.max_steps=2",
        "trainer.limit_val_batches=1",
        "trainer.num_sanity_val_steps=0",
        "logger=none",
    ]
    command = [
        "deepprune judge-ablation",
        "--traces",
        str(traces),
        "--out",
        str(out),
        "--grid",
        "acceptance",
        "ablation",
        "--pairs",
        "6",
        *(f"--override={o}" for o in tiny),
    ]
    proc = run_entry(*command, timeout=900)
    assert proc.stdout.count("[train]") == 4
    rows = json.loads((out / "ablation.json").read_text())
    assert sorted((r["loss"], r["sampler"]) for r in rows) == [
        ("bce", "none"),
        ("bce", "oversample"),
        ("focal", "none"),
        ("focal", "oversample"),
    ]
    for row in rows:
        assert row["k"] == 64 and row["steps"] == 2 and row["test_pairs"] > 0
        for key in ("judge_auroc", "identical_auroc", "difflib_auroc", "sbert_auroc", "identical_share"):
            assert 0.0 <= row[key] <= 1.0, key
    assert "| focal_none_k64_p6 | 0 | 64 | focal | none |" in proc.stdout
    assert (out / "ablation.png").stat().st_size > 1000
    # A second call finds every cell trained and only tabulates.
    rerun = run_entry(*command, timeout=900)
    assert "[train]" not in rerun.stdout and rerun.stdout.count("[skip]") == 4
