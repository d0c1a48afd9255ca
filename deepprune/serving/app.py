"""The HTTP side: FastAPI routes, admission (a bounded queue, then 429) and client disconnects.

``POST /v1/chat/completions`` and ``POST /v1/completions`` run one pruned request each (:class:`Service`);
``GET /v1/models``, ``GET /health`` (with the running, waiting and engine request counts) and ``GET /metrics``
(vLLM's Prometheus counters, e.g. ``vllm:generation_tokens_total``) describe the server.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException

from deepprune.data.answers import AnswerChecker
from deepprune.judges.base import Judge
from deepprune.serving.engine import RequestCancelled, SharedEngine
from deepprune.serving.job import JobResult, MethodCatalog, PrunedJob, RequestError
from deepprune.serving.protocol import (
    Defaults,
    Kind,
    Limits,
    error_body,
    parse_json,
    parse_request,
    response,
    stream_events,
)

log = logging.getLogger(__name__)

ERROR_TYPES = {404: "not_found_error", 413: "invalid_request_error", 429: "rate_limit_error"}
CLIENT_CLOSED = 499  # nginx's status for "the client closed the connection": nobody reads it, the logs do


class Service:
    """Everything requests share: the engine, the methods, the judge and the worker threads running methods."""

    def __init__(
        self,
        *,
        engine: SharedEngine,
        catalog: MethodCatalog,
        checker: AnswerChecker,
        judge: Judge | None,
        defaults: Defaults,
        limits: Limits,
        seed: int,
    ) -> None:
        self.engine, self.catalog, self.checker, self.judge = engine, catalog, checker, judge
        self.defaults, self.limits, self.seed = defaults, limits, seed
        self.model = engine.settings.model_name
        # One thread per running request: its method blocks while its traces generate on the shared engine.
        self.executor = ThreadPoolExecutor(limits.max_concurrent_requests, thread_name_prefix="deepprune-request")
        self.judge_lock = threading.Lock()
        self.jobs: set[PrunedJob] = set()

    def counts(self) -> dict[str, int]:
        running = sum(job.started for job in self.jobs)
        return {
            "requests_running": running,
            "requests_waiting": len(self.jobs) - running,
            "engine_requests": self.engine.running_requests(),
        }

    def job(self, kind: Kind, body: dict[str, Any]) -> tuple[PrunedJob, bool, bool]:
        """The request's job, and whether it streams (and with usage); every value checked before it queues."""
        parsed = parse_request(
            kind,
            body,
            model=self.model,
            defaults=self.defaults,
            limits=self.limits,
            catalog=self.catalog,
            engine=self.engine,
        )
        method = self.catalog.build(parsed.method, parsed.n, parsed.knobs)
        prefix = "chatcmpl" if kind == "chat" else "cmpl"
        job = PrunedJob(
            request_id=f"{prefix}-{uuid.uuid4().hex}",
            method=method,
            prompt_ids=parsed.prompt_ids,
            sampling=parsed.sampling,
            shared=self.engine,
            checker=self.checker,
            judge=self.judge,
            judge_lock=self.judge_lock,
            seed=self.seed,
        )
        return job, parsed.stream, parsed.include_usage

    async def execute(self, request: Request, job: PrunedJob) -> JobResult:
        """Run ``job`` in a worker thread; if the client disconnects first, cancel it (its traces are aborted)."""
        if len(self.jobs) >= self.limits.max_concurrent_requests + self.limits.max_queued_requests:
            raise RequestError(
                f"the server is full ({len(self.jobs)} requests running or waiting): retry later", status=429
            )
        self.jobs.add(job)
        watcher = asyncio.create_task(_disconnected(request))
        try:
            work = asyncio.wrap_future(self.executor.submit(job.run))
            await asyncio.wait({work, watcher}, return_when=asyncio.FIRST_COMPLETED)
            if not work.done():
                log.info("%s: client disconnected, aborting its traces", job.request_id)
                job.cancel()
            return await work
        except asyncio.CancelledError:  # the server is shutting down
            job.cancel()
            raise
        finally:
            watcher.cancel()
            self.jobs.discard(job)

    def close(self) -> None:
        """Cancel every request and wait for the worker threads (each ends at its next engine call)."""
        for job in list(self.jobs):
            job.cancel()
        self.executor.shutdown(wait=True, cancel_futures=True)


async def _disconnected(request: Request) -> None:
    """Return when the client closes the connection (after the body, ``receive`` yields only that)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestError(f"the body has {declared} bytes; this server takes at most {limit}", status=413)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise RequestError(f"the body is over {limit} bytes, the most this server takes", status=413)
    return bytes(body)


def create_app(service: Service) -> FastAPI:
    """The FastAPI application serving ``service``."""
    app = FastAPI(title="deepprune serve", docs_url=None, redoc_url=None, openapi_url=None)

    def completion_route(kind: Kind) -> Callable[[Request], Any]:
        async def route(request: Request) -> Response:
            body = parse_json(await _read_body(request, service.limits.max_body_bytes))
            job, stream, include_usage = service.job(kind, body)
            result = await service.execute(request, job)
            if stream:
                events = stream_events(kind, job.request_id, service.model, result, include_usage)
                return StreamingResponse(events, media_type="text/event-stream")
            return JSONResponse(response(kind, job.request_id, service.model, result))

        return route

    app.add_api_route("/v1/chat/completions", completion_route("chat"), methods=["POST"])
    app.add_api_route("/v1/completions", completion_route("completion"), methods=["POST"])

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        card = {"id": service.model, "object": "model", "created": 0, "owned_by": "deepprune"}
        return {"object": "list", "data": [card]}

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "model": service.model, **service.counts()}

    @app.get("/metrics")
    async def metrics() -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    @app.exception_handler(RequestError)
    async def request_error(request: Request, err: RequestError) -> JSONResponse:
        kind = ERROR_TYPES.get(err.status, "invalid_request_error")
        return JSONResponse(error_body(str(err), kind, err.param), status_code=err.status)

    @app.exception_handler(RequestCancelled)
    async def cancelled(request: Request, err: RequestCancelled) -> Response:
        return Response(status_code=CLIENT_CLOSED)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, err: HTTPException) -> JSONResponse:
        kind = ERROR_TYPES.get(err.status_code, "invalid_request_error")
        return JSONResponse(error_body(str(err.detail), kind), status_code=err.status_code)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, err: Exception) -> JSONResponse:
        log.exception("request failed")
        return JSONResponse(error_body(f"internal error: {type(err).__name__}: {err}", "server_error"), 500)

    return app
