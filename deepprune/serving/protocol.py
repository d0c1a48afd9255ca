"""Request bodies in, response bodies out: the OpenAI wire format plus the ``deepprune`` fields.

Every value a request may set is checked here, and a bad one is a :class:`~deepprune.serving.job.RequestError`
(HTTP 400, one line naming the field). Nothing a request says selects a model, a judge, a file or code: the
method is a name among the server's configured ones and its knobs are plain values checked by its constructor.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from jinja2 import TemplateError
from omegaconf import DictConfig

from deepprune.config_checks import check_int
from deepprune.serving.engine import Sampling, SharedEngine
from deepprune.serving.job import JobResult, MethodCatalog, RequestError

Kind = Literal["chat", "completion"]

_COMMON = ("model", "n", "max_tokens", "temperature", "top_p", "stream", "stream_options", "user", "deepprune")
FIELDS: dict[Kind, frozenset[str]] = {
    "chat": frozenset((*_COMMON, "messages", "max_completion_tokens")),
    "completion": frozenset((*_COMMON, "prompt")),
}
ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class Limits:
    """What one request may ask for, and how many requests the server takes at once (``limits`` in serve.yaml)."""

    max_n: int
    max_tokens: int
    max_concurrent_requests: int
    max_queued_requests: int
    max_body_bytes: int

    @classmethod
    def from_config(cls, node: DictConfig) -> Limits:
        return cls(
            max_n=check_int("limits.max_n", node.max_n),
            max_tokens=check_int("limits.max_tokens", node.max_tokens),
            max_concurrent_requests=check_int("limits.max_concurrent_requests", node.max_concurrent_requests),
            max_queued_requests=check_int("limits.max_queued_requests", node.max_queued_requests, minimum=0),
            max_body_bytes=check_int("limits.max_body_bytes", node.max_body_bytes),
        )


@dataclass(frozen=True)
class Defaults:
    """A request's values when it sets none: the method, the trace count and the model's sampling."""

    method: str
    n: int
    sampling: Sampling


@dataclass(frozen=True)
class ParsedRequest:
    kind: Kind
    prompt_ids: list[int]
    method: str
    n: int
    knobs: dict[str, Any]
    sampling: Sampling
    stream: bool
    include_usage: bool


def parse_json(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object; NaN and infinities are refused like any invalid JSON."""

    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not valid JSON")

    try:
        body = json.loads(raw, parse_constant=refuse)
    except (ValueError, RecursionError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise RequestError(f"invalid JSON body: {first}") from None
    if not isinstance(body, dict):
        raise RequestError(f"the body must be a JSON object, got {type(body).__name__}")
    return body


def _integer(body: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = body.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise RequestError(f"{key} must be an integer in [{low}, {high}], got {value!r}", key)
    if not low <= value <= high:
        raise RequestError(f"{key} must be in [{low}, {high}] on this server, got {value}", key)
    return value


def _number(body: Mapping[str, Any], key: str, default: float, low: float, high: float, low_open: bool) -> float:
    value = body.get(key)
    if value is None:
        return default
    interval = f"{'(' if low_open else '['}{low:g}, {high:g}]"
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RequestError(f"{key} must be a number in {interval}, got {value!r}", key)
    if (value <= low if low_open else value < low) or value > high:
        raise RequestError(f"{key} must be in {interval}, got {value}", key)
    return float(value)


def _flag(value: Any, key: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise RequestError(f"{key} must be true or false, got {value!r}", key)
    return value


def _text(content: Any, where: str) -> str:
    """A message's content: a string, or a list of text parts (the only kind of part a text model takes)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for i, part in enumerate(content):
            if not (isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)):
                raise RequestError(f"{where}.content[{i}] must be a text part {{'type': 'text', 'text': ...}}", where)
            parts.append(part["text"])
        return "".join(parts)
    raise RequestError(f"{where}.content must be a string or a list of text parts", where)


def _messages(body: Mapping[str, Any]) -> list[dict[str, str]]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError("messages must be a non-empty list of {'role': ..., 'content': ...}", "messages")
    out = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise RequestError(f"{where} must be an object with role and content", where)
        unknown = sorted(set(message) - {"role", "content", "name"})
        if unknown:
            raise RequestError(f"{where}.{unknown[0]}: not supported (a message has role, content, name)", where)
        if message.get("role") not in ROLES:
            raise RequestError(f"{where}.role must be one of {', '.join(ROLES)}, got {message.get('role')!r}", where)
        out.append({"role": message["role"], "content": _text(message.get("content"), where)})
    return out


def _prompt(body: Mapping[str, Any]) -> str:
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1:
        prompt = prompt[0]  # the openai client may send one prompt as a list of one
    if not isinstance(prompt, str) or not prompt:
        raise RequestError("prompt must be a non-empty string (one prompt per request)", "prompt")
    return prompt


def _method(body: Mapping[str, Any], catalog: MethodCatalog, default: str) -> tuple[str, dict[str, Any]]:
    extra = body.get("deepprune")
    if extra is None:
        return default, {}
    if not isinstance(extra, dict):
        raise RequestError("deepprune must be an object, e.g. {'method': 'cons'}", "deepprune")
    name = extra.get("method", default)
    if name not in catalog.names:
        names = ", ".join(catalog.names)
        raise RequestError(f"deepprune.method must be one of {names}, got {name!r}", "deepprune.method")
    knobs = {k: v for k, v in extra.items() if k != "method"}
    for key, value in knobs.items():
        if key not in catalog.knobs(name):
            hint = " (set the request's n)" if key == "n" else ""
            settings = ", ".join(catalog.knobs(name)) or "none"
            raise RequestError(
                f"deepprune.{key}: not a setting of method {name}{hint} (its settings: {settings})", f"deepprune.{key}"
            )
        if value is not None and not isinstance(value, bool | int | float | str):
            raise RequestError(f"deepprune.{key} must be a number, a string, true/false or null", f"deepprune.{key}")
    return name, knobs


def parse_request(
    kind: Kind,
    body: Mapping[str, Any],
    *,
    model: str,
    defaults: Defaults,
    limits: Limits,
    catalog: MethodCatalog,
    engine: SharedEngine,
) -> ParsedRequest:
    """Check every field of a chat or completion request and render its prompt to token ids."""
    unknown = sorted(set(body) - FIELDS[kind])
    if unknown:
        raise RequestError(f"{unknown[0]}: not supported by this server (it takes {', '.join(sorted(FIELDS[kind]))})")
    requested = body.get("model", model)
    if requested != model:
        raise RequestError(f"model {requested!r} is not served here (this server serves {model!r})", "model", 404)
    if body.get("user") is not None and not isinstance(body["user"], str):
        raise RequestError("user must be a string", "user")
    n = _integer(body, "n", defaults.n, 1, limits.max_n)
    budget_key = "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
    max_tokens = _integer(body, budget_key, min(defaults.sampling.max_tokens, limits.max_tokens), 1, limits.max_tokens)
    sampling = Sampling(
        temperature=_number(body, "temperature", defaults.sampling.temperature, 0.0, 2.0, low_open=False),
        top_p=_number(body, "top_p", defaults.sampling.top_p, 0.0, 1.0, low_open=True),
        max_tokens=max_tokens,
    )
    stream = _flag(body.get("stream"), "stream")
    options = body.get("stream_options")
    if options is not None and (not stream or not isinstance(options, dict) or set(options) - {"include_usage"}):
        raise RequestError("stream_options must be {'include_usage': true|false}, with stream=true", "stream_options")
    include_usage = _flag((options or {}).get("include_usage"), "stream_options.include_usage")
    method, knobs = _method(body, catalog, defaults.method)
    if kind == "chat":
        messages = _messages(body)
        if not engine.has_chat_template():
            raise RequestError(f"model {model} has no chat template: send a prompt to /v1/completions", "messages")
        try:
            prompt_ids, field = engine.render_chat(messages), "messages"
        except TemplateError as err:  # e.g. a template that requires alternating user/assistant turns
            raise RequestError(f"messages: the model's chat template refuses them ({err})", "messages") from None
    else:
        prompt_ids, field = engine.render_text(_prompt(body)), "prompt"
    if not prompt_ids:
        raise RequestError(f"{field}: the prompt renders to no tokens", field)
    if len(prompt_ids) >= engine.max_model_len:
        raise RequestError(
            f"{field}: the prompt has {len(prompt_ids)} tokens; the model's context is {engine.max_model_len}", field
        )
    return ParsedRequest(kind, prompt_ids, method, n, knobs, sampling, stream, include_usage)


# ------------------------------------------------------------------------------------------------- responses
def usage(result: JobResult) -> dict[str, int]:
    """``completion_tokens``: every token the engine generated for the request, stopped traces' prefixes included."""
    return {
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
        "total_tokens": result.prompt_tokens + result.completion_tokens,
    }


def response(kind: Kind, request_id: str, model: str, result: JobResult) -> dict[str, Any]:
    """The whole response: one choice (the vote's winning trace), usage and the ``deepprune`` report."""
    if kind == "chat":
        choice = {"index": 0, "message": {"role": "assistant", "content": result.text}}
    else:
        choice = {"index": 0, "text": result.text}
    choice.update(finish_reason=result.finish_reason, logprobs=None)
    return {
        "id": request_id,
        "object": "chat.completion" if kind == "chat" else "text_completion",
        "created": int(time.time()),
        "model": model,
        "choices": [choice],
        "usage": usage(result),
        "deepprune": result.report(),
    }


def stream_events(kind: Kind, request_id: str, model: str, result: JobResult, include_usage: bool) -> Iterator[str]:
    """Server-sent events of a decided request: the winning trace's text in one chunk, the finish reason with the
    ``deepprune`` report, usage when asked for (``stream_options.include_usage``), then ``[DONE]``."""
    base = {
        "id": request_id,
        "object": "chat.completion.chunk" if kind == "chat" else "text_completion",
        "created": int(time.time()),
        "model": model,
    }

    def choice(text: str | None, finish_reason: str | None) -> dict[str, Any]:
        if kind == "chat":
            delta = {} if text is None else {"role": "assistant", "content": text}
            return {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
        return {"index": 0, "text": text or "", "finish_reason": finish_reason, "logprobs": None}

    chunks = [
        {**base, "choices": [choice(result.text, None)]},
        {**base, "choices": [choice(None, result.finish_reason)], "deepprune": result.report()},
    ]
    if include_usage:
        chunks.append({**base, "choices": [], "usage": usage(result)})
    for chunk in chunks:
        yield f"data: {json.dumps(chunk)}\n\n"
    yield "data: [DONE]\n\n"


def error_body(message: str, kind: str, param: str | None = None) -> dict[str, Any]:
    """OpenAI's error shape; the message is one line."""
    return {"error": {"message": " ".join(message.split()), "type": kind, "param": param, "code": None}}
