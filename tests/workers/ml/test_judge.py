"""The rubric judge against a local HTTP server that answers like an OpenAI-compatible endpoint."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from workers.contracts import JudgeCriterion, JudgeTarget, ScoreItem, ScoringResources
from workers.ml.components import ScoringContext, build_component
from workers.ml.components.judge import MAX_ANSWER_BYTES, chat_url
from workers.rewards.endpoints import allowlist
from workers.rewards.spec import RubricJudge

CRITERIA = (
    JudgeCriterion("helpful", "Solves the problem.", 1, 5, weight=3.0),
    JudgeCriterion("concise", "", 0, 2, weight=1.0),
)
Reply = Callable[[dict[str, Any], int], tuple[int, Any]]


class Endpoint:
    """A chat completions server whose answers come from `reply(request_body, call_number)`."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                endpoint.requests.append(body)
                endpoint.headers.append(dict(self.headers))
                status, answer = endpoint.reply(body, len(endpoint.requests))
                data = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                """Keep the test output quiet: no access log."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def endpoint() -> Iterator[Callable[[Reply], Endpoint]]:
    started: list[Endpoint] = []

    def start(reply: Reply) -> Endpoint:
        started.append(Endpoint(reply))
        return started[-1]

    yield start
    for one in started:
        one.server.shutdown()
        one.server.server_close()


def completion(content: str) -> dict[str, Any]:
    return {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}


LOCAL = allowlist(["127.0.0.1"])  # the operator lists the test server's address


def judge(url: str, items: list[ScoreItem], **target: Any) -> list[float | None]:
    params = RubricJudge(name="judge", type="rubric_judge", rubric_version=1)
    target = {"allowed": LOCAL, **target}
    resources = ScoringResources(
        judges={"judge": JudgeTarget(url=url, model="judge-1", api_key="sk-test",
                                     criteria=CRITERIA, backoff=0.0, **target)}
    )  # fmt: skip
    return build_component(params, ScoringContext(resources)).score(items)


ITEM = ScoreItem("What is 2+2?", "4", "4")


def test_it_scores_the_weighted_mean_of_the_rescaled_criteria(endpoint) -> None:  # type: ignore[no-untyped-def]
    server = endpoint(lambda body, n: (200, completion('{"scores": {"helpful": 4, "concise": 2}}')))

    values = judge(server.url, [ITEM])

    # helpful (4−1)/4 = 0.75 with weight 3, concise 2/2 = 1 with weight 1: 3.25 / 4.
    assert values == [pytest.approx(0.8125)]
    body = server.requests[0]
    assert body["model"] == "judge-1"
    assert body["response_format"] == {"type": "json_object"}
    assert "helpful (integer 1 to 5): Solves the problem." in body["messages"][1]["content"]
    assert server.headers[0]["Authorization"] == "Bearer sk-test"


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        '{"scores": {"helpful": 4}}',
        '{"scores": {"helpful": 9, "concise": 1}}',
        '{"scores": {"helpful": 3.5, "concise": 1}}',
        '{"scores": {"helpful": 4, "concise": 1}, "note": "extra"}',
    ],
)
def test_a_malformed_answer_is_missing_not_zero_and_not_retried(endpoint, content: str) -> None:  # type: ignore[no-untyped-def]
    server = endpoint(lambda body, n: (200, completion(content)))

    assert judge(server.url, [ITEM]) == [None]
    assert len(server.requests) == 1


def test_it_retries_transient_statuses_then_succeeds(endpoint) -> None:  # type: ignore[no-untyped-def]
    def reply(body: dict[str, Any], n: int) -> tuple[int, Any]:
        if n < 3:
            return 503, {"error": "busy"}
        return 200, completion('{"scores": {"helpful": 1, "concise": 0}}')

    server = endpoint(reply)

    assert judge(server.url + "/chat/completions", [ITEM]) == [0.0]
    assert len(server.requests) == 3


def test_it_does_not_retry_a_client_error(endpoint) -> None:  # type: ignore[no-untyped-def]
    server = endpoint(lambda body, n: (401, {"error": "bad key"}))

    assert judge(server.url, [ITEM, ITEM]) == [None, None]
    assert len(server.requests) == 2


def test_an_unreachable_endpoint_gives_missing_values_after_the_attempts() -> None:
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    assert judge(f"http://127.0.0.1:{port}/v1", [ITEM], attempts=2, timeout=2.0) == [None]


def test_chat_url_accepts_a_base_or_the_full_url() -> None:
    assert chat_url("https://api.example.org/v1/") == "https://api.example.org/v1/chat/completions"
    assert chat_url("http://h/v1/chat/completions") == "http://h/v1/chat/completions"


def test_a_connection_that_reaches_an_address_the_operator_did_not_list_is_refused(
    endpoint, caplog
) -> None:  # type: ignore[no-untyped-def]
    """DNS can change after a spec is saved: the worker checks the address it reaches."""
    server = endpoint(lambda body, n: (200, completion('{"scores": {"helpful": 5, "concise": 2}}')))
    named = server.url.replace("127.0.0.1", "localhost")  # listed by name only

    with caplog.at_level(logging.WARNING):
        values = judge(named, [ITEM], allowed=allowlist(["localhost"]))

    assert values == [None]
    assert server.requests == []
    assert "localhost: 127.0.0.1 is a loopback address; the operator allows it" in caplog.text


class Trickle(BaseHTTPRequestHandler):
    """Answers 200 and then one byte of body every 0.2 s, for 10 s."""

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Length", "50")
        self.end_headers()
        for _ in range(50):
            self.wfile.write(b" ")
            self.wfile.flush()
            time.sleep(0.2)

    def log_message(self, *args: Any) -> None:
        """No access log."""


def test_a_slow_answer_is_cut_at_the_timeout(caplog) -> None:  # type: ignore[no-untyped-def]
    server = ThreadingHTTPServer(("127.0.0.1", 0), Trickle)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    start = time.monotonic()
    try:
        with caplog.at_level(logging.WARNING):
            values = judge(f"http://127.0.0.1:{server.server_port}/v1", [ITEM], attempts=1,
                           timeout=1.0)  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()

    assert values == [None]
    assert time.monotonic() - start < 3.0
    assert "unreachable after 1 tries: no complete answer within 1.0 s" in caplog.text


def test_an_answer_larger_than_the_limit_is_missing(endpoint) -> None:  # type: ignore[no-untyped-def]
    server = endpoint(lambda body, n: (200, b"[" + b" " * MAX_ANSWER_BYTES + b"]"))

    assert judge(server.url, [ITEM]) == [None]
    assert len(server.requests) == 1
