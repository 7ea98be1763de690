"""The score endpoint when no scoring worker answers within SCORE_TIMEOUT_SECONDS: a 503 in
the one error shape, whether no worker runs or the one that runs is held by a long job.
The embedded setup's file result backend is covered end to end in tests/test_embedded.py."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from django.db import connection

from apps.rewards.models import ScoreRun
from apps.rewards.services import score_run_create
from tests.api import token_client
from tests.conftest import wait_for
from tests.rewards.factories import TEXT_SPEC, responses_for, version_of

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
