"""The tiny reasoner: tokenizer, Qwen3 model, Lightning training recipe and export.

The model is a ``Qwen3ForCausalLM`` of under a million parameters, trained from scratch on the
reference solutions of ``task.py`` (next to this file; loss on solution tokens only). It is exported as an
ordinary Hugging Face directory (``config.json``, ``model.safetensors``, tokenizer files), which both
``transformers`` and vLLM load without ``trust_remote_code``.

Sampled behaviour changes abruptly during training (accuracy jumps from near zero to near one within
about a minute of CPU time), so validation samples solutions at temperature 1.0 every few steps and
checkpoints are ranked by how close that accuracy is to a target: a demo reasoner should be right
often, but not always, so that parallel traces disagree sometimes.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from tokenizers import Regex, pre_tokenizers
from torch.utils.data import DataLoader, Dataset, Sampler
from transformers import GenerationConfig, PreTrainedTokenizerFast, Qwen3ForCausalLM

from deepprune.config_checks import check_int, check_range
from deepprune.data.io import claim_output_dir
from deepprune.tiny_models import BOS, EOS, PAD, PIECE_PATTERN, UNK, tiny_qwen3, word_level_tokenizer
from experiments.demo.task import (
    SOLUTION_HEADER,
    Problem,
    TaskConfig,
    all_problems,
    extract_answer,
    format_prompt,
    generate_problems,
    template_corpus,
)

# The tokenizer (deepprune.tiny_models.word_level_tokenizer): one token per word, per digit and per symbol, each
# carrying its leading space. Digits are separate tokens so that arithmetic is learnable, and because every token
# keeps its own space the decoder just concatenates: decode(encode(text)) == text for any text the task generates.
# Marks a directory written by save_reasoner: the only kind it replaces.
REASONER_MARKER = "deepprune_reasoner.json"

# Renders one user message to exactly ``format_prompt(content)``; no BOS is added anywhere, so the
# template, ``tokenizer(format_prompt(q))`` and vLLM's own prompt tokenization give the same ids.
CHAT_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'user' %}{{ message['content'] }}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}{{ '\\n" + SOLUTION_HEADER + "\\n' }}{% endif %}"
)


def build_tokenizer() -> PreTrainedTokenizerFast:
    """Word-level tokenizer whose vocabulary covers everything the task generator can write."""
    pre_tokenizer = pre_tokenizers.Split(Regex(PIECE_PATTERN), behavior="isolated")
    pieces = {f"{space}{d}" for d in range(10) for space in ("", " ")}
    for text in template_corpus():
        pieces.update(piece for piece, _ in pre_tokenizer.pre_tokenize_str(text))
    return word_level_tokenizer(
        [PAD, BOS, EOS, UNK, *sorted(pieces)], chat_template=CHAT_TEMPLATE, model_max_length=512
    )


def build_model(
    tokenizer: PreTrainedTokenizerFast,
    hidden_size: int = 128,
    intermediate_size: int = 384,
    num_hidden_layers: int = 3,
    num_attention_heads: int = 2,
    num_key_value_heads: int = 1,
    head_dim: int = 64,
    max_position_embeddings: int = 512,
) -> Qwen3ForCausalLM:
    """A freshly initialised tiny Qwen3 (``head_dim`` 64: smaller heads fail on vLLM's CPU backend)."""
    model = tiny_qwen3(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_layers=num_hidden_layers,
        max_position_embeddings=max_position_embeddings,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        num_attention_heads=num_attention_heads,
        num_key_value_heads=num_key_value_heads,
        head_dim=head_dim,
    )
    # Only the special-token ids: sampling defaults such as top_k would otherwise be inherited by
    # vLLM (generation_config="auto") and silently change what "temperature 1.0" means.
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return model


@dataclass(frozen=True)
class Example:
    """A tokenised problem: the prompt ids, the solution ids (ending in EOS) and the gold answer."""

    prompt_ids: list[int]
    solution_ids: list[int]
    answer: str


def encode_problems(
    problems: list[Problem], tokenizer: PreTrainedTokenizerFast, task: TaskConfig, seed: int
) -> list[Example]:
    """Tokenise each problem with one reference solution, phrased (and slipped) at random by ``seed``."""
    rng = random.Random(seed)
    prompts = [format_prompt(p.question) for p in problems]
    solutions = [p.solution(rng, task) for p in problems]
    # Prompt and solution are tokenised separately: the prompt ends with a newline token, so no
    # token can straddle the boundary and the concatenation equals tokenising the whole text.
    prompt_ids = tokenizer(prompts, add_special_tokens=False)["input_ids"]
    solution_ids = tokenizer(solutions, add_special_tokens=False)["input_ids"]
    return [
        Example(p, [*s, tokenizer.eos_token_id], str(problem.answer))
        for p, s, problem in zip(prompt_ids, solution_ids, problems, strict=True)
    ]


class _Examples(Dataset):
    def __init__(self, examples: list[Example]) -> None:
        self.examples = examples

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, i: int) -> Example:
        return self.examples[i]


