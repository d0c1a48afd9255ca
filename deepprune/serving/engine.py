"""The server's one vLLM engine (``AsyncLLM``) and each request's view of it as a pruning-method engine.

Every request runs an unchanged method (:mod:`deepprune.methods`) in a worker thread against a
:class:`RequestEngine`. That engine is :class:`~deepprune.engines.vllm_engine.VllmEngine` with the submission
replaced: its stop rules, sampling parameters, segment bookkeeping and token counts are the offline engine's,
but each segment is an ``AsyncLLM`` request on the server's event loop, batched with every other request's
traces (continuous batching), while the worker thread waits for the segments it submitted.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig

from deepprune.config_checks import remote_code_refusal_names
from deepprune.engines.base import ProblemSpec, StopRule, TraceHandle
from deepprune.engines.vllm_engine import (
    VllmEngine,
    _Segment,
    _TraceState,
    confidences_from_logprobs,
    prepare_engine,
)

log = logging.getLogger(__name__)


class RequestCancelled(Exception):
    """The request's client went away (or the server is stopping): its traces were aborted in the engine."""


@dataclass(frozen=True)
class EngineSettings:
    """What the server's engine is started with and what requests sample with by default (``conf/engine``,
    ``conf/model``)."""

    model_name: str
    model_path: str
    temperature: float
    top_p: float
    top_k: int
    max_tokens: int
    logprobs_k: int
    chat_template: bool
    chat_template_kwargs: Mapping[str, Any]
    trust_remote_code: bool
    seed: int
    vllm_args: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_config(cls, engine: DictConfig) -> EngineSettings:
        """Checked like :class:`VllmEngine` checks them, before the engine starts (minutes on a large model)."""
        path = prepare_engine(
            engine.max_tokens, engine.temperature, engine.top_p, engine.top_k, engine.logprobs_k, engine.seed,
            engine.get("cpu_kvcache_space"), engine.model_builder, engine.model_path, engine.model_name,
            bool(engine.trust_remote_code),
        )  # fmt: skip
        names = (
            "dtype",
            "gpu_memory_utilization",
            "max_model_len",
            "enforce_eager",
            "block_size",
            "enable_prefix_caching",
            "max_num_seqs",
            "tensor_parallel_size",
            "pipeline_parallel_size",
            "distributed_executor_backend",
        )
        return cls(
            model_name=str(engine.model_name),
            model_path=path,
            temperature=float(engine.temperature),
            top_p=float(engine.top_p),
            top_k=int(engine.top_k),
            max_tokens=int(engine.max_tokens),
            logprobs_k=int(engine.logprobs_k),
            chat_template=bool(engine.chat_template),
            chat_template_kwargs=dict(engine.chat_template_kwargs),
            trust_remote_code=bool(engine.trust_remote_code),
            seed=int(engine.seed),
            vllm_args={name: engine[name] for name in names if engine.get(name) is not None},
        )


@dataclass
class SegmentResult:
    """One ``AsyncLLM`` request as it ended: what a :class:`_Segment` needs, before confidences are computed."""

    ids: list[int] = field(default_factory=list)
    logprobs: list[Any] = field(default_factory=list)
    finish_reason: str | None = None
    cached_tokens: int = 0


