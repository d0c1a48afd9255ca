"""One request's pruned self-consistency: a pruning method run in a worker thread, and what it measured.

The methods are the offline ones, unchanged (:class:`~deepprune.methods.deepprune.DeepPruneMethod` clusters
with the same code as ``prune.py``); :class:`MethodCatalog` builds one per request from the server's method
configs and the request's knobs. The judge is shared by every request: :class:`RequestJudge` gives a request the
judge for the whole of its clustering (reset, prepare, scores), so two requests' per-problem caches never mix,
and counts that request's judge calls and tokens itself.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from hydra.utils import instantiate
from omegaconf import DictConfig

from deepprune.data.answers import AnswerChecker
from deepprune.data.truncation import TruncationRule
from deepprune.engines.base import ProblemSpec, TraceHandle
from deepprune.instantiate import build
from deepprune.judges.base import Judge, Prefix, PrefixPair
from deepprune.methods.base import Method, MethodOutcome
from deepprune.serving.engine import Cancellation, RequestEngine, Sampling, SharedEngine

# Constructor arguments a request may not set: the trace count is the request's own `n`, and the rest is fixed by
# the server (what the judge reads, which config key holds its tau, the cons@n curve, DeepConf's variant).
SERVER_ONLY = frozenset({"self", "n", "truncation", "threshold_key", "curve", "variant"})


class RequestError(ValueError):
    """A request value the server refuses: HTTP ``status`` (400 unless said), ``param`` names the request field."""

    def __init__(self, message: str, param: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.param, self.status = param, status


class MethodCatalog:
    """The methods a request may name, built per request from the server's configs and the request's knobs."""

    def __init__(self, nodes: Mapping[str, DictConfig], truncation: TruncationRule, judge: Judge | None) -> None:
        self.truncation, self.judge = truncation, judge
        self._factories: dict[str, Callable[..., Method]] = {}
        self._knobs: dict[str, tuple[str, ...]] = {}
        for name, node in nodes.items():
            # Every config value is checked (threshold=auto without a recorded tau included) before the engine starts.
            build(node, truncation=truncation).bind(judge)
            # Hydra resolves the config once; a request's values then go to the constructor as plain Python values
            # (never through OmegaConf, whose ${...} interpolation a request string must not reach).
            factory = instantiate(node, _partial_=True)
            self._factories[name] = factory
            parameters = inspect.signature(factory.func).parameters
            self._knobs[name] = tuple(p for p in parameters if p not in SERVER_ONLY)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._factories)

    def knobs(self, name: str) -> tuple[str, ...]:
        return self._knobs[name]

    def build(self, name: str, n: int, knobs: Mapping[str, Any]) -> Method:
        """The method ``name`` with ``n`` traces and the request's knobs; a bad value is a :class:`RequestError`
        naming the request field (``deepprune.threshold``)."""
        factory = self._factories[name]
        values: dict[str, Any] = {"n": n, **knobs}
        warmup = factory.keywords.get("warmup")
        if isinstance(warmup, int) and "warmup" not in knobs and warmup > n:
            # DeepConf's warmup may not exceed n: a request with fewer traces makes them all warmup traces.
            values["warmup"] = n
        slots = {"truncation": self.truncation} if "truncation" in inspect.signature(factory.func).parameters else {}
        try:
            method = factory(**values, **slots)
            method.bind(self.judge)
        except ValueError as err:
            # The constructors name their config keys (method.threshold); the request names them deepprune.<knob>.
            message = str(err).replace("method.n", "n").replace("method.", "deepprune.")
            field = next((f"deepprune.{k}" for k in knobs if f"deepprune.{k}" in message), None)
            raise RequestError(message, field or ("n" if message.startswith("n ") else "deepprune")) from None
        return method


class RequestJudge(Judge):
    """The shared judge as one request sees it: held by the request from its first judge call until it generates
    again or ends (:meth:`release`), with its own counts of pairs scored and tokens read."""

    def __init__(self, judge: Judge, lock: threading.Lock) -> None:
        super().__init__()
        self.judge, self.lock, self.held = judge, lock, False
        self.name, self.truncation, self.meta = judge.name, judge.truncation, judge.meta

    def _hold(self) -> None:
        if not self.held:
            self.lock.acquire()
            self.held = True

    def release(self) -> None:
        if self.held:
            self.held = False
            self.lock.release()

    def reset(self) -> None:
        self._hold()
        self.judge.reset()

    def prepare(self, prefixes: Sequence[Prefix]) -> None:
        self._hold()
        before = self.judge.tokens_read
        self.judge.prepare(prefixes)
        self.tokens_read += self.judge.tokens_read - before

    def _score(self, pairs: Sequence[PrefixPair]) -> np.ndarray:
        self._hold()
        before = self.judge.tokens_read
        scores = self.judge.score(pairs)
        self.tokens_read += self.judge.tokens_read - before
        return scores


@dataclass
class JobResult:
    """What one request generated and decided, all measured for this request."""

    method: str
    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    answer: str | None
    vote_share: float | None
    outcome: MethodOutcome
    prefill_tokens: int
    cached_prompt_tokens: int

    def report(self) -> dict[str, Any]:
        """The response's ``deepprune`` object."""
        traces = self.outcome.traces
        return {
            "method": self.method,
            "answer": self.answer,
            "vote_share": self.vote_share,
            "traces_started": sum(t.num_tokens > 0 for t in traces),
            "traces_stopped": sum(t.stopped for t in traces),
            "traces_finished": sum(t.finished for t in traces),
            "clusters": self.outcome.extra.get("clusters"),
            "judge_calls": self.outcome.judge_calls,
            "judge_tokens": self.outcome.judge_tokens,
            "judge_seconds": round(self.outcome.judge_seconds, 4),
            "generation_seconds": round(self.outcome.generation_seconds, 4),
            "prefill_tokens": self.prefill_tokens,
            "cached_prompt_tokens": self.cached_prompt_tokens,
            "traces": [_trace_report(t) for t in traces],
        }


