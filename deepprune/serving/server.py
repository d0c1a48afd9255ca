"""``deepprune serve``: an OpenAI-compatible server doing pruned self-consistency per request.

    deepprune serve [model=...] [judge=...] [method=deepprune|cons|deepconf_low|deepconf_high] [host=... port=...]

With no arguments it serves the shipped tiny reasoner with the shipped judge on vLLM-on-CPU at
http://127.0.0.1:8000 (``conf/serve.yaml``). Everything heavy (judge, methods, engine) is built and checked
before the port accepts a request; docs/serving.md describes the API.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from deepprune.build import build_checker, build_judge, build_truncation
from deepprune.commands.entry import entry
from deepprune.config_checks import check_entry_config, check_int
from deepprune.serving.app import Service, create_app
from deepprune.serving.engine import EngineSettings, Sampling, SharedEngine
from deepprune.serving.job import MethodCatalog
from deepprune.serving.protocol import Defaults, Limits

log = logging.getLogger(__name__)

GRACEFUL_SHUTDOWN_S = 10  # on Ctrl-C/SIGTERM, requests still running after this are cancelled (traces aborted)


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound first so a taken port fails in a second, not after the judge and engine load."""
    if not isinstance(host, str) or not host:
        raise ValueError(f"host must be an address or a host name, got {host!r}")
    port = check_int("port", port, minimum=0)
    if port > 65535:
        raise ValueError(f"port must be in [0, 65535], got {port}")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as err:
        raise ValueError(f"host={host}: {err.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as err:
        sock.close()
        raise ValueError(f"cannot listen on {host}:{port}: {err.strerror}") from None
    return sock


def method_nodes(cfg: DictConfig, default: str) -> dict[str, DictConfig]:
    """The methods a request may name: ``methods.*``, with ``method`` (the command line's choice) as ``default``."""
    nodes = dict(cfg.methods)
    nodes[default] = cfg.method
    return nodes


def serve(cfg: DictConfig) -> None:
    """Build and check everything, then serve until interrupted."""
    check_entry_config(cfg)
    limits = Limits.from_config(cfg.limits)
    default_n = check_int("n", cfg.n)
    if default_n > limits.max_n:
        raise ValueError(f"n={default_n} is above limits.max_n={limits.max_n}")
    sock = bind(cfg.host, cfg.port)
    try:
        _build_and_serve(cfg, limits, default_n, sock)
    finally:
        sock.close()


def _build_and_serve(cfg: DictConfig, limits: Limits, default_n: int, sock: socket.socket) -> None:
    settings = EngineSettings.from_config(cfg.engine)
    checker = build_checker(cfg)
    truncation = build_truncation(cfg)
    default_method = HydraConfig.get().runtime.choices["method"]
    nodes = method_nodes(cfg, default_method)
    judge = build_judge(cfg, checker)
    if judge.needs_final_answers:
        raise ValueError(f"judge={judge.name} reads stored final answers, which a live server never has")
    catalog = MethodCatalog(nodes, truncation, judge)
    defaults = Defaults(
        method=default_method,
        n=default_n,
        sampling=Sampling(settings.temperature, settings.top_p, min(settings.max_tokens, limits.max_tokens)),
    )

    def make_service(engine: SharedEngine) -> Service:
        return Service(
            engine=engine, catalog=catalog, checker=checker, judge=judge, defaults=defaults, limits=limits,
            seed=int(cfg.seed),
        )  # fmt: skip

    asyncio.run(_serve(sock, settings, make_service))


async def _serve(
    sock: socket.socket, settings: EngineSettings, make_service: Callable[[SharedEngine], Service]
) -> None:
    """Start the engine inside the event loop (vLLM's async client belongs to it) and serve on ``sock``."""
    import uvicorn

    engine = SharedEngine.start(settings)
    service = None
    try:
        service = make_service(engine)
        config = uvicorn.Config(
            create_app(service), log_level="info", timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S, lifespan="off"
        )
        host, port = sock.getsockname()[:2]
        log.info(
            "serving %s on http://%s:%d (methods: %s; default %s, n=%d)",
            settings.model_name, host, port, ", ".join(service.catalog.names), service.defaults.method,
            service.defaults.n,
        )  # fmt: skip
        await uvicorn.Server(config).serve(sockets=[sock])
    finally:
        if service is not None:
            service.close()
        engine.close()


@entry("serve")
def main(cfg: DictConfig) -> None:
    serve(cfg)


if __name__ == "__main__":
    main()
