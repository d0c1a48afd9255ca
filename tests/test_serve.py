"""``deepprune serve`` end to end: the real ``openai`` client against ``python serve.py`` on 127.0.0.1, serving the
shipped tiny reasoner and judge on vLLM-on-CPU (one server for the module).

Usage is checked against the engine's own counter (``vllm:generation_tokens_total`` on ``/metrics``), the tests
run one request at a time, so a counter difference is one request's tokens.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator

import pytest

from benchmarks.bench_serve import serve_subprocess
from tests.helpers.run_entry import entry_env
from tests.helpers.run_if import RunIf

pytestmark = RunIf(requires_vllm=True, modules=("fastapi", "uvicorn", "openai", "httpx"))

MODEL = "tiny_reasoner"
QUESTION = "Multiply 6 by 7, then add 31. What is the result mod 100?"
MESSAGES = [{"role": "user", "content": QUESTION}]
BODY_LIMIT = 4096
START_TIMEOUT_S = 300  # engine start-up on a busy 2-core machine


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``python serve.py`` with the defaults, two requests at a time and no queue (so the third gets 429)."""
    limits = [
        "limits.max_concurrent_requests=2", "limits.max_queued_requests=0", f"limits.max_body_bytes={BODY_LIMIT}",
    ]  # fmt: skip
    with serve_subprocess(limits, tmp_path_factory.mktemp("serve"), env=entry_env(), timeout=START_TIMEOUT_S) as url:
        yield url


@pytest.fixture(scope="module")
def client(server: str):
    from openai import OpenAI

    return OpenAI(base_url=f"{server}/v1", api_key="unused", max_retries=0, timeout=180)


def engine_tokens(server: str) -> float:
    """Every token the engine generated since it started (its Prometheus counter)."""
    import httpx

    text = httpx.get(f"{server}/metrics", timeout=30).text
    return float(re.search(r"^vllm:generation_tokens_total\{[^}]*\} (\S+)$", text, re.M).group(1))


def health(server: str) -> dict:
    import httpx

    return httpx.get(f"{server}/health", timeout=30).json()


def measured(server: str, call):
    """``call()``'s response and the tokens the engine generated meanwhile."""
    before = engine_tokens(server)
    response = call()
    return response, engine_tokens(server) - before


@pytest.fixture(scope="module")
def pruned_and_cons(server, client):
    """The same chat request (16 traces, the model's 384-token budget) with DeepPrune and with cons."""

    def ask(method: str):
        return client.chat.completions.create(
            model=MODEL, messages=MESSAGES, n=16, extra_body={"deepprune": {"method": method}}
        )

    return {method: measured(server, lambda m=method: ask(m)) for method in ("deepprune", "cons")}


def test_models_lists_the_served_model(client):
    assert [model.id for model in client.models.list()] == [MODEL]


def test_chat_answers_with_the_winning_trace_and_honest_usage(pruned_and_cons):
    response, generated = pruned_and_cons["deepprune"]
    report = response.deepprune
    assert response.object == "chat.completion" and len(response.choices) == 1
    text = response.choices[0].message.content
    assert report["method"] == "deepprune" and report["traces_started"] == 16
    assert report["answer"] is not None and f"\\boxed{{{report['answer']}}}" in text  # a trace that voted for it
    assert 0 < report["vote_share"] <= 1
    assert report["traces_stopped"] > 0 and report["traces_stopped"] + report["traces_finished"] == 16
    assert report["judge_calls"] > 0 and report["judge_tokens"] > 0 and report["clusters"] >= 1
    # Every generated token is billed, stopped prefixes included, and nothing else: the engine's own count.
    assert response.usage.completion_tokens == generated == sum(t["tokens"] for t in report["traces"])
    assert response.usage.prompt_tokens > 0
    assert response.usage.total_tokens == response.usage.prompt_tokens + response.usage.completion_tokens


def test_pruned_request_generates_fewer_tokens_than_cons(pruned_and_cons):
    pruned, cons = pruned_and_cons["deepprune"][0], pruned_and_cons["cons"][0]
    assert cons.deepprune["traces_finished"] == 16 and cons.deepprune["judge_calls"] == 0
    assert cons.usage.completion_tokens == pruned_and_cons["cons"][1]
    assert pruned.usage.completion_tokens < cons.usage.completion_tokens


def test_completion_usage_equals_the_engine_count(server, client):
    response, generated = measured(
        server,
        lambda: client.completions.create(
            model=MODEL,
            prompt=QUESTION + "\nSolution:\n",
            n=4,
            max_tokens=24,
            extra_body={"deepprune": {"method": "cons"}},
        ),
    )
    assert response.object == "text_completion" and response.choices[0].text
    traces = response.deepprune["traces"]
    assert len(traces) == 4 and all(0 < t["tokens"] <= 24 for t in traces)
    assert response.usage.completion_tokens == generated == sum(t["tokens"] for t in traces)


