"""The web container's server (`deploy/web.py`): its settings, and the app served by it."""

from __future__ import annotations

import http.client
import json
import os
import runpy
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import wait_for
from tests.web_server import ROOT, free_port, web_server

web = runpy.run_path(str(ROOT / "deploy" / "web.py"))
server_options, ConfigError = web["server_options"], web["ConfigError"]


def test_defaults_are_one_process_per_cpu_with_four_threads_and_an_access_log() -> None:
    options = server_options({})

    assert options == {
        "address": "0.0.0.0",  # noqa: S104
        "port": 8000,
        "workers": len(os.sched_getaffinity(0)),
        "blocking_threads": 4,
        "log_access": True,
        "respawn_failed_workers": True,
    }


def test_web_settings_win_and_the_gunicorn_names_of_earlier_releases_still_count() -> None:
    old = {"GUNICORN_BIND": "127.0.0.1:9000", "GUNICORN_WORKERS": "3", "GUNICORN_THREADS": "6"}

    assert server_options(old) | {"log_access": None} == server_options(
        {"WEB_BIND": "127.0.0.1:9000", "WEB_WORKERS": "3", "WEB_THREADS": "6"}
    ) | {"log_access": None}
    both = server_options({**old, "WEB_WORKERS": "5", "WEB_ACCESS_LOG": "false"})
    assert (both["workers"], both["blocking_threads"], both["log_access"]) == (5, 6, False)
    assert server_options({"WEB_BIND": "[::1]:8001"})["address"] == "::1"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"WEB_WORKERS": "0"}, "WEB_WORKERS must be a whole number of at least 1, not '0'."),
        ({"WEB_THREADS": "four"}, "WEB_THREADS must be a whole number of at least 1, not 'four'."),
        ({"GUNICORN_WORKERS": "-2"}, "WEB_WORKERS must be a whole number of at least 1"),
        ({"WEB_BIND": "8000"}, "WEB_BIND must be host:port, such as 0.0.0.0:8000, not '8000'."),
        ({"WEB_BIND": "0.0.0.0:http"}, "WEB_BIND must be host:port"),
        ({"WEB_BIND": "0.0.0.0:70000"}, "WEB_BIND must be host:port"),
        ({"WEB_ACCESS_LOG": "maybe"}, "WEB_ACCESS_LOG must be true or false, not 'maybe'."),
    ],
)
def test_a_wrong_setting_is_named(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as error:
        server_options(environ)

    assert str(error.value).startswith(message)


def test_a_wrong_setting_stops_the_server_before_it_starts() -> None:
    result = subprocess.run(
        [sys.executable, "deploy/web.py"],
        cwd=ROOT,
        env={**os.environ, "WEB_THREADS": "0"},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 1
    assert "palate web: WEB_THREADS must be a whole number of at least 1" in result.stderr


def _request(port: int, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_the_server_serves_the_app_in_production_settings_and_stops_on_sigterm() -> None:
    port = free_port()
    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": "web-server-test-secret-key",
        "WEB_BIND": f"127.0.0.1:{port}",
        "WEB_WORKERS": "1",
        "WEB_THREADS": "2",
    }
    server = subprocess.Popen(
        [sys.executable, "deploy/web.py"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, body = _request(port, "GET", "/api/v1/")
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)

        # Django answers, with production's error format for a caller without a token.
        status, body = _request(port, "POST", "/api/v1/projects/1/comparisons/next/", b"{}")
        assert status == 401
        assert json.loads(body)["error"]["code"] == "not_authenticated"
        status, body = _request(port, "GET", "/api/schema/")
        assert status == 200
        assert body.startswith(b"openapi: ")

        os.killpg(server.pid, signal.SIGTERM)
        assert server.wait(timeout=30) == 0
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    log = server.stdout.read().decode() if server.stdout else ""
    # The access log: one line per request, with its status.
    assert '"POST /api/v1/projects/1/comparisons/next/ HTTP/1.1" 401' in log
    assert '"GET /api/schema/ HTTP/1.1" 200' in log


def test_collectstatic_with_the_production_storage_succeeds(tmp_path: Path) -> None:
    """The web image runs it at build time: hashed, compressed names for every file."""
    env = {**os.environ, "DEBUG": "false", "SECRET_KEY": "collectstatic-only",
           "STATIC_ROOT": str(tmp_path)}  # fmt: skip
    result = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr[-2000:]
    manifest = json.loads((tmp_path / "staticfiles.json").read_text())["paths"]
    assert manifest["vendor/htmx-2.0.11.min.js"].startswith("vendor/htmx-2.0.11.min.")
    assert (tmp_path / manifest["vendor/chart-4.5.1.umd.min.js"]).with_suffix(".js.gz").exists()


def _get(port: int, path: str, token: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers={"Authorization": f"Token {token}"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _get_or_none(port: int, path: str, token: str) -> tuple[int, bytes] | None:
    try:
        return _get(port, path, token)
    except OSError:
        return None


@pytest.mark.django_db(transaction=True)
def test_a_connection_the_database_dropped_is_replaced_before_the_next_request_uses_it(
    admin_user, project
) -> None:  # type: ignore[no-untyped-def]
    """A database restart closes every persistent connection: the web process checks the one
    it reuses (CONN_HEALTH_CHECKS) and opens a new one instead of answering 500."""
    from django.db import connection

    from apps.accounts.services import token_issue

    token = token_issue(user=admin_user).key
    # One thread: one persistent connection, reused by each request.
    with web_server() as port:
        before = wait_for(lambda: _get_or_none(port, "/api/v1/projects/", token), timeout=60)
        with connection.cursor() as cursor:  # the server's connections to this test database
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            (terminated,) = cursor.fetchone()

        after = _get(port, "/api/v1/projects/", token)

    assert before[0] == 200
    assert json.loads(before[1])["count"] == 1
    assert terminated == 1
    assert after == before