class SharedEngine:
    """The server's ``AsyncLLM`` and tokenizer; built inside the running event loop (:meth:`start`)."""

    def __init__(self, settings: EngineSettings, llm: Any, tokenizer: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.settings, self.llm, self.tokenizer, self.loop = settings, llm, tokenizer, loop
        self.eos_id = tokenizer.eos_token_id
        if self.eos_id is None:
            raise ValueError(f"the tokenizer at {settings.model_path} has no eos_token_id (needed to stop traces)")
        self.max_model_len = int(llm.model_config.max_model_len)
        self._ids = itertools.count()

    @classmethod
    def start(cls, settings: EngineSettings) -> SharedEngine:
        """Start vLLM's async engine (its EngineCore runs in a process of its own) and load the tokenizer."""
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        if os.environ.get("VLLM_ENABLE_V1_MULTIPROCESSING") == "0":
            # AsyncLLM runs its EngineCore in a process of its own whatever this says; 0 would only make the CPU
            # backend run the model there without its worker process and OMP set-up: 5x slower here, with stalls.
            log.info("VLLM_ENABLE_V1_MULTIPROCESSING=0 ignored: the server's engine runs in processes of its own")
            os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "1"
        from transformers import AutoTokenizer
        from vllm.engine.arg_utils import AsyncEngineArgs
        from vllm.v1.engine.async_llm import AsyncLLM

        from deepprune.engines.logits_processors import ConfidenceStopProcessor, ReasoningWordsStopProcessor
        from deepprune.engines.process_guard import guard_engine_processes
        from deepprune.interrupts import deferred_interrupts

        # The EngineCore dies with this process (even on kill -9) and ignores the terminal's Ctrl-C.
        guard_engine_processes()
        args = AsyncEngineArgs(
            model=settings.model_path,
            tokenizer=settings.model_path,
            seed=settings.seed,
            trust_remote_code=settings.trust_remote_code,
            logits_processors=[ConfidenceStopProcessor, ReasoningWordsStopProcessor],
            disable_log_stats=False,  # the Prometheus counters (/metrics) are how the engine reports its tokens
            **settings.vllm_args,
        )
        # vLLM's start-up can lose a KeyboardInterrupt raised inside it: the signal is held until it returns.
        with deferred_interrupts():
            llm = AsyncLLM.from_engine_args(args)
        try:
            with remote_code_refusal_names(settings.model_path, "model.trust_remote_code"):
                tokenizer = AutoTokenizer.from_pretrained(
                    settings.model_path, trust_remote_code=settings.trust_remote_code, local_files_only=True
                )
            return cls(settings, llm, tokenizer, asyncio.get_running_loop())
        except BaseException:
            llm.shutdown()
            raise

    def close(self) -> None:
        self.llm.shutdown()

    def running_requests(self) -> int:
        """Engine requests (trace segments) not finished or aborted yet, as the engine's front end counts them."""
        return int(self.llm.get_num_unfinished_requests())

    def has_chat_template(self) -> bool:
        return self.settings.chat_template and bool(getattr(self.tokenizer, "chat_template", None))

    def render_chat(self, messages: Sequence[Mapping[str, str]]) -> list[int]:
        """Token ids of a conversation through the model's chat template, with the assistant's turn opened."""
        text = self.tokenizer.apply_chat_template(
            list(messages), tokenize=False, add_generation_prompt=True, **self.settings.chat_template_kwargs
        )
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])  # the template writes any BOS

    def render_text(self, prompt: str) -> list[int]:
        """Token ids of a plain completion prompt (no template, as ``/v1/completions`` means)."""
        return list(self.tokenizer(prompt)["input_ids"])

    async def generate(self, name: str, segments: Sequence[tuple[list[int], Any]]) -> list[SegmentResult]:
        """Run ``segments`` (prompt ids, sampling parameters) as engine requests until each ends.

        A task group: if one fails or the caller is cancelled, the others are cancelled, and vLLM's ``generate``
        aborts a cancelled request in the engine, so nothing keeps generating for a request nobody waits for.
        """
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(self._one(f"{name}-{next(self._ids)}", *segment)) for segment in segments]
        except ExceptionGroup as errors:
            raise errors.exceptions[0] from None  # the engine's own error (e.g. EngineDeadError), not the group's
        return [task.result() for task in tasks]

    async def _one(self, request_id: str, prompt_ids: list[int], params: Any) -> SegmentResult:
        from vllm.inputs import TokensPrompt

        result = SegmentResult()
        async for output in self.llm.generate(TokensPrompt(prompt_token_ids=prompt_ids), params, request_id):
            completion = output.outputs[0]
            result.ids.extend(completion.token_ids)
            if completion.logprobs:
                result.logprobs.append(completion.logprobs)  # confidences are computed in the worker thread
            if output.finished:
                result.finish_reason = completion.finish_reason
                result.cached_tokens = output.num_cached_tokens or 0
        return result


