"""Prefix-pair data for judge training: splits by problem, seeded pairs, tokenisation in workers.

Splits (never by pair, so no problem is in two splits):
  * train: ``data.train``;
  * test: ``data.test``, or when it is null and ``data.test_fraction`` is set, that fraction of the
    training file's problems;
  * val: ``data.val``, or when it is null ``data.val_fraction`` of the remaining training problems.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import pytorch_lightning as pl
from omegaconf import DictConfig
from torch.utils.data import DataLoader, Dataset

from deepprune.data.answers import AnswerChecker
from deepprune.data.io import ReadStats, read_problems
from deepprune.data.pairs import PrefixPairExample, build_pairs, split_by_problem
from deepprune.data.schema import Problem
from deepprune.data.tokenizer import resolve_token_unit
from deepprune.data.truncation import Truncator, make_truncation
from deepprune.training.backbones import PairItem
from deepprune.training.sampler import OversamplingSampler

log = logging.getLogger(__name__)


class PairDataset(Dataset):
    """Prefix pairs as ``(text_a, text_b, label)``; with ``both_orders`` index ``n + i`` is pair i swapped."""

    def __init__(self, examples: Sequence[PrefixPairExample], both_orders: bool = False) -> None:
        self.examples, self.both_orders = list(examples), both_orders

    def __len__(self) -> int:
        return len(self.examples) * (2 if self.both_orders else 1)

    def __getitem__(self, index: int) -> PairItem:
        example = self.examples[index % len(self.examples)]
        if index >= len(self.examples):
            return example.text_b, example.text_a, example.label
        return example.text_a, example.text_b, example.label

    @property
    def labels(self) -> list[int]:
        return [self.examples[i % len(self.examples)].label for i in range(len(self))]


def split_problems(data: DictConfig, read: Callable[[str], list[Problem]]) -> dict[str, list[Problem]]:
    """Train/val/test problems per the ``data.*`` keys (see module docstring); raises on leakage."""
    if not data.get("train"):
        raise ValueError("data.train must point at a trace file (JSONL, JSONL.gz or Parquet)")
    train = read(data.train)
    seed = int(data.get("seed", 0))
    test: list[Problem] = []
    if data.get("test"):
        test = read(data.test)
    elif data.get("test_fraction"):
        rest_ids, test_ids = split_by_problem([p.id for p in train], float(data.test_fraction), seed)
        test = [p for p in train if p.id in test_ids]
        train = [p for p in train if p.id in rest_ids]
    if data.get("val"):
        val = read(data.val)
    else:
        # A different seed from the test split, so the two held-out sets are drawn independently.
        rest_ids, val_ids = split_by_problem([p.id for p in train], float(data.val_fraction), seed + 1)
        val = [p for p in train if p.id in val_ids]
        train = [p for p in train if p.id in rest_ids]
    splits = {"train": train, "val": val, "test": test}
    for first, second in (("train", "val"), ("train", "test"), ("val", "test")):
        shared = {p.id for p in splits[first]} & {p.id for p in splits[second]}
        if shared:
            raise ValueError(
                f"data.{first} and data.{second} share {len(shared)} problem ids (e.g. {sorted(shared)[:3]}): "
                "splits must be by problem"
            )
    return splits


class JudgeDataModule(pl.LightningDataModule):
    """Lightning data of prefix pairs (label 1 = same final answer, only answered traces paired).

    Args:
        data: ``conf/data`` (train/val/test files, fractions, pairs_per_problem, seed, batch_size,
            num_workers, both_orders, tokenizer for truncation).
        truncation: ``conf/truncation`` (name, k, words).
        answer: ``benchmark.answer`` (extractor, equivalence, regex).
        collate_fn: the backbone's collator (tokenises in the DataLoader workers, dynamic padding).
        sampler: ``conf/sampler`` (``oversample`` with ``ratio`` and ``seed``, or ``none``).
    """

    def __init__(
        self,
        data: DictConfig,
        truncation: DictConfig,
        answer: DictConfig,
        collate_fn: Callable[[Sequence[PairItem]], Any],
        sampler: DictConfig,
    ) -> None:
        super().__init__()
        self.data_cfg, self.truncation_cfg, self.sampler_cfg = data, truncation, sampler
        self.checker = AnswerChecker(answer.extractor, answer.equivalence, answer.get("regex"))
        self.collate_fn = collate_fn
        self.read_stats = ReadStats()
        self.examples: dict[str, list[PrefixPairExample]] = {}
        if sampler.name not in ("oversample", "none"):
            raise ValueError(f"sampler.name must be 'oversample' or 'none', got {sampler.name!r}")

    def _read(self, path: str) -> list[Problem]:
        return list(read_problems(path, self.data_cfg.on_error, self.read_stats, self.checker.extract))

    def setup(self, stage: str | None = None) -> None:
        if self.examples:  # fit then test: pairs are built once
            return
        splits = split_problems(self.data_cfg, self._read)
        rule = make_truncation(self.truncation_cfg.name, self.truncation_cfg.k, self.truncation_cfg.get("words"))
        # Prefixes are cut in the unit prune.py's replay will cut them in: data.tokenizer, else the traces' own.
        recorded = next((p.tokenizer for problems in splits.values() for p in problems if p.tokenizer), None)
        unit = resolve_token_unit(
            self.data_cfg.get("tokenizer"), recorded, bool(self.data_cfg.get("trust_remote_code", False))
        )
        truncator = Truncator(rule, unit.counter)
        per_problem, seed = int(self.data_cfg.pairs_per_problem), int(self.data_cfg.seed)
        self.examples = {
            name: build_pairs(problems, truncator, self.checker, per_problem, seed) for name, problems in splits.items()
        }
        self.num_problems = {name: len(problems) for name, problems in splits.items()}
        if not self.examples["train"]:
            raise ValueError(f"data.train={self.data_cfg.train}: no problem has two answered traces to pair")
        if not self.examples["val"]:
            raise ValueError("the validation split has no pairs: set data.val or raise data.val_fraction")
        for name, examples in self.examples.items():
            if examples:
                different = sum(1 - e.label for e in examples) / len(examples)
                log.info("%s: %d problems, %d pairs, %.1f%% different-answer", name,
                         self.num_problems[name], len(examples), 100 * different)

    @property
    def has_test(self) -> bool:
        return bool(self.examples.get("test"))

    def _loader(self, dataset: PairDataset, **kwargs: Any) -> DataLoader:
        workers = int(self.data_cfg.get("num_workers", 0))
        return DataLoader(
            dataset,
            batch_size=int(self.data_cfg.get("batch_size", 32)),
            collate_fn=self.collate_fn,
            num_workers=workers,
            persistent_workers=workers > 0,
            **kwargs,
        )

    def train_dataloader(self) -> DataLoader:
        dataset = PairDataset(self.examples["train"], bool(self.data_cfg.get("both_orders", False)))
        if self.sampler_cfg.name == "none":
            return self._loader(dataset, shuffle=True)
        world, rank = (self.trainer.world_size, self.trainer.global_rank) if self.trainer else (1, 0)
        sampler = OversamplingSampler(
            dataset.labels,
            ratio=float(self.sampler_cfg.get("ratio", 2.0)),
            num_replicas=world,
            rank=rank,
            seed=int(self.sampler_cfg.get("seed", 0)),
        )
        return self._loader(dataset, sampler=sampler)

    def val_dataloader(self) -> DataLoader:
        return self._loader(PairDataset(self.examples["val"]))

    def test_dataloader(self) -> DataLoader:
        return self._loader(PairDataset(self.examples["test"]))


def run_test_examples(run_cfg: DictConfig) -> list[PrefixPairExample]:
    """A finished train.py run's test pairs, rebuilt from its saved config (same split, same seeds)."""
    datamodule = JudgeDataModule(run_cfg.data, run_cfg.truncation, run_cfg.benchmark.answer, lambda items: items,
                                 run_cfg.sampler)
    datamodule.setup("test")
    return datamodule.examples["test"]
