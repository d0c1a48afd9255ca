"""Prefix-pair data for judge training: splits by problem, seeded pairs, tokenisation in workers.

Splits (never by pair, so no problem is in two splits):
  * train: ``data.train``;
  * test: ``data.test``, or when it is null and ``data.test_fraction`` is set, that fraction of the
    training file's problems;
  * val: ``data.val``, or when it is null ``data.val_fraction`` of the remaining training problems.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import pytorch_lightning as pl
from omegaconf import DictConfig
from torch.utils.data import DataLoader, Dataset

from deepprune.build import build_checker, build_truncation
from deepprune.data.answers import AnswerChecker
from deepprune.data.io import ReadStats, read_problems
from deepprune.data.pairs import PrefixPairExample, build_pairs, split_by_group, split_by_problem
from deepprune.data.schema import Problem
from deepprune.data.tokenizer import resolve_token_unit
from deepprune.data.truncation import TruncationRule, Truncator
from deepprune.judges.networks import PairItem
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
    if not data.train:
        raise ValueError("data.train must point at a trace file (JSONL, JSONL.gz or Parquet)")
    train = read(data.train)
    seed = int(data.seed)
    test: list[Problem] = []
    if data.test:
        test = read(data.test)
    elif data.test_fraction:
        ids, fraction = [p.id for p in train], float(data.test_fraction)
        group = data.get("test_group")  # absent from run configs saved before it existed (judge_ablation --runs)
        if group:
            rest_ids, test_ids = split_by_group(ids, fraction, str(group), seed)
        else:
            rest_ids, test_ids = split_by_problem(ids, fraction, seed)
        test = [p for p in train if p.id in test_ids]
        train = [p for p in train if p.id in rest_ids]
    if data.val:
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
        truncation: the run's truncation rule (``conf/truncation``): what the judge reads of each trace.
        checker: the answer checker (``benchmark.answer``).
        collate_fn: the judge model's collator (tokenises in the DataLoader workers, dynamic padding).
        sampler: ``(labels, num_replicas, rank) -> Sampler`` (``conf/sampler``, ``_partial_``), or None for
            uniform shuffling.
    """

    def __init__(
        self,
        data: DictConfig,
        truncation: TruncationRule,
        checker: AnswerChecker,
        collate_fn: Callable[[Sequence[PairItem]], Any],
        sampler: Callable[..., OversamplingSampler] | None,
    ) -> None:
        super().__init__()
        self.data_cfg, self.truncation, self.sampler = data, truncation, sampler
        self.checker = checker
        self.collate_fn = collate_fn
        self.read_stats = ReadStats()
        self.examples: dict[str, list[PrefixPairExample]] = {}

    def _read(self, path: str) -> list[Problem]:
        return list(read_problems(path, self.data_cfg.on_error, self.read_stats, self.checker.extract))

    def setup(self, stage: str | None = None) -> None:
        if self.examples:  # fit then test: pairs are built once
            return
        splits = split_problems(self.data_cfg, self._read)
        # Prefixes are cut in the unit prune.py's replay will cut them in: data.tokenizer, else the traces' own.
        recorded = next((p.tokenizer for problems in splits.values() for p in problems if p.tokenizer), None)
        unit = resolve_token_unit(self.data_cfg.tokenizer, recorded, bool(self.data_cfg.trust_remote_code))
        truncator = Truncator(self.truncation, unit.counter)
        per_problem, seed = int(self.data_cfg.pairs_per_problem), int(self.data_cfg.seed)
        # Labelling a MATH file takes minutes: show progress (rank 0 only) and say what it cost.
        shown = self.trainer is None or self.trainer.is_global_zero
        stats = self.checker.stats
        comparisons, timeouts, start = stats.comparisons, stats.timeouts, time.monotonic()
        self.examples = {
            name: build_pairs(
                problems, truncator, self.checker, per_problem, seed, progress=f"pairs ({name})" if shown else None
            )
            for name, problems in splits.items()
        }
        self.num_problems = {name: len(problems) for name, problems in splits.items()}
        log.info(
            "labelled %d problems in %.0f s: %d answer comparisons, %d time-outs (counted as different answers)",
            sum(self.num_problems.values()),
            time.monotonic() - start,
            stats.comparisons - comparisons,
            stats.timeouts - timeouts,
        )
        if not self.examples["train"]:
            raise ValueError(f"data.train={self.data_cfg.train}: no problem has two answered traces to pair")
        if not self.examples["val"]:
            raise ValueError("the validation split has no pairs: set data.val or raise data.val_fraction")
        for name, examples in self.examples.items():
            if examples:
                different = sum(1 - e.label for e in examples) / len(examples)
                log.info(
                    "%s: %d problems, %d pairs, %.1f%% different-answer",
                    name,
                    self.num_problems[name],
                    len(examples),
                    100 * different,
                )

    @property
    def has_test(self) -> bool:
        return bool(self.examples.get("test"))

    def _loader(self, dataset: PairDataset, **kwargs: Any) -> DataLoader:
        workers = int(self.data_cfg.num_workers)
        return DataLoader(
            dataset,
            batch_size=int(self.data_cfg.batch_size),
            collate_fn=self.collate_fn,
            num_workers=workers,
            persistent_workers=workers > 0,
            **kwargs,
        )

    def train_dataloader(self) -> DataLoader:
        dataset = PairDataset(self.examples["train"], bool(self.data_cfg.both_orders))
        if self.sampler is None:
            return self._loader(dataset, shuffle=True)
        world, rank = (self.trainer.world_size, self.trainer.global_rank) if self.trainer else (1, 0)
        return self._loader(dataset, sampler=self.sampler(dataset.labels, num_replicas=world, rank=rank))

    def val_dataloader(self) -> DataLoader:
        return self._loader(PairDataset(self.examples["val"]))

    def test_dataloader(self) -> DataLoader:
        return self._loader(PairDataset(self.examples["test"]))


def run_test_examples(run_cfg: DictConfig) -> list[PrefixPairExample]:
    """A finished train.py run's test pairs, rebuilt from its saved config (same split, same seeds)."""
    truncation, checker = build_truncation(run_cfg), build_checker(run_cfg)
    datamodule = JudgeDataModule(run_cfg.data, truncation, checker, lambda items: items, None)
    datamodule.setup("test")
    return datamodule.examples["test"]