def _trace_report(trace: TraceHandle) -> dict[str, Any]:
    status = "finished" if trace.finished else "stopped" if trace.stopped else "not started"
    return {"tokens": trace.num_tokens, "status": status, "reason": trace.finish_reason, "answer": trace.answer}


class PrunedJob:
    """One request: :meth:`run` in a worker thread, :meth:`cancel` from anywhere (the client went away)."""

    def __init__(
        self,
        *,
        request_id: str,
        method: Method,
        prompt_ids: list[int],
        sampling: Sampling,
        shared: SharedEngine,
        checker: AnswerChecker,
        judge: Judge | None,
        judge_lock: threading.Lock,
        seed: int,
    ) -> None:
        self.request_id, self.method, self.prompt_ids = request_id, method, prompt_ids
        self.sampling, self.shared, self.checker, self.seed = sampling, shared, checker, seed
        self.judge = RequestJudge(judge, judge_lock) if method.needs_judge and judge is not None else None
        self.cancellation = Cancellation()
        self.started = False

    def cancel(self) -> None:
        self.cancellation.cancel()

    def run(self) -> JobResult:
        self.started = True
        engine = RequestEngine(
            self.shared,
            self.request_id,
            self.prompt_ids,
            self.sampling,
            self.checker.extract,
            self.cancellation,
            on_generate=self.judge.release if self.judge is not None else None,
        )
        problem = ProblemSpec(id=self.request_id, question="", gold="")
        try:
            outcome = self.method.run(problem, engine, self.checker, self.judge, seed=self.seed)
        finally:
            if self.judge is not None:
                self.judge.release()
        return self._result(outcome, engine)

    def _result(self, outcome: MethodOutcome, engine: RequestEngine) -> JobResult:
        """The vote's winner: the first finished trace (by index) whose answer is the voted one."""
        finished = [t for t in outcome.traces if t.finished] or outcome.traces
        voters = [t for t in finished if t.answer is not None]
        labels = self.checker.group([outcome.predicted, *[t.answer for t in voters]])
        won, voter_labels = labels[0], labels[1:]
        share = None
        winner = finished[0]
        if won is not None and voters:
            share = sum(label == won for label in voter_labels) / len(voters)
            winner = next((t for t, label in zip(voters, voter_labels, strict=True) if label == won), winner)
        return JobResult(
            method=self.method.name,
            text=winner.text,
            finish_reason="stop" if winner.finish_reason == "stop" else "length",
            prompt_tokens=len(self.prompt_ids),
            completion_tokens=outcome.tokens,
            answer=outcome.predicted,
            vote_share=share,
            outcome=outcome,
            prefill_tokens=engine.prompt_tokens,
            cached_prompt_tokens=engine.cached_prompt_tokens,
        )
