"""Queuing an export with the job queue down: the request answers 503 and the export is
failed with a message that says so, never left queued with nothing to run it."""

from __future__ import annotations

import pytest

from apps.core.api import QUEUE_UNAVAILABLE
from apps.core.jobs import QUEUE_UNREACHABLE
from apps.exports.models import Export
from tests.conftest import wait_for
from tests.rewards.test_scoring_unavailable import _post
from tests.web_server import free_port, web_server


@pytest.mark.django_db(transaction=True)
def test_an_export_queued_while_the_queue_is_down_answers_503_and_is_failed(project, designer):  # type: ignore[no-untyped-def]
    from apps.accounts.services import token_issue

    token = token_issue(user=designer).key
    # Nothing listens on the broker's port.
    with web_server(CELERY_BROKER_URL=f"redis://127.0.0.1:{free_port()}/0") as port:
        answer = wait_for(lambda: _export_or_none(port, project.pk, token), timeout=60)

    queue_down = {"error": {"code": "queue_unavailable", "message": QUEUE_UNAVAILABLE,
                            "details": {}}}  # fmt: skip
    assert answer == (503, queue_down)
    export = Export.objects.get()
    assert (export.status, export.error) == (Export.Status.FAILED, QUEUE_UNREACHABLE)
    assert export.finished_at is not None


def _export_or_none(port: int, project_id: int, token: str) -> tuple[int, dict] | None:
    """The answer to queuing a raw-labels export, or None while the server is starting."""
    path = f"/api/v1/projects/{project_id}/exports/"
    try:
        return _post(port, path, token, {"format": "labels-raw"})
    except OSError:
        return None