class Cancellation:
    """A request's cancel switch, shared by its worker thread (which submits) and the event loop (which cancels).

    The lock makes "check, then submit" and "set, then cancel what was submitted" atomic with respect to each
    other, so a cancel can never miss a segment submitted at the same moment.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._future: concurrent.futures.Future | None = None
        self.cancelled = False

    def run(self, loop: asyncio.AbstractEventLoop, coroutine: Any) -> Any:
        """Run ``coroutine`` on ``loop`` and wait for it (worker thread); :class:`RequestCancelled` once cancelled."""
        with self._lock:
            if self.cancelled:
                coroutine.close()
                raise RequestCancelled
            self._future = future = asyncio.run_coroutine_threadsafe(coroutine, loop)
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            raise RequestCancelled from None

    def cancel(self) -> None:
        with self._lock:
            self.cancelled = True
            if self._future is not None:
                self._future.cancel()  # cancels the task on the loop, which aborts its engine requests


@dataclass(frozen=True)
class Sampling:
    """One request's sampling values (the model's defaults unless the request set them)."""

    temperature: float
    top_p: float
    max_tokens: int


class RequestEngine(VllmEngine):
    """One request's traces on the server's shared engine (see the module docstring).

    ``VllmEngine.__init__`` is not called, since it starts an engine of its own; this sets the attributes its
    trace methods read. ``on_generate`` runs before each submission (the request gives up its judge turn).
    """

    name = "vllm_async"

    def __init__(
        self,
        shared: SharedEngine,
        request_id: str,
        prompt_ids: list[int],
        sampling: Sampling,
        extract_answer: Callable[[str], str | None],
        cancellation: Cancellation,
        on_generate: Callable[[], None] | None = None,
    ) -> None:
        settings = shared.settings
        self.shared, self.request_id, self.prompt_ids = shared, request_id, prompt_ids
        self.cancellation, self.on_generate = cancellation, on_generate
        self.temperature, self.top_p, self.top_k = sampling.temperature, sampling.top_p, settings.top_k
        self.max_tokens, self.logprobs_k, self.seed = sampling.max_tokens, settings.logprobs_k, settings.seed
        # Per-trace seeds crash the CPU build on large batches (docs/vllm.md); the engine's seed alone is used.
        self.per_request_seed, self.progress = False, False
        self.eos_id, self.max_model_len = shared.eos_id, shared.max_model_len
        self.extract_answer, self._problems = extract_answer, None
        self.generated_tokens = self.prompt_tokens = self.cached_prompt_tokens = 0
        self.generation_s = 0.0

    def start(self, problem: ProblemSpec, n: int | None, seed: int = 0) -> list[TraceHandle]:
        if n is None or n < 1:
            raise ValueError(f"n must be a positive number, got {n}")
        return [TraceHandle(index=i, confs=[], state=_TraceState(self.prompt_ids, 0)) for i in range(n)]

    def _run(self, jobs: list[tuple[TraceHandle, Any]], until: StopRule) -> None:
        if self.on_generate is not None:
            self.on_generate()
        prompts = [handle.state.prompt_ids + handle.state.output_ids for handle, _ in jobs]
        for _, params in jobs:
            # vLLM's front end would decode every top-k logprob token (k per generated token) on the event loop,
            # which then answers nobody for seconds under load; the worker decodes the trace's text instead.
            params.detokenize = False
        started = time.perf_counter()
        try:
            segments = [(prompt, params) for prompt, (_, params) in zip(prompts, jobs, strict=True)]
            coroutine = self.shared.generate(self.request_id, segments)
            results = self.cancellation.run(self.shared.loop, coroutine)
        finally:
            self.generation_s += time.perf_counter() - started
        for prompt, (handle, _), result in zip(prompts, jobs, results, strict=True):
            state = handle.state
            # The whole trace decoded at once (pieces decoded apart could differ where they join); _settle appends
            # the segment's text to the state's, so the state's text starts empty.
            text = self.shared.tokenizer.decode(state.output_ids + result.ids, skip_special_tokens=True)
            state.text = ""
            segment = _Segment(handle, ids=result.ids, text=text, finish_reason=result.finish_reason)
            for logprobs in result.logprobs:
                segment.confs.extend(confidences_from_logprobs(logprobs, self.logprobs_k))
            self.prompt_tokens += len(prompt)
            self.cached_prompt_tokens += result.cached_tokens
            self._settle(segment, until)
