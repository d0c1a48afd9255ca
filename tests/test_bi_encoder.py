"""judge=bi_encoder: trained by train() like the cross-encoder, exported, reloaded as judge=trained, symmetric,
and scoring a problem with one encoder pass per prefix (not per pair)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf, open_dict
from torchmetrics.functional.classification import binary_auroc

from deepprune.data.truncation import FirstTokens
from deepprune.instantiate import build
from deepprune.judges.base import Prefix
from deepprune.judges.networks import BiEncoderJudgeModel
from deepprune.judges.trained import TrainedJudge
from deepprune.training.datamodule import run_test_examples
from deepprune.training.export import export_judge
from deepprune.training.run import train
from tests.helpers.training import trace_text, write_traces

CONF = Path(__file__).resolve().parents[1] / "conf"
TRAIN_OVERRIDES = [
    "judge=bi_encoder", "data.test_fraction=0.25", "data.val_fraction=0.25", "data.pairs_per_problem=6",
    "data.batch_size=6", "trainer.max_steps=2", "trainer.limit_val_batches=1", "trainer.num_sanity_val_steps=0",
    "trainer.enable_progress_bar=false", "truncation.k=24", "logger=none",
]  # fmt: skip


def compose_train(run_dir: Path, *overrides: str) -> DictConfig:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", list(overrides))
    with open_dict(cfg):
        cfg.output_dir = str(run_dir)
    return cfg


def prefixes(count: int) -> list[Prefix]:
    """Distinct prefixes of last-letter traces, some sharing the slip that changes the answer."""
    words = [["apple", "river", "stone"], ["cloud", "maple", "tiger"], ["lemon", "piano", "ocean"]]
    out = []
    for i in range(count):
        group = words[i % len(words)]
        letters = "".join(w[-1] for w in group)
        if i % 2:
            letters = "x" + letters[1:]
        text = trace_text(group, letters)[: 40 + 7 * i]
        out.append(Prefix(text, num_tokens=10 + i, key=i))
    return out


class EncoderRows:
    """Counts encoder forward passes and the sequences (rows) they encode, via a forward pre-hook."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.passes = self.rows = 0
        self.handle = module.register_forward_pre_hook(self._count, with_kwargs=True)

    def _count(self, module, args, kwargs) -> None:
        self.passes += 1
        self.rows += int(kwargs["input_ids"].shape[0])


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> tuple[Path, DictConfig]:
    root = tmp_path_factory.mktemp("bi_encoder")
    traces = write_traces(root / "traces.jsonl", num_problems=12, traces_per_problem=6)
    run_dir = root / "run"
    cfg = compose_train(run_dir, f"data.train={traces}", *TRAIN_OVERRIDES)
    train(cfg, run_dir)
    return run_dir, cfg


@pytest.fixture(scope="module")
def judge(trained_run) -> TrainedJudge:
    return TrainedJudge(str(trained_run[0] / "judge"), batch_size=4, device="cpu")


@pytest.mark.slow
def test_train_exports_a_bi_encoder_that_reloads_with_the_runs_test_auroc(trained_run, judge):
    trained_run, cfg = trained_run
    metrics = json.loads((trained_run / "metrics.json").read_text())
    assert metrics["global_step"] == 2 and metrics["test_pairs"] > 0
    exported = json.loads((trained_run / "judge" / "judge.json").read_text())
    assert exported["judge"]["_target_"] == "deepprune.judges.networks.BiEncoderJudgeModel"
    assert isinstance(judge.backbone, BiEncoderJudgeModel) and judge.backbone.uses_lora
    assert judge.truncation == FirstTokens(24)
    examples = run_test_examples(cfg)
    scores = judge.score([(Prefix(e.text_a, e.tokens_a), Prefix(e.text_b, e.tokens_b)) for e in examples])
    auroc = float(binary_auroc(torch.tensor(scores), torch.tensor([e.label for e in examples])))
    # The module's test metric came from pair batches; the reloaded judge scores from cached embeddings.
    assert auroc == pytest.approx(metrics["test/auroc"], abs=1e-4)