def test_stream_sends_the_decided_trace_then_usage(client):
    stream = client.chat.completions.create(
        model=MODEL, messages=MESSAGES, n=2, max_tokens=16, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.content  # the winning trace's text, in one piece
    report = chunks[1].deepprune
    assert chunks[1].choices[0].finish_reason in ("stop", "length") and report["traces_started"] == 2
    assert not chunks[-1].choices and chunks[-1].usage.completion_tokens == sum(t["tokens"] for t in report["traces"])


# Each bad body: the request field (or None), and the field the one-line message names.
BAD_CHAT = [
    ({"n": 0}, "n"),
    ({"n": 1000}, "n"),
    ({"max_tokens": 0}, "max_tokens"),
    ({"temperature": "hot"}, "temperature"),
    ({"messages": []}, "messages"),
    ({"messages": [{"role": "robot", "content": "hi"}]}, "messages[0]"),
    ({"deepprune": {"method": "best_of_n"}}, "deepprune.method"),
    ({"deepprune": {"threshold": 2}}, "deepprune.threshold"),
    ({"deepprune": {"finish": "all"}}, "deepprune.finish"),
    ({"deepprune": {"n": 4}}, "deepprune.n"),
    ({"deepprune": {"judge_path": "/tmp/judge"}}, "deepprune.judge_path"),
    ({"deepprune": {"method": "cons", "threshold": 0.5}}, "deepprune.threshold"),
    ({"stop": ["\n"]}, "stop"),
    ({"stream_options": {"include_usage": True}}, "stream_options"),
]


@pytest.mark.parametrize(("change", "field"), BAD_CHAT, ids=[field for _, field in BAD_CHAT])
def test_bad_chat_bodies_get_400_naming_the_field(server, change, field):
    import httpx

    body = {"model": MODEL, "messages": MESSAGES, "max_tokens": 8, **change}
    response = httpx.post(f"{server}/v1/chat/completions", json=body, timeout=30)
    assert response.status_code == 400, response.text
    message = response.json()["error"]["message"]
    assert "\n" not in message and message.startswith(field), message


@pytest.mark.parametrize(
    ("path", "content", "status", "start"),
    [
        ("/v1/chat/completions", b"{not json", 400, "invalid JSON body"),
        ("/v1/chat/completions", b"[1, 2]", 400, "the body must be a JSON object"),
        ("/v1/completions", b'{"prompt": 3}', 400, "prompt must be"),
        ("/v1/chat/completions", b'{"model": "gpt-4o", "messages": []}', 404, "model 'gpt-4o' is not served"),
        ("/v1/chat/completions", b'{"messages": "' + b"x" * BODY_LIMIT + b'"}', 413, "the body has"),
    ],
    ids=["bad-json", "not-an-object", "prompt", "model", "too-large"],
)
def test_bad_bodies_get_4xx_with_one_line(server, path, content, status, start):
    import httpx

    response = httpx.post(f"{server}{path}", content=content, timeout=30)
    assert response.status_code == status, response.text
    message = response.json()["error"]["message"]
    assert "\n" not in message and message.startswith(start), message


def test_openai_client_raises_on_a_bad_value(client):
    from openai import BadRequestError

    with pytest.raises(BadRequestError, match="deepprune.threshold must be in"):
        client.chat.completions.create(model=MODEL, messages=MESSAGES, extra_body={"deepprune": {"threshold": -1}})


def test_request_strings_are_values_never_interpolated(server):
    import httpx

    body = {"messages": MESSAGES, "deepprune": {"compare": "${oc.env:HOME}"}}
    message = httpx.post(f"{server}/v1/chat/completions", json=body, timeout=30).json()["error"]["message"]
    assert "${oc.env:HOME}" in message


def wait_until_idle(server: str, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        counts = health(server)
        if (counts["engine_requests"], counts["requests_running"], counts["requests_waiting"]) == (0, 0, 0):
            return counts
        assert time.monotonic() < deadline, f"the engine did not become idle: {counts}"
        time.sleep(0.1)


class LongRequest(threading.Thread):
    """A request that would run ~10 s (64 full traces) in a thread, given up by its client after ``timeout`` s."""

    def __init__(self, server: str, timeout: float) -> None:
        from openai import OpenAI

        super().__init__()
        self.client = OpenAI(base_url=f"{server}/v1", api_key="unused", max_retries=0, timeout=timeout)
        self.error: Exception | None = None
        self.start()

    def run(self) -> None:
        try:
            self.client.chat.completions.create(
                model=MODEL, messages=MESSAGES, n=64, extra_body={"deepprune": {"method": "cons"}}
            )
        except Exception as err:  # checked by the test, in its own thread
            self.error = err

    def gave_up(self) -> bool:
        from openai import APITimeoutError

        self.join()
        return isinstance(self.error, APITimeoutError)


def test_full_server_answers_429(server, client):
    from openai import RateLimitError

    requests = [LongRequest(server, timeout=3) for _ in range(2)]
    deadline = time.monotonic() + 2
    while sum(health(server)[key] for key in ("requests_running", "requests_waiting")) < 2:
        assert time.monotonic() < deadline, "the two long requests were not admitted"
        time.sleep(0.05)
    with pytest.raises(RateLimitError, match="the server is full"):
        client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=8)
    assert all(request.gave_up() for request in requests)
    wait_until_idle(server)


def test_disconnect_aborts_the_request_in_the_engine(server, client):
    def small() -> float:
        started = time.perf_counter()
        client.chat.completions.create(model=MODEL, messages=MESSAGES, n=8, max_tokens=64)
        return time.perf_counter() - started

    wait_until_idle(server)
    baseline = min(small() for _ in range(2))
    assert LongRequest(server, timeout=1.5).gave_up()
    wait_until_idle(server, timeout=5)  # its 64 engine requests aborted, not run to their end (~10 s)
    before = engine_tokens(server)
    time.sleep(1)
    assert engine_tokens(server) == before, "the engine kept generating after the client left"
    assert small() < 2 * baseline + 1.0  # the next request is not slowed by the abandoned one