class LengthGroupedBatches(Sampler[list[int]]):
    """Random batches of similar length: shuffle, sort within windows of ``window`` batches, shuffle
    the batches. Padding is most of the compute on a CPU otherwise (lengths vary about 3x)."""

    def __init__(self, lengths: list[int], batch_size: int, seed: int, window: int = 50) -> None:
        self.lengths, self.batch_size, self.window = lengths, batch_size, window
        self.rng = random.Random(seed)

    def __len__(self) -> int:
        return math.ceil(len(self.lengths) / self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        order = list(range(len(self.lengths)))
        self.rng.shuffle(order)
        span = self.batch_size * self.window
        batches = []
        for start in range(0, len(order), span):
            chunk = sorted(order[start : start + span], key=self.lengths.__getitem__)
            batches.extend(chunk[i : i + self.batch_size] for i in range(0, len(chunk), self.batch_size))
        self.rng.shuffle(batches)
        return iter(batches)


def collate_training(examples: list[Example], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded prompt+solution sequences; labels mask the prompt and the padding (-100)."""
    length = max(len(e.prompt_ids) + len(e.solution_ids) for e in examples)
    input_ids = torch.full((len(examples), length), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), length), -100, dtype=torch.long)
    attention_mask = torch.zeros((len(examples), length), dtype=torch.long)
    for row, e in enumerate(examples):
        ids = e.prompt_ids + e.solution_ids
        input_ids[row, : len(ids)] = torch.tensor(ids)
        labels[row, len(e.prompt_ids) : len(ids)] = torch.tensor(e.solution_ids)
        attention_mask[row, : len(ids)] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


def collate_validation(examples: list[Example], pad_id: int) -> dict[str, Any]:
    """The training batch plus left-padded prompts (for sampling) and the gold answers."""
    batch: dict[str, Any] = collate_training(examples, pad_id)
    length = max(len(e.prompt_ids) for e in examples)
    prompt_ids = torch.full((len(examples), length), pad_id, dtype=torch.long)
    prompt_mask = torch.zeros((len(examples), length), dtype=torch.long)
    for row, e in enumerate(examples):
        prompt_ids[row, length - len(e.prompt_ids) :] = torch.tensor(e.prompt_ids)
        prompt_mask[row, length - len(e.prompt_ids) :] = 1
    batch.update(prompt_ids=prompt_ids, prompt_mask=prompt_mask, answers=[e.answer for e in examples])
    return batch


class ReasonerDataModule(pl.LightningDataModule):
    """Reference solutions of ``reasoner``-split problems for training, ``val``-split ones for selection.

    ``num_train_examples`` solutions are drawn (seeded, with replacement) from every ``reasoner``-split problem.

    ``task`` sets the training problems and the noise of their solutions; ``val_task`` should match the
    benchmark the reasoner will be measured on. A ``prefix_fraction`` of the training examples is cut to the
    first ``prefix_tokens`` solution tokens (no EOS: a cut document, not an ending): the decisive step sits
    in the first ~30 tokens and is what takes learning, while the long elaboration after it is easy copying,
    so most steps can be spent on short sequences (a full batch costs ~6x a short one on a CPU).
    """

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerFast,
        task: TaskConfig,
        val_task: TaskConfig,
        num_train_examples: int = 40_000,
        num_val_problems: int = 32,
        batch_size: int = 32,
        val_batch_size: int = 32,
        prefix_fraction: float = 0.0,
        prefix_tokens: int = 48,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.tokenizer = tokenizer
        self.task, self.val_task = task, val_task
        self.num_train_examples = check_int("data.num_train_examples", num_train_examples)
        self.num_val_problems = check_int("data.num_val_problems", num_val_problems)
        self.batch_size = check_int("data.batch_size", batch_size)
        self.val_batch_size = check_int("data.val_batch_size", val_batch_size)
        self.prefix_fraction = check_range("data.prefix_fraction", prefix_fraction, 0.0, 1.0)
        self.prefix_tokens = check_int("data.prefix_tokens", prefix_tokens)
        self.seed = seed
        self.train_examples: list[Example] = []
        self.val_examples: list[Example] = []

    def setup(self, stage: str | None = None) -> None:
        if self.train_examples:
            return
        # The reasoner split holds ~5k problems: each is seen several times, with freshly phrased (and
        # slipped) solutions, which is what teaches the reasoner the spread of its answers.
        pool = all_problems("reasoner", self.task)
        rng = random.Random(f"train-{self.seed}")
        train = [pool[rng.randrange(len(pool))] for _ in range(self.num_train_examples)]
        val = generate_problems(self.num_val_problems, "val", self.seed, self.val_task)
        self.train_examples = [
            Example(e.prompt_ids, e.solution_ids[: self.prefix_tokens], e.answer)
            if rng.random() < self.prefix_fraction
            else e
            for e in encode_problems(train, self.tokenizer, self.task, self.seed)
        ]
        self.val_examples = encode_problems(val, self.tokenizer, self.val_task, self.seed)

    def train_dataloader(self) -> DataLoader:
        lengths = [len(e.prompt_ids) + len(e.solution_ids) for e in self.train_examples]
        return DataLoader(
            _Examples(self.train_examples),
            batch_sampler=LengthGroupedBatches(lengths, self.batch_size, self.seed),
            collate_fn=partial(collate_training, pad_id=self.tokenizer.pad_token_id),
        )

    def val_dataloader(self) -> DataLoader:
        return DataLoader(
            _Examples(self.val_examples),
            batch_size=self.val_batch_size,
            collate_fn=partial(collate_validation, pad_id=self.tokenizer.pad_token_id),
        )


class ReasonerModule(pl.LightningModule):
    """Next-token training of the tiny reasoner; validation samples at T=1 to rank checkpoints.

    Logged for checkpoint selection: ``val/sample_acc`` (fraction of sampled solutions whose boxed
    answer is right) and ``val/target_gap`` = |sample_acc - target_accuracy| (lower is better). Use
    enough validation samples: with 128 samples the noise (about ±0.04) can outweigh the differences
    between late checkpoints.
    """

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerFast,
        arch: dict[str, int],
        lr: float = 1e-3,
        weight_decay: float = 0.01,
        warmup_steps: int = 50,
        min_lr_ratio: float = 0.1,
        samples_per_problem: int = 4,
        max_new_tokens: int = 320,
        target_accuracy: float = 0.7,
        sampling_seed: int = 1234,
    ) -> None:
        super().__init__()
        # A plain dict (Hydra passes a DictConfig) keeps the checkpoint loadable with weights_only.
        arch = dict(arch)
        self.save_hyperparameters(ignore=["tokenizer"])
        self.tokenizer = tokenizer
        self.model = build_model(tokenizer, **arch)
        self._correct = 0
        self._sampled = 0
        self._digit_ids = torch.tensor(
            tokenizer.convert_tokens_to_ids([f"{space}{d}" for d in range(10) for space in ("", " ")])
        )

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self.model(**batch).loss
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        n = len(batch["answers"])
        out = self.model(batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"])
        self.log("val/loss", out.loss, prog_bar=True, batch_size=n)
        # Probability of writing every digit of the reference solution (given a correct prefix): a
        # deterministic, low-noise companion to the sampled accuracy (phrasing choices do not count).
        labels = batch["labels"][:, 1:]
        token_logp = out.logits[:, :-1].log_softmax(-1).gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
        digit_logp = (token_logp * torch.isin(labels, self._digit_ids.to(labels.device))).sum(-1)
        self.log("val/digit_path_prob", digit_logp.exp().mean(), batch_size=n)
        answers = self.sample_answers(batch["prompt_ids"], batch["prompt_mask"])
        k = self.hparams.samples_per_problem
        gold = [a for a in batch["answers"] for _ in range(k)]
        self._correct += sum(a == g for a, g in zip(answers, gold, strict=True))
        self._sampled += len(gold)

    def on_validation_epoch_end(self) -> None:
        accuracy = self._correct / max(self._sampled, 1)
        self.log("val/sample_acc", accuracy, prog_bar=True)
        self.log("val/target_gap", abs(accuracy - self.hparams.target_accuracy))
        self._correct = self._sampled = 0

    @torch.no_grad()
    def sample_answers(self, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor) -> list[str | None]:
        """Boxed answers of ``samples_per_problem`` pure T=1 samples per prompt (row-major order).

        The RNG is forked and reseeded so every checkpoint is scored on the same random stream
        (less noise when comparing them) without disturbing the training RNG.
        """
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.hparams.sampling_seed)
            out = self.model.generate(
                input_ids=prompt_ids,
                attention_mask=prompt_mask,
                generation_config=GenerationConfig(
                    do_sample=True,
                    temperature=1.0,
                    top_k=0,
                    top_p=1.0,
                    max_new_tokens=self.hparams.max_new_tokens,
                    num_return_sequences=self.hparams.samples_per_problem,
                    eos_token_id=self.tokenizer.eos_token_id,
                    pad_token_id=self.tokenizer.pad_token_id,
                ),
            )
        texts = self.tokenizer.batch_decode(out[:, prompt_ids.shape[1] :], skip_special_tokens=True)
        return [extract_answer(t) for t in texts]

    def configure_optimizers(self) -> dict[str, Any]:
        # No weight decay on norms (1-d weights): decaying them only fights the normalisation.
        decay = [p for p in self.model.parameters() if p.ndim >= 2]
        no_decay = [p for p in self.model.parameters() if p.ndim < 2]
        optimizer = torch.optim.AdamW(
            [
                {"params": decay, "weight_decay": self.hparams.weight_decay},
                {"params": no_decay, "weight_decay": 0.0},
            ],
            lr=self.hparams.lr,
        )
        total = max(self.trainer.max_steps, 1)
        warmup, floor = self.hparams.warmup_steps, self.hparams.min_lr_ratio

        def schedule(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            progress = min((step - warmup) / max(total - warmup, 1), 1.0)
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


def save_reasoner(model: Qwen3ForCausalLM, tokenizer: PreTrainedTokenizerFast, out_dir: str | os.PathLike[str]) -> Path:
    """Write an HF-loadable directory atomically: build it next to ``out_dir``, then swap it in.

    Only an absent or empty ``out_dir``, or an earlier export (its marker file), is replaced.
    """
    out_dir = Path(out_dir)
    claim_output_dir(out_dir, REASONER_MARKER, "output_dir")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}."))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        _portable_tokenizer_class(tmp / "tokenizer_config.json")
        (tmp / REASONER_MARKER).write_text("{}\n")
        _umask_permissions(tmp)
        old = None
        if out_dir.exists():
            old = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.old."))
            os.replace(out_dir, old / out_dir.name)
        os.replace(tmp, out_dir)
        if old is not None:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def _umask_permissions(directory: Path) -> None:
    """Give the export the permissions of a normal write (``mkdtemp`` and some writers use 0o700/0o600)."""
    umask = os.umask(0)
    os.umask(umask)
    directory.chmod(0o777 & ~umask)
    for path in directory.iterdir():
        path.chmod(0o666 & ~umask)


def _portable_tokenizer_class(config_path: Path) -> None:
    """Name the tokenizer class ``PreTrainedTokenizerFast``: transformers 5 writes its internal
    ``TokenizersBackend``, which older transformers (e.g. next to a GPU vLLM) cannot resolve."""
    config = json.loads(config_path.read_text())
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    config_path.write_text(json.dumps(config, indent=2) + "\n")
