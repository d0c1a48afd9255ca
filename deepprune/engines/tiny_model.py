"""A tiny random-init Qwen3 model for exercising the vLLM engine on CPU (tests, benchmarks).

It knows nothing, but it is a real vLLM model: a word-level vocabulary that contains the reasoning
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

from deepprune.data.io import claim_output_dir

PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"

# Words carry their leading space (one token per word, so marker words always stand alone); digits and
# symbols come bare, so a decoded trace reads like (nonsense) text with "\boxed{...}" answers now and then.
_WORDS = (
    "wait alternatively hmm but so therefore let me check Wait So But the answer is we find a number "
    "of ways to count it and then try again this gives which means that"
).split()
_SYMBOLS = list("0123456789.,=+-*/():") + ["\\boxed{", "}", "\n"]
# Bumped whenever the builder's output changes, so cached copies are rebuilt.
_VERSION = 2
_MARKER = "deepprune_tiny_model.json"


def _vocab() -> list[str]:
    pieces = [PAD, BOS, EOS, UNK]
    return pieces + [" " + word for word in _WORDS] + _SYMBOLS


def _write(directory: Path) -> None:
    import torch
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from deepprune.models import tiny_qwen3

    pieces = _vocab()
    vocab = {piece: i for i, piece in enumerate(pieces)}
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    # One token per word/digit/symbol carrying its leading space; Fuse concatenates them back, so
    # decode(encode(text)) == text for text made of known pieces.
    tokenizer.pre_tokenizer = pre_tokenizers.Split(
        Regex(r" ?\\boxed\{| ?[A-Za-z]+| ?\d| ?[^\sA-Za-z\d]|\n| "), behavior="isolated"
    )
    tokenizer.decoder = decoders.Fuse()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token=BOS, eos_token=EOS, unk_token=UNK, pad_token=PAD
    )
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
