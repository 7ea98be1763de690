"""The score endpoint when no scoring worker answers within SCORE_TIMEOUT_SECONDS: a 503 in
the one error shape, whether no worker runs or the one that runs is held by a long job.
The embedded setup's file result backend is covered end to end in tests/test_embedded.py."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from django.db import connection

from apps.core.api import QUEUE_UNAVAILABLE
from apps.rewards.models import ScoreRun
from apps.rewards.services import score_run_create
from tests.api import token_client
from tests.conftest import wait_for
from tests.rewards.factories import TEXT_SPEC, responses_for, version_of
from tests.web_server import free_port, web_server

ITEMS = [{"prompt": "Capital of France?", "response": "Paris [1] it is"}]
# TEXT_SPEC: cites 1 (weight 2) and words 0 (4 words, within 1 of the target 3).
ANSWER = {"results": [{"reward": 2.0, "components": {"cites": 1.0, "words": 0.0}}]}


def unavailable(seconds: int) -> dict:
    return {
        "error": {
            "code": "worker_timeout",
            "message": f"No scoring worker answered within SCORE_TIMEOUT_SECONDS ({seconds} s): "
            "the worker consuming the `scoring` queue is busy or not running. "
            "Try again shortly.",
            "details": {},
        }
    }


def _score(user, version):  # type: ignore[no-untyped-def]
    return token_client(user).post(
        f"/api/v1/reward-function-versions/{version.pk}/score/", {"items": ITEMS}, format="json"
    )


@pytest.mark.django_db
def test_with_no_worker_running_the_score_endpoint_answers_503(settings, project, designer):  # type: ignore[no-untyped-def]
    settings.SCORE_TIMEOUT_SECONDS = 1
    version = version_of(project, TEXT_SPEC)

    response = _score(designer, version)

    assert response.status_code == 503
    assert response.json() == unavailable(1)


@contextmanager
def _row_locked(run: ScoreRun) -> Iterator[None]:
    """Hold the run's row from a second connection: the job that claims it waits until the
    block ends, as long as the test wants (a long training run, in effect)."""
    db = connection.settings_dict
    with psycopg.connect(
        host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"],
        password=db["PASSWORD"] or None, dbname=db["NAME"],
    ) as other:  # fmt: skip
        other.execute(
            f"SELECT id FROM {ScoreRun._meta.db_table} WHERE id = %s FOR UPDATE", [run.pk]
        )
        yield
        other.rollback()


def _a_query_waits_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return bool(cursor.fetchone()[0])


@pytest.mark.integration
def test_a_worker_held_by_a_long_job_answers_503_and_scores_again_once_free(
    celery_worker_process, settings, project, designer
):  # type: ignore[no-untyped-def]
    from workers.tasks.rewards import score_responses

    settings.SCORE_TIMEOUT_SECONDS = 2
    responses_for(project, {"Capital of France?": ["Paris [1] it is"]})
    version = version_of(project, TEXT_SPEC)
    run = score_run_create(version=version, created_by=None, enqueue=False)

    with _row_locked(run):
        score_responses.delay(run_id=run.pk)
        wait_for(_a_query_waits_on_a_lock, timeout=60)  # the worker is in the job

        held = _score(designer, version)

    assert held.status_code == 503
    assert held.json() == unavailable(2)
    wait_for(lambda: ScoreRun.objects.get(pk=run.pk).status == ScoreRun.Status.SUCCEEDED)
    settings.SCORE_TIMEOUT_SECONDS = 30
    free = _score(designer, version)
    assert free.status_code == 200, free.content
    assert free.json() == ANSWER


def _redis(port: int) -> subprocess.Popen:
    server = subprocess.Popen(
        ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly",
         "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wait_for(lambda: socket.socket().connect_ex(("127.0.0.1", port)) == 0, timeout=10)
    return server


def _post(port: int, path: str, token: str, body: dict) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
        conn.request("POST", path, json.dumps(body), headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


@pytest.mark.django_db(transaction=True)
def test_with_the_job_queue_down_the_score_endpoint_answers_503_and_recovers_with_it(
    project, designer
):  # type: ignore[no-untyped-def]
    """The broker's Redis is down when the web server starts, comes up, and restarts under
    it: scoring answers 503 with a code that says so (not a 500), within seconds, and
    answers as before whenever Redis is back."""
    from apps.accounts.services import token_issue

    version = version_of(project, TEXT_SPEC)
    token = token_issue(user=designer).key
    broker_port = free_port()
    path = f"/api/v1/reward-function-versions/{version.pk}/score/"
    broker = None
    with web_server(
        CELERY_BROKER_URL=f"redis://127.0.0.1:{broker_port}/0", SCORE_TIMEOUT_SECONDS="1"
    ) as web_port:
        try:
            # The server starts while Redis is down: its first request meets the result
            # store's reconnects running out, a RuntimeError inside Celery.
            started = time.monotonic()
            never_up = wait_for(lambda: _answer_or_none(web_port, path, token), timeout=60)
            never_up_seconds = time.monotonic() - started
            broker = _redis(broker_port)
            up = _post(web_port, path, token, {"items": ITEMS})
            broker.kill()
            broker.wait()
            started = time.monotonic()
            down = _post(web_port, path, token, {"items": ITEMS})  # kombu's OperationalError
            down_seconds = time.monotonic() - started
            broker = _redis(broker_port)
            back = _post(web_port, path, token, {"items": ITEMS})
        finally:
            if broker is not None:
                broker.kill()
                broker.wait()

    # No worker consumes this broker: with Redis up, the request waits its second and
    # answers that no worker came; with Redis down, it says the queue is unreachable.
    queue_down = {"error": {"code": "queue_unavailable", "message": QUEUE_UNAVAILABLE,
                            "details": {}}}  # fmt: skip
    assert never_up == (503, queue_down)
    assert never_up_seconds < 30  # the server's start included; Celery's default is ~20 s more
    assert up == (503, unavailable(1))
    assert down == (503, queue_down)
    assert down_seconds < 10
    assert back == (503, unavailable(1))


def _answer_or_none(port: int, path: str, token: str) -> tuple[int, dict] | None:
    try:
        return _post(port, path, token, {"items": ITEMS})
    except OSError:
        return None
