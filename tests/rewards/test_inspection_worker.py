"""A real Celery worker on Redis runs an inspection started through the API."""

from __future__ import annotations

import pytest

from apps.rewards.models import Inspection, Score
from tests.api import token_client
from tests.conftest import wait_for
from tests.rewards.inspection_world import EXPECTED, build

pytestmark = pytest.mark.integration


def _finished(pk: int) -> Inspection | None:
    inspection = Inspection.objects.get(pk=pk)
    return inspection if inspection.is_finished else None


def test_a_worker_inspects_a_version_started_through_the_api(
    celery_worker_process, project, designer
):  # type: ignore[no-untyped-def]
    world = build(project, designer)
    client = token_client(designer)

    started = client.post(f"/api/v1/reward-function-versions/{world.version.pk}/inspections/")

    assert started.status_code == 202, started.content
    body = started.json()
    assert (body["status"], body["result"], body["version"]) == ("queued", None, world.version.pk)
    assert started["Location"] == f"/api/v1/inspections/{body['id']}/"
    done = wait_for(lambda: _finished(body["id"]), timeout=120)
    assert done.status == Inspection.Status.SUCCEEDED, done.error
    assert Score.objects.filter(version=world.version).count() == 7

    read = client.get(started["Location"]).json()
    assert (read["status"], read["stage"], read["progress"]) == ("succeeded", "Done", 1.0)
    overall = read["result"]["accuracy"]["overall"]
    assert (overall["correct"], overall["n"]) == EXPECTED["overall"]
    probes = [p["probe"] for p in read["result"]["probes"]]
    assert probes == ["empty", "truncated", "repeated", "padded", "flattery", "colon",
                      "step_by_step"]  # fmt: skip
