"""Queuing an export with the job queue down: the request answers 503 and the export is
failed with a message that says so, never left queued with nothing to run it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from django.db import connection

from apps.core.api import QUEUE_UNAVAILABLE
from apps.core.jobs import QUEUE_UNREACHABLE
from apps.exports.models import Export
from tests.conftest import wait_for
from tests.rewards.test_scoring_unavailable import ROOT, _free_port, _post


@pytest.mark.django_db(transaction=True)
def test_an_export_queued_while_the_queue_is_down_answers_503_and_is_failed(project, designer):  # type: ignore[no-untyped-def]
    from apps.accounts.services import token_issue

    token = token_issue(user=designer).key
    db = connection.settings_dict
    web_port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@"
        f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "CELERY_BROKER_URL": f"redis://127.0.0.1:{_free_port()}/0",  # nothing listens there
        "DEBUG": "false",
        "SECRET_KEY": "queue-unreachable-test-secret-key",
        "WEB_BIND": f"127.0.0.1:{web_port}",
        "WEB_WORKERS": "1",
        "WEB_THREADS": "1",
        "WEB_ACCESS_LOG": "false",
    }
    server = subprocess.Popen(
        [sys.executable, "deploy/web.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        answer = wait_for(lambda: _export_or_none(web_port, project.pk, token), timeout=60)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

    queue_down = {"error": {"code": "queue_unavailable", "message": QUEUE_UNAVAILABLE,
                            "details": {}}}  # fmt: skip
    assert answer == (503, queue_down)
    export = Export.objects.get()
    assert (export.status, export.error) == (Export.Status.FAILED, QUEUE_UNREACHABLE)
    assert export.finished_at is not None


def _export_or_none(port: int, project_id: int, token: str) -> tuple[int, dict] | None:
    """The answer to queuing a raw-labels export, or None while the server is starting."""
    try:
        return _post(
            port, f"/api/v1/projects/{project_id}/exports/", token, {"format": "labels-raw"}
        )
    except OSError:
        return None