@pytest.mark.slow
def test_export_round_trip_keeps_the_trained_scores(tmp_path):
    cfg = compose_train(tmp_path, *TRAIN_OVERRIDES)
    torch.manual_seed(0)
    net = build(cfg.judge)
    collate = net.collator()
    items = [(a.text, b.text, i % 2) for i, (a, b) in enumerate(itertools.combinations(prefixes(5), 2))]
    batch = collate(items)
    optimizer = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=1e-2)
    net.train()
    for _ in range(3):  # real steps: the LoRA B matrices leave zero, so the adapter changes the scores
        loss = torch.nn.functional.binary_cross_entropy_with_logits(net(batch), batch["labels"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    net.eval()
    with torch.no_grad():
        before = torch.sigmoid(net(batch)).numpy()
        with net.model.disable_adapter():
            without_adapter = torch.sigmoid(net(batch)).numpy()
    assert not np.allclose(before, without_adapter, atol=1e-4)
    judge_cfg = OmegaConf.to_container(cfg.judge, resolve=True)
    export_judge(net, judge_cfg, build(cfg.truncation), tmp_path)
    reloaded = TrainedJudge(str(tmp_path / "judge"), batch_size=3)
    pairs = list(itertools.combinations(prefixes(5), 2))
    np.testing.assert_allclose(reloaded.score(pairs), before, atol=1e-5)


def test_scores_are_symmetric(judge):
    pairs = list(itertools.combinations(prefixes(6), 2))
    forward = judge.score(pairs)
    backward = judge.score([(b, a) for a, b in pairs])
    np.testing.assert_array_equal(forward, backward)  # exact: the head's features are symmetric
    assert forward.std() > 0  # the scores depend on the pair
    net = judge.backbone
    u, v = torch.randn(4, net.hidden_size), torch.randn(4, net.hidden_size)
    with torch.no_grad():
        assert torch.equal(net.pair_logits(u, v), net.pair_logits(v, u))
        items = [(a.text, b.text, -1) for a, b in pairs]
        swapped = [(b, a, label) for a, b, label in items]
        torch.testing.assert_close(net(net.collator()(items)), net(net.collator()(swapped)), atol=1e-5, rtol=0)


def test_each_prefix_is_encoded_once_per_problem(judge):
    problem = prefixes(7)
    pairs = list(itertools.combinations(problem, 2))
    counter = EncoderRows(judge.backbone.model)
    try:
        judge.reset()
        tokens, scored = judge.tokens_read, judge.pairs_scored
        scores = judge.score(pairs)
        # 7 prefixes in batches of 4: two passes over 7 rows, for 21 pairs.
        assert (counter.passes, counter.rows) == (2, 7)
        assert judge.tokens_read - tokens == sum(p.num_tokens for p in problem)
        assert judge.pairs_scored - scored == len(pairs)
        # Cached embeddings give the scores the model gives reading each pair afresh.
        with torch.no_grad():
            direct = torch.sigmoid(judge.backbone(judge.collate([(a.text, b.text, -1) for a, b in pairs])))
        np.testing.assert_allclose(scores, direct.numpy(), atol=1e-5)
        counter.passes = counter.rows = 0
        judge.score(pairs[::-1])  # same problem: nothing new to encode or count
        assert counter.rows == 0 and judge.tokens_read - tokens == sum(p.num_tokens for p in problem)
        # Next problem: prepare() embeds its prefixes in one batch; scoring then reads only the head.
        judge.reset()
        judge.prepare(problem[:3])
        assert (counter.passes, counter.rows) == (1, 3)
        judge.score(list(itertools.combinations(problem[:3], 2)))
        assert counter.rows == 3
        assert judge.tokens_read - tokens == sum(p.num_tokens for p in problem) + sum(p.num_tokens for p in problem[:3])
    finally:
        counter.handle.remove()


def test_bad_head_dropout_is_a_one_line_error(tmp_path):
    cfg = compose_train(tmp_path, *TRAIN_OVERRIDES, "judge.head_dropout=1.5")
    with pytest.raises(ValueError, match=r"judge.head_dropout must be in \[0, 1\), got 1.5"):
        build(cfg.judge)
