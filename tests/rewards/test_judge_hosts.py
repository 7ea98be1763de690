"""A judge calls only the hosts the operator allows: no server-side requests to loopback,
private or link-local addresses unless listed, and no redirects (issue 17, defect 8)."""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from apps.core.errors import ApplicationError
from apps.rewards.models import RewardFunction
from apps.rewards.services import scoring_resources
from config.settings import env_hosts
from tests.api import token_client
from tests.rewards.factories import version_of
from tests.rewards.test_judge_keys import _spec
from tests.workers.ml.test_judge import Endpoint, Reply, completion
from workers.contracts import ScoreItem
from workers.ml.scoring import Scorer

pytestmark = pytest.mark.django_db

HOW = "the operator allows it by listing it (or its network) in JUDGE_ALLOWED_HOSTS"
UNLISTED = (
    "is not a judge host the operator allows; judges may call the hosts of JUDGE_API_URL and "
    "JUDGE_KEY_ENDPOINTS and those listed in JUDGE_ALLOWED_HOSTS"
)
ITEM = ScoreItem("What is 2 + 2?", "4")


@pytest.fixture
def endpoint() -> Iterator[Any]:
    """Starts chat completion servers (tests/workers/ml/test_judge.py) on 127.0.0.1."""
    started: list[Endpoint] = []

    def start(reply: Reply) -> Endpoint:
        started.append(Endpoint(reply))
        return started[-1]

    yield start
    for one in started:
        one.server.shutdown()
        one.server.server_close()


@pytest.fixture
def judge_settings(settings):  # type: ignore[no-untyped-def]
    settings.JUDGE_API_URL = "https://judge.operator.example/v1"
    settings.JUDGE_MODEL = "judge-model"
    settings.JUDGE_API_KEY = ""
    settings.JUDGE_KEY_ENDPOINTS = {"JUDGE_VENDOR_KEY": "https://api.vendor.example/v1"}
    settings.JUDGE_ALLOWED_HOSTS = ["judge.listed.example", "localhost", "10.9.0.0/16"]
    return settings


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://127.0.0.1:8000/v1", f"127.0.0.1 {UNLISTED}"),
        ("http://10.0.0.7/v1", f"10.0.0.7 {UNLISTED}"),
        ("http://169.254.169.254/latest/meta-data", f"169.254.169.254 {UNLISTED}"),
        ("http://[::1]:8000/v1", f"::1 {UNLISTED}"),
        ("http://2130706433/v1", f"2130706433 {UNLISTED}"),  # 127.0.0.1 as a number
        ("https://attacker.example/v1", f"attacker.example {UNLISTED}"),
        # Listed by name, but it resolves to loopback, which the operator did not list.
        ("http://localhost:8000/v1", f"localhost resolves to 127.0.0.1, a loopback address; {HOW}"),
    ],
)
def test_a_judge_endpoint_the_operator_does_not_allow_is_refused_and_nothing_is_made(
    project, judge_settings, url, problem
):  # type: ignore[no-untyped-def]
    with pytest.raises(ApplicationError) as error:
        version_of(project, _spec(project, endpoint=url))

    assert error.value.extra["spec"] == [f"components[0] (judge).endpoint: {problem}"]
    assert not RewardFunction.objects.exists()


def test_the_api_answers_400_for_the_metadata_address(project, designer, judge_settings):  # type: ignore[no-untyped-def]
    spec = _spec(project, endpoint="http://169.254.169.254/latest/meta-data")

    response = token_client(designer).post(
        f"/api/v1/projects/{project.pk}/reward-functions/", {"name": "r", "spec": spec},
        format="json",
    )  # fmt: skip

    assert response.status_code == 400
    assert response.json()["error"]["details"] == {
        "spec": [f"components[0] (judge).endpoint: 169.254.169.254 {UNLISTED}"]
    }
    assert not RewardFunction.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        None,  # JUDGE_API_URL
        "https://judge.operator.example/v1/chat/completions",
        "https://api.vendor.example/v1",  # a JUDGE_KEY_ENDPOINTS host
        "https://JUDGE.listed.example:8443/v1",
        "http://10.9.3.4:8000/v1",  # inside a listed network
    ],
)
def test_the_operators_hosts_are_allowed(project, judge_settings, url):  # type: ignore[no-untyped-def]
    version = version_of(project, _spec(project, **({"endpoint": url} if url else {})))

    (target,) = scoring_resources(version=version).judges.values()
    assert target.url == (url or judge_settings.JUDGE_API_URL)


