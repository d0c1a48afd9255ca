"""Tiny random-init Qwen3 models, built locally without a download: the real architecture at CPU scale.

- :func:`tiny_qwen3`: the one builder of such a model (the demo's reasoner starts from it too).
- :func:`word_level_tokenizer`: the one word-level tokenizer builder (one token per word, digit and symbol).
- :func:`build_tiny_model` (``model=tiny_test``): a model for exercising the vLLM engine on CPU (tests,
  benchmarks). It knows nothing, but it is a real vLLM model: a word-level vocabulary that contains the reasoning
marker words (so ``ReasoningWords`` stops happen), an EOS that is sampled now and then (so traces end
on their own), and weights scaled so that next-token distributions differ from step to step (so
DeepConf confidences vary along a trace). Built deterministically, without any download.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from transformers import PreTrainedTokenizerFast, Qwen3Config, Qwen3ForCausalLM

from deepprune.data.io import claim_output_dir
from deepprune.data.tokenizer import bundled_minilm_path

PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"

# Words carry their leading space (one token per word, so marker words always stand alone); digits and
# symbols come bare, so a decoded trace reads like (nonsense) text with "\boxed{...}" answers now and then.
_WORDS = (
    "wait alternatively hmm but so therefore let me check Wait So But the answer is we find a number "
    "of ways to count it and then try again this gives which means that"
).split()
_SYMBOLS = list("0123456789.,=+-*/():") + ["\\boxed{", "}", "\n", " "]
# Bumped whenever the builder's output changes, so cached copies are rebuilt.
_VERSION = 3
_MARKER = "deepprune_tiny_model.json"
_TINY_JUDGE_MARKER = "deepprune_tiny_judge_base.json"
# One token per word, per digit and per symbol, each carrying its leading space if it has one; with the Fuse
# decoder, decode(encode(text)) == text for text made of known pieces.
PIECE_PATTERN = r" ?\\boxed\{| ?\d| ?[A-Za-z]+| ?[^\sA-Za-z\d]|\s"


def _vocab() -> list[str]:
    pieces = [PAD, BOS, EOS, UNK]
    return pieces + [" " + word for word in _WORDS] + _SYMBOLS


def _write(directory: Path) -> None:
    import torch

    pieces = _vocab()
    vocab = {piece: i for i, piece in enumerate(pieces)}
    fast = word_level_tokenizer(pieces)
    fast.save_pretrained(directory)

    torch.manual_seed(0)
    model = tiny_qwen3(
        vocab_size=len(pieces),
        hidden_size=128,
        intermediate_size=256,
        num_layers=2,
        max_position_embeddings=4096,
        tie_word_embeddings=False,
        bos_token_id=vocab[BOS],
        eos_token_id=vocab[EOS],
        pad_token_id=vocab[PAD],
    )
    with torch.no_grad():
        # Default init (std 0.02) gives near-uniform next-token distributions, i.e. constant
        # confidence; larger output weights make the distribution, and so the confidence, vary.
        # With this scale (seed 0) sampled traces end on their own after ~50-400 tokens.
        model.lm_head.weight.normal_(0.0, 0.2)
    model.save_pretrained(directory, safe_serialization=True)
    (directory / _MARKER).write_text(json.dumps({"version": _VERSION}) + "\n")


def _built_version(marker: Path) -> int | None:
    try:
        return json.loads(marker.read_text()).get("version")
    except (OSError, ValueError, AttributeError):
        return None


def build_tiny_model(directory: str | os.PathLike[str] | None = None) -> str:
    """Build the tiny model into ``directory`` (default: a per-user cache dir) unless already there.

    Returns the directory (a normal Hugging Face model dir: config, safetensors weights, tokenizer).
    Built in a temporary sibling and renamed into place, so concurrent builders never see half a model.
    Only an absent or empty directory, or one holding an earlier build (its marker file), is written:
    anything else (a user's model, their files) is refused, never replaced.
    """
    target = Path(directory) if directory else Path(tempfile.gettempdir()) / f"deepprune-tiny-{os.getuid()}"
    ours = claim_output_dir(target, _MARKER, "model.path")
    if ours and _built_version(target / _MARKER) == _VERSION:
        return str(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        _write(staging)
        if ours:  # an older build of ours (its marker says so): the only directory this function replaces
            shutil.rmtree(target)
        os.replace(staging, target)  # onto an absent or empty directory
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return str(target)


def word_level_tokenizer(pieces: list[str], **kwargs: Any) -> PreTrainedTokenizerFast:
    """A word-level tokenizer over ``pieces`` (ids in list order; the special tokens PAD, BOS, EOS, UNK first).

    Text is split by :data:`PIECE_PATTERN`; a piece outside the vocabulary becomes UNK. ``kwargs`` go to
    ``PreTrainedTokenizerFast`` (e.g. ``chat_template``, ``model_max_length``).
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

    backend = Tokenizer(models.WordLevel({piece: i for i, piece in enumerate(pieces)}, unk_token=UNK))
    backend.pre_tokenizer = pre_tokenizers.Split(Regex(PIECE_PATTERN), behavior="isolated")
    backend.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        clean_up_tokenization_spaces=False,
        **kwargs,
    )


def tiny_qwen3(
    vocab_size: int,
    hidden_size: int,
    intermediate_size: int,
    num_layers: int,
    max_position_embeddings: int,
    tie_word_embeddings: bool,
    pad_token_id: int | None,
    bos_token_id: int | None = None,
    eos_token_id: int | None = None,
    num_attention_heads: int = 2,
    num_key_value_heads: int = 1,
    head_dim: int = 64,
) -> Qwen3ForCausalLM:
    """A random-init Qwen3 (the real architecture, so vLLM and the LoRA code paths run on it).

    ``head_dim`` stays 64 by default: vLLM's CPU attention rejects smaller heads. The weights come from
    torch's global generator: seed it first for a reproducible model.
    """
    config = Qwen3Config(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_attention_heads,
        num_key_value_heads=num_key_value_heads,
        head_dim=head_dim,
        max_position_embeddings=max_position_embeddings,
        tie_word_embeddings=tie_word_embeddings,
        bos_token_id=bos_token_id,
        eos_token_id=eos_token_id,
        pad_token_id=pad_token_id,
    )
    return Qwen3ForCausalLM(config)


def tiny_judge_base(out_dir: str | os.PathLike[str], seed: int, hidden_size: int, num_layers: int) -> str:
    """Write a random-init tiny Qwen3 with the bundled MiniLM tokenizer to ``out_dir``; return the directory.

    The base of ``judge=tiny_qwen3`` (CI): the decoder + LoRA path of Qwen3-4B on CPU, without a download.
    A model this function wrote there before is reused; a directory it did not write (not empty, no marker
    file) is refused rather than written into.
    """
    import torch
    from transformers import AutoTokenizer

    out = Path(out_dir)
    if claim_output_dir(out, _TINY_JUDGE_MARKER, "judge.path.out_dir"):
        return str(out)
    tokenizer = AutoTokenizer.from_pretrained(bundled_minilm_path(), local_files_only=True)
    torch.manual_seed(seed)
    model = tiny_qwen3(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_layers=num_layers,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
    )
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / _TINY_JUDGE_MARKER).write_text("{}\n")  # written last: a half-written directory is not reused
    return str(out)
