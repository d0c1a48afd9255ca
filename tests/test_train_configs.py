"""train.py's configs build what the script needs: run-time partials, trainer variants, loggers, judge models.
(Every file of every group builds: tests/test_config_groups.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict
from peft import LoraConfig
from pytorch_lightning.callbacks import LearningRateMonitor, ModelCheckpoint
from pytorch_lightning.loggers import CSVLogger, TensorBoardLogger, WandbLogger
from pytorch_lightning.strategies import DDPStrategy

from deepprune.build import build_callbacks, build_loggers, build_trainer
from deepprune.judges.networks import DecoderJudgeModel, EncoderJudgeModel
from deepprune.training.progress import ProgressLog
from deepprune.training.sampler import OversamplingSampler
from tests.helpers.configs import compose_entry


def compose_train(tmp_path: Path, *overrides: str) -> DictConfig:
    cfg = compose_entry("train", *overrides)
    with open_dict(cfg):
        cfg.output_dir = str(tmp_path)  # what train() sets; no Hydra run here
    return cfg


def test_sampler_optimizer_scheduler_are_partials_completed_at_run_time(tmp_path):
    cfg = compose_train(tmp_path, "seed=3", "scheduler=cosine", "optimizer.lr=0.1")
    sampler = instantiate(cfg.sampler)([0, 0, 0, 1], num_replicas=1, rank=0)
    assert isinstance(sampler, OversamplingSampler) and sampler.ratio == 2.0 and sampler.seed == 3
    assert "_target_" not in compose_train(tmp_path, "sampler=none").sampler
    weights = torch.nn.Parameter(torch.zeros(2))
    options = OmegaConf.masked_copy(cfg.optimizer, [k for k in cfg.optimizer if k != "head_lr"])
    optimizer = instantiate(options)(params=[{"params": [weights]}])
    assert isinstance(optimizer, torch.optim.AdamW) and optimizer.defaults["lr"] == 0.1
    scheduler = instantiate(cfg.scheduler)(optimizer, num_training_steps=100)
    assert [round(scheduler.get_last_lr()[0], 6)] == [0.0]  # 6 warmup steps (warmup_ratio 0.06) start at 0
    for _ in range(6):
        optimizer.step()
        scheduler.step()
    assert scheduler.get_last_lr()[0] == pytest.approx(0.1)


def test_trainer_variants_inherit_the_default(tmp_path):
    ddp = compose_train(tmp_path, "trainer=ddp_cpu")
    default = compose_train(tmp_path)
    changed = {k for k in default.trainer if default.trainer[k] != ddp.trainer[k]}
    assert changed == {"devices", "strategy", "threads"}
    assert isinstance(instantiate(ddp.trainer.strategy), DDPStrategy)
    assert instantiate(ddp.trainer.strategy)._process_group_backend == "gloo"
    gpu = compose_train(tmp_path, "trainer=gpu")
    assert {k for k in default.trainer if default.trainer[k] != gpu.trainer[k]} == {"accelerator", "precision"}
    loggers = build_loggers(compose_train(tmp_path, "logger=csv"), tmp_path)
    trainer = build_trainer(default, tmp_path, loggers, build_callbacks(default, loggers))
    assert isinstance(trainer, pl.Trainer) and trainer.max_epochs == 1
    assert isinstance(trainer.checkpoint_callback, ModelCheckpoint)
    assert trainer.checkpoint_callback.dirpath == str(tmp_path / "checkpoints")
    assert any(isinstance(c, LearningRateMonitor) for c in trainer.callbacks)
    # Without a logger Lightning refuses a learning-rate monitor at fit time: it is left out.
    assert [type(c) for c in build_callbacks(default, [])] == [ModelCheckpoint, ProgressLog]
    assert build_callbacks(compose_train(tmp_path, "callbacks=none"), loggers) == []


@pytest.mark.parametrize(
    ("name", "cls"), [("none", None), ("csv", CSVLogger), ("tensorboard", TensorBoardLogger), ("wandb", WandbLogger)]
)
def test_loggers_build_under_the_run_dir(tmp_path, monkeypatch, name, cls):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    overrides = [f"logger={name}", *(["logger.group=g"] if name == "wandb" else [])]
    loggers = build_loggers(compose_train(tmp_path, *overrides), tmp_path)
    assert [type(logger) for logger in loggers] == ([cls] if cls else [])
    if name == "wandb":
        assert loggers[0]._wandb_init["group"] == "g" and loggers[0]._offline
        loggers[0].experiment.finish()
    elif cls is not None:
        assert Path(loggers[0].save_dir) == tmp_path


def test_judge_models_build_with_their_lora(tmp_path):
    minilm = instantiate(compose_train(tmp_path).judge)
    assert isinstance(minilm, EncoderJudgeModel) and minilm.uses_lora
    assert minilm.model.peft_config["default"].r == 16
    full = instantiate(compose_train(tmp_path, "judge.lora=null", "judge.pooling=cls").judge)
    assert not full.uses_lora and full.pooling == "cls"
    tiny = instantiate(compose_train(tmp_path, "judge=tiny_qwen3").judge)
    assert isinstance(tiny, DecoderJudgeModel) and tiny.scoring == "head" and tiny.uses_lora
    assert tiny.path == str(tmp_path / "tiny_qwen3")  # generated into the run directory
    assert isinstance(tiny.model.peft_config["default"], LoraConfig)
    assert set(tiny.model.peft_config["default"].target_modules) == {"q_proj", "v_proj"}