def test_a_listed_loopback_server_is_judged_and_the_listing_is_checked_again_at_scoring(
    project, judge_settings, endpoint
):  # type: ignore[no-untyped-def]
    server = endpoint(lambda body, n: (200, completion('{"scores": {"helpful": 4}}')))
    judge_settings.JUDGE_ALLOWED_HOSTS = ["127.0.0.1"]
    version = version_of(project, _spec(project, endpoint=server.url))

    values = Scorer(version.parsed_spec, scoring_resources(version=version)).component_values(
        [ITEM]
    )

    assert values == {"judge": [0.75]}
    assert len(server.requests) == 1
    judge_settings.JUDGE_ALLOWED_HOSTS = []  # the operator withdraws it
    with pytest.raises(ApplicationError) as error:
        scoring_resources(version=version)
    assert error.value.message == f"judge: endpoint: 127.0.0.1 {UNLISTED}."
    assert len(server.requests) == 1


class Recorder(BaseHTTPRequestHandler):
    """Records every request, whatever its method, and answers `server.answer`."""

    def _any(self) -> None:
        self.server.requests.append(self.command)  # type: ignore[attr-defined]
        status, headers, body = self.server.answer  # type: ignore[attr-defined]
        self.send_response(status)
        for name, value in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _any  # noqa: N815 - http.server's names

    def log_message(self, *args: Any) -> None:
        """No access log."""


@pytest.fixture
def recorder() -> Iterator[Any]:
    started: list[ThreadingHTTPServer] = []

    def start(status: int, headers: dict[str, str], body: bytes = b"") -> Any:
        server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
        server.answer, server.requests = (status, headers, body), []  # type: ignore[attr-defined]
        server.url = f"http://127.0.0.1:{server.server_port}/v1"  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_to_another_host_is_not_followed(
    project, judge_settings, recorder, caplog, status
):  # type: ignore[no-untyped-def]
    answer = json.dumps(completion('{"scores": {"helpful": 5}}')).encode()
    other = recorder(200, {"Content-Type": "application/json"}, answer)
    target = other.url.replace("127.0.0.1", "localhost") + "/chat/completions"
    redirecting = recorder(status, {"Location": target})
    # Both hosts are allowed: only the rule on redirects stops the second request.
    judge_settings.JUDGE_ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
    version = version_of(project, _spec(project, endpoint=redirecting.url))
    scorer = Scorer(version.parsed_spec, scoring_resources(version=version))

    with caplog.at_level(logging.WARNING):
        values = scorer.component_values([ITEM])

    assert values == {"judge": [None]}
    assert (redirecting.requests, other.requests) == (["POST"], [])
    assert f"HTTP {status} redirect to '{target}'; the judge follows no redirects" in caplog.text


def test_allowed_hosts_are_read_from_the_environment(monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("HOSTS", " Judge.Example. , 10.0.0.0/8,::1 ,127.0.0.1")
    assert env_hosts("HOSTS") == ["judge.example", "10.0.0.0/8", "::1", "127.0.0.1"]
    monkeypatch.delenv("HOSTS")
    assert env_hosts("HOSTS") == []


@pytest.mark.parametrize("raw", ["https://judge.example", "judge.example:8000", "10.0.0.0/33"])
def test_a_bad_host_stops_the_app_at_start(monkeypatch, raw):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("HOSTS", raw)

    with pytest.raises(ImproperlyConfigured, match=re.escape(f"(got {raw!r})")):
        env_hosts("HOSTS")
