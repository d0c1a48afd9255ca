"""vLLM logits processors that end a trace inside the engine, exactly where a stop rule fires.

A processor cannot end a request directly; it forces the next token to be EOS (every other logit set to
-inf), which vLLM ends with ``finish_reason="stop"``. Requests opt in through
``SamplingParams(extra_args={CONF_STOP: {...}})`` or ``{WORDS_STOP: {...}}``; all other requests pass
through untouched. Both classes are registered with ``LLM(logits_processors=[...])``.

* :class:`ConfidenceStopProcessor` (DeepConf online): computes the token confidence
  ``C_i = -(1/k) * sum_{j<=k} log P_i(j)`` over the top-k raw logprobs of the distribution token ``i`` is
  sampled from, and once the mean over the last ``window`` confidences (earlier segments included) is
  below ``threshold`` it makes token ``i`` the EOS: the trace keeps ``i + 1`` tokens, as in
  :func:`deepprune.engines.replay.first_window_below`.
* :class:`ReasoningWordsStopProcessor`: counts reasoning-marker words in the decoded text with the same
  regex as :class:`deepprune.data.truncation.ReasoningWords` and forces EOS once the k-th marker is
  *confirmed*, i.e. followed by a character that shows the word ended ("so" is not yet a marker while
  it could still become "some"). The trace then ends ``[..., marker, next token, EOS]``; the engine drops
  that EOS before continuing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import torch
from vllm.config import VllmConfig
from vllm.sampling_params import SamplingParams
from vllm.v1.sample.logits_processor import BatchUpdate, LogitsProcessor
from vllm.v1.sample.logits_processor.builtin import process_dict_updates

from deepprune.data.truncation import ReasoningWords

CONF_STOP = "deepprune_conf_stop"
WORDS_STOP = "deepprune_words_stop"


def _force_eos(logits: torch.Tensor, row: int, eos: int) -> None:
    logits[row].fill_(float("-inf"))
    logits[row, eos] = 0.0


def token_confidences(logprobs: torch.Tensor, k: int) -> torch.Tensor:
    """DeepConf token confidence of each row: minus the mean of its top-``k`` log-probabilities."""
    return -logprobs.topk(k, dim=-1).values.to(torch.float64).mean(dim=-1)


@dataclass
class _ConfState:
    """Sliding window over one request's confidences; ``values`` starts with earlier segments' tail."""

    output_ids: list[int]  # vLLM's live list of the request's output tokens
    threshold: float
    window: int
    eos: int
    k: int
    values: list[float]
    base: int = 0  # output length at which ``values`` ends (positions before it come from the history)
    total: float = 0.0

    def __post_init__(self) -> None:
        self.values = self.values[-(self.window - 1) :] if self.window > 1 else []
        self.total = float(sum(self.values))

    def push(self, position: int, conf: float) -> bool:
        """Record the confidence at output ``position``; True when the window ending there is below."""
        # A position seen again (a chunked-prefill step whose sample vLLM discarded) replaces its value.
        if position < self.base:
            self.total -= self.values.pop()
            self.base -= 1
        self.values.append(conf)
        self.total += conf
        self.base = position + 1
        if len(self.values) > self.window:
            self.total -= self.values.pop(0)
        return len(self.values) == self.window and self.total / self.window < self.threshold


class ConfidenceStopProcessor(LogitsProcessor):
    """DeepConf's in-engine stop (see module docstring); arguments in ``extra_args[CONF_STOP]``:
    ``threshold``, ``window``, ``eos``, ``k`` and ``history`` (confidences of earlier segments)."""

    def __init__(self, vllm_config: VllmConfig, device: torch.device, is_pin_memory: bool) -> None:
        self.states: dict[int, _ConfState] = {}

    def is_argmax_invariant(self) -> bool:
        # It changes which token wins; vLLM must call it for greedy requests too, on raw logits.
        return False

    @staticmethod
    def _new_state(params: SamplingParams, prompt_ids: list[int] | None, output_ids: list[int]) -> _ConfState | None:
        args = (params.extra_args or {}).get(CONF_STOP)
        if args is None:
            return None
        return _ConfState(
            output_ids=output_ids,
            threshold=float(args["threshold"]),
            window=int(args["window"]),
            eos=int(args["eos"]),
            k=int(args["k"]),
            values=[float(v) for v in args.get("history", ())],
        )

    def update_state(self, batch_update: BatchUpdate | None) -> None:
        process_dict_updates(self.states, batch_update, self._new_state)

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        if not self.states:
            return logits
        rows = list(self.states)
        # Same op and dtype as vLLM's raw logprobs, so these match the returned logprobs exactly.
        logprobs = logits[rows].to(torch.float32).log_softmax(dim=-1)
        ks = {state.k for state in self.states.values()}
        by_k = {k: token_confidences(logprobs, k).tolist() for k in ks}
        for i, row in enumerate(rows):
            state = self.states[row]
            if state.push(len(state.output_ids), by_k[state.k][i]):
                _force_eos(logits, row, state.eos)
        return logits


@dataclass
class MarkerCounter:
    """Counts confirmed reasoning markers in a text fed piece by piece, keeping only a short tail.

    A match counts once a character follows it (the regex's closing ``\\b`` is then decided for good),
    so the count equals ``len(pattern.findall(text))`` minus a possible match touching the end. It is
    seeded from ``(context, scan, count)`` so a continued trace counts on from its earlier segments.
    """

    pattern: re.Pattern
    max_len: int
    text: str = ""
    scan: int = 0
    count: int = 0

    @classmethod
    def for_words(cls, words: tuple[str, ...] | list[str], text: str = "") -> MarkerCounter:
        rule = ReasoningWords(1, tuple(words))
        counter = cls(rule.pattern, max(len(w) for w in rule.words))
        counter.feed(text)
        return counter

    def feed(self, piece: str) -> int:
        """Append decoded text; returns the number of confirmed markers so far."""
        self.text += piece
        while True:
            match = self.pattern.search(self.text, self.scan)
            if match is None:
                # A match not found now must start within the last max_len characters later on.
                self.scan = max(self.scan, len(self.text) - self.max_len)
                break
            if match.end() >= len(self.text):
                self.scan = match.start()  # undecided: wait for the next character
                break
            self.count += 1
            self.scan = match.end()
        # Keep one character before the scan position: the regex's opening \b looks at it.
        if self.scan > 1:
            self.text, self.scan = self.text[self.scan - 1 :], 1
        return self.count

    def state(self) -> dict[str, Any]:
        return {"context": self.text, "scan": self.scan, "count": self.count}


@dataclass
class _WordsState:
    output_ids: list[int]
    counter: MarkerCounter
    k: int
    eos: int
    stream: Any  # tokenizers.decoders.DecodeStream primed with the prompt, as vLLM's detokenizer is
    decoded: int = 0


class ReasoningWordsStopProcessor(LogitsProcessor):
    """Forces EOS after the k-th confirmed marker; ``extra_args[WORDS_STOP]``: ``k``, ``words``, ``eos``
    and the counter state of earlier segments (``context``, ``scan``, ``count``)."""

    def __init__(self, vllm_config: VllmConfig, device: torch.device, is_pin_memory: bool) -> None:
        from vllm.tokenizers import cached_tokenizer_from_config

        tokenizer = cached_tokenizer_from_config(vllm_config.model_config)
        backend = getattr(tokenizer, "_tokenizer", None)
        # Text must be decoded exactly as vLLM decodes the output; that needs a fast tokenizer.
        self.backend = backend if backend is not None and hasattr(backend, "decode_batch") else None
        self.states: dict[int, _WordsState] = {}
        self.patterns: dict[tuple[str, ...], tuple[re.Pattern, int]] = {}

    def is_argmax_invariant(self) -> bool:
        return False

    def _new_state(
        self, params: SamplingParams, prompt_ids: list[int] | None, output_ids: list[int]
    ) -> _WordsState | None:
        args = (params.extra_args or {}).get(WORDS_STOP)
        if args is None:
            return None
        if self.backend is None:
            raise ValueError("truncation=reasoning_words on vLLM needs a model with a fast (tokenizers) tokenizer")
        from tokenizers.decoders import DecodeStream

        words = tuple(args["words"])
        if words not in self.patterns:
            rule = ReasoningWords(1, words)
            self.patterns[words] = (rule.pattern, max(len(w) for w in rule.words))
        pattern, max_len = self.patterns[words]
        counter = MarkerCounter(pattern, max_len, args["context"], int(args["scan"]), int(args["count"]))
        stream = DecodeStream(ids=list(prompt_ids or []), skip_special_tokens=bool(params.skip_special_tokens))
        return _WordsState(output_ids, counter, int(args["k"]), int(args["eos"]), stream)

    def update_state(self, batch_update: BatchUpdate | None) -> None:
        process_dict_updates(self.states, batch_update, self._new_state)

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        for row, state in self.states.items():
            # Decode what was sampled since the last call (one token per step in plain decoding).
            while state.decoded < len(state.output_ids):
                piece = state.stream.step(self.backend, state.output_ids[state.decoded])
                state.decoded += 1
                if piece:
                    state.counter.feed(piece)
            if state.counter.count >= state.k:
                _force_eos(logits, row, state.eos)
        return logits
