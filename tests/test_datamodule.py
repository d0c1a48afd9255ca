import re
from functools import partial

import pytest

from deepprune.data.answers import AnswerChecker
from deepprune.data.tokenizer import bundled_minilm_path
from deepprune.data.truncation import FirstTokens
from deepprune.judges.networks import EncoderCollator
from deepprune.training.datamodule import JudgeDataModule, PairDataset
from deepprune.training.sampler import OversamplingSampler
from tests.helpers.training import UNANSWERED, data_config, write_traces

ANSWER = re.compile(r"The answer is (\w+)\.$")


def _datamodule(train, **data):
    from transformers import AutoTokenizer

    collate = EncoderCollator(AutoTokenizer.from_pretrained(bundled_minilm_path()), max_length=256)
    return JudgeDataModule(
        data_config(train, **data),
        FirstTokens(512),  # whole traces: labels checkable from text
        AnswerChecker("answer_is", "string", None),
        collate,
        partial(OversamplingSampler, ratio=2.0, seed=0),
    )


def test_splits_are_by_problem_without_leakage(tmp_path):
    dm = _datamodule(write_traces(tmp_path / "t.jsonl", num_problems=20))
    dm.setup("fit")
    ids = {name: {e.problem_id for e in examples} for name, examples in dm.examples.items()}
    assert dm.num_problems == {"train": 12, "val": 3, "test": 5}
    assert not ids["train"] & ids["val"] and not ids["train"] & ids["test"] and not ids["val"] & ids["test"]
    assert len(ids["train"] | ids["val"] | ids["test"]) == 20
    # Seeded: a second module draws the same split and pairs.
    again = _datamodule(tmp_path / "t.jsonl")
    again.setup("fit")
    assert again.examples == dm.examples


def test_labels_are_answer_equivalence_and_unanswered_traces_are_never_paired(tmp_path):
    dm = _datamodule(write_traces(tmp_path / "t.jsonl", num_problems=10))
    dm.setup("fit")
    examples = [e for split in dm.examples.values() for e in split]
    assert {e.label for e in examples} == {0, 1}
    for e in examples:
        answer_a, answer_b = ANSWER.search(e.text_a).group(1), ANSWER.search(e.text_b).group(1)
        assert e.label == int(answer_a == answer_b)
    assert not any(UNANSWERED in e.text_a or UNANSWERED in e.text_b for e in examples)


def test_separate_files_must_not_share_problems(tmp_path):
    path = write_traces(tmp_path / "t.jsonl", num_problems=6)
    dm = _datamodule(path, test=str(path), test_fraction=None)
    with pytest.raises(ValueError, match="data.train and data.test share"):
        dm.setup("fit")


def test_both_orders_swaps_pairs():
    from deepprune.data.pairs import PrefixPairExample

    examples = [PrefixPairExample("p", "a1", "b1", 1, 1, 1), PrefixPairExample("p", "a2", "b2", 1, 1, 0)]
    dataset = PairDataset(examples, both_orders=True)
    assert len(dataset) == 4
    assert dataset[0] == ("a1", "b1", 1) and dataset[2] == ("b1", "a1", 1) and dataset[3] == ("b2", "a2", 0)
    assert dataset.labels == [1, 0, 1, 0]
    assert len(PairDataset(examples)) == 2


def test_train_loader_tokenises_with_dynamic_padding_and_oversamples(tmp_path):
    dm = _datamodule(write_traces(tmp_path / "t.jsonl", num_problems=12), both_orders=True)
    dm.setup("fit")
    loader = dm.train_dataloader()
    assert len(loader.sampler) == 2 * len(dm.examples["train"])
    batch = next(iter(loader))
    assert set(batch) >= {"input_ids", "attention_mask", "labels"}
    width = batch["input_ids"].shape[1]
    assert width < 256 and batch["attention_mask"][:, -1].sum() >= 1  # padded to the longest, not max_length
    assert batch["labels"].dtype.is_floating_point and batch["labels"].shape == (6,)
