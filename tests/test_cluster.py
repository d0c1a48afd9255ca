"""Scale-out through Hydra's submitit launcher: the SLURM launcher takes its shape from trainer=ddp, and sweeps run
as separate submitit jobs (``hydra/launcher=submitit_local``) that log to one W&B group."""

import json
import subprocess
from pathlib import Path

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException
from wandb.proto import wandb_internal_pb2

from tests.helpers.configs import compose_entry
from tests.helpers.run_entry import run_entry
from tests.helpers.run_if import RunIf
from tests.helpers.traces import write_toy_file
from tests.helpers.training import write_traces

pytestmark = RunIf(modules=("hydra_plugins.hydra_submitit_launcher",))


def slurm_params(config: str, *overrides: str) -> dict:
    """The parameters the SLURM launcher would submit with (interpolations resolved as in a real sweep)."""
    cfg = compose_entry(config, "hydra/launcher=submitit_slurm", *overrides, hydra=True)
    return instantiate(cfg.hydra.launcher).params


def test_slurm_launcher_takes_its_shape_from_the_ddp_trainer():
    params = slurm_params(
        "train", "trainer=ddp", "trainer.devices=4", "trainer.num_nodes=2", "hydra.launcher.partition=gpu"
    )
    # One task per GPU on every node: what Lightning's DDP expects under SLURM.
    assert (params["nodes"], params["tasks_per_node"], params["gpus_per_node"]) == (2, 4, 4)
    assert params["partition"] == "gpu" and params["timeout_min"] == 240
    # Scripts without a trainer: one task with one GPU.
    params = slurm_params("prune", "engine=vllm")
    assert (params["nodes"], params["tasks_per_node"], params["gpus_per_node"]) == (1, 1, 1)


def test_slurm_launcher_needs_a_number_of_devices():
    with pytest.raises(OmegaConfBaseException, match="trainer.devices"):
        slurm_params("train", "trainer=ddp")  # devices: auto cannot size a SLURM job


def run_sweep(script: str, *overrides: str, sweep: Path) -> subprocess.CompletedProcess:
    return run_entry(
        script,
        "-m",
        "hydra/launcher=submitit_local",
        "logger=wandb",
        *overrides,
        f"hydra.sweep.dir={sweep}",
        timeout=900,
    )


def check_submitit_jobs(sweep: Path) -> list[dict]:
    """Both jobs ran as submitit jobs, wrote metrics.json and logged one W&B run each to the sweep's group."""
    assert len([p for p in (sweep / ".submitit").iterdir() if p.name != "%j"]) == 2  # one folder per job
    group = wandb_internal_pb2.RunRecord(run_group=str(sweep)).SerializeToString()  # the run record's group field
    metrics = []
    for job in ("0", "1"):
        metrics.append(json.loads((sweep / job / "metrics.json").read_text()))
        runs = list((sweep / job / "wandb").glob("offline-run-*/*.wandb"))
        assert len(runs) == 1 and group in runs[0].read_bytes(), job
    return metrics


@pytest.mark.slow
def test_prune_sweep_through_submitit(tmp_path):
    toy = write_toy_file(tmp_path / "toy.jsonl")
    sweep = tmp_path / "sweep"
    run_sweep("prune.py", f"data.traces={toy}", "benchmark=last_letters", "method=cons,deepprune", "judge=oracle",
              "truncation.k=5", sweep=sweep)  # fmt: skip
    metrics = check_submitit_jobs(sweep)
    assert sorted(m["method"] for m in metrics) == ["cons", "deepprune"]
    assert all(m["num_problems"] == 3 for m in metrics)


@pytest.mark.slow
def test_train_sweep_through_submitit(tmp_path):
    traces = write_traces(tmp_path / "traces.jsonl", num_problems=12, traces_per_problem=8)
    sweep = tmp_path / "sweep"
    run_sweep("train.py", f"data.train={traces}", "data.test_fraction=0.25", "data.val_fraction=0.25",
              "data.pairs_per_problem=8", "data.batch_size=8", "trainer.max_steps=2", "trainer.limit_val_batches=1",
              "trainer.num_sanity_val_steps=0", "trainer.enable_progress_bar=false", "truncation.k=24",
              "judge=minilm", "loss=bce,focal", sweep=sweep)  # fmt: skip
    metrics = check_submitit_jobs(sweep)
    for job, loss, m in zip(("0", "1"), ("bce", "focal"), metrics, strict=True):
        assert f"loss={loss}" in OmegaConf.load(sweep / job / ".hydra" / "overrides.yaml")
        assert 0.0 <= m["test/auroc"] <= 1.0 and m["train_pairs"] > 0
        assert (sweep / job / "judge" / "judge.json").exists()
