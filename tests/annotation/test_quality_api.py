from __future__ import annotations

import pytest

from apps.annotation.models import Comparison, ReviewDecision
from apps.annotation.reports import agreement_refresh
from tests.annotation.test_reports import purge_jobs, queued_jobs
from tests.api import FORBIDDEN, NOT_FOUND, iso, token_client

pytestmark = pytest.mark.django_db


def test_the_agreement_report_is_read_as_stored(project, viewer, judged):  # type: ignore[no-untyped-def]
    report = agreement_refresh(project_id=project.pk)

    body = token_client(viewer).get(f"/api/v1/projects/{project.pk}/agreement/").json()

    assert body["computed_at"] == iso(report.computed_at)
    assert body["requested_at"] is None
    assert body["figures"]["labels"] == 8
    assert body["figures"]["choice"]["raw"]["value"] == 0.5
    assert body["figures"]["choice"]["raw"]["n_items"] == 4
    assert set(body["figures"]["groups"]) == {"easy", "hard"}
    assert body["figures"]["groups"]["easy"]["value"] == 1.0


def test_before_any_compute_the_report_is_empty(project, designer):  # type: ignore[no-untyped-def]
    body = token_client(designer).get(f"/api/v1/projects/{project.pk}/agreement/").json()

    assert body == {"computed_at": None, "compute_seconds": None, "requested_at": None,
                    "figures": {}}  # fmt: skip


def test_a_designer_queues_a_recompute(project, designer, django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    purge_jobs()
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = token_client(designer).post(
                f"/api/v1/projects/{project.pk}/agreement/refresh/"
            )
        assert response.status_code == 202
        assert queued_jobs() == 1
    finally:
        purge_jobs()


def test_annotator_reports_are_everyones_for_designers_and_ones_own_for_annotators(  # type: ignore[no-untyped-def]
    project, designer, viewer, judged
):
    (one, two), _ = judged
    agreement_refresh(project_id=project.pk)
    path = f"/api/v1/projects/{project.pk}/annotator-reports/"

    everyone = token_client(designer).get(path).json()
    own = token_client(one).get(path).json()
    refused = token_client(viewer).get(path)

    assert [p["username"] for p in everyone["people"]] == [one.username, two.username]
    assert [p["username"] for p in own["people"]] == [one.username]
    assert own["people"][0]["longer"] == {"count": 4, "n": 4, "share": 1.0}
    assert own["team"]["labels"] == 8
    assert refused.status_code == 403
    assert refused.json() == FORBIDDEN


def test_the_review_queue_and_a_decision(project, designer, judged):  # type: ignore[no-untyped-def]
    _, items = judged
    client = token_client(designer)

    queue = client.get(f"/api/v1/projects/{project.pk}/review-queue/").json()
    body = {"choice": "a", "strength": 2, "note": "A is right"}
    made = client.post(f"/api/v1/comparisons/{items[2]}/review/", body, format="json")
    after = client.get(f"/api/v1/projects/{project.pk}/review-queue/").json()

    assert [item["id"] for item in queue["results"]] == items[2:]
    assert made.status_code == 201
    decision = ReviewDecision.objects.get()
    assert made.json() == {
        "id": decision.pk, "comparison": items[2], "reviewer": designer.pk, "choice": "a",
        "strength": 2, "note": "A is right", "created_at": iso(decision.created_at),
    }  # fmt: skip
    assert [item["id"] for item in after["results"]] == [items[3]]


def test_bad_or_refused_decisions_change_nothing(project, annotator, designer, judged):  # type: ignore[no-untyped-def]
    _, items = judged
    path = f"/api/v1/comparisons/{items[2]}/review/"

    bad = token_client(designer).post(path, {"choice": "tie", "strength": 1}, format="json")
    refused = token_client(annotator).post(path, {"choice": "a"}, format="json")
    missing = token_client(designer).post(
        "/api/v1/comparisons/999999/review/", {"choice": "a"}, format="json"
    )

    assert bad.status_code == 400
    assert "strength: goes with a or b" in bad.json()["error"]["message"]
    assert refused.status_code == 403
    assert missing.json() == NOT_FOUND
    assert ReviewDecision.objects.count() == 0


def test_gold_is_set_and_cleared_through_the_api(project, designer, viewer, judged):  # type: ignore[no-untyped-def]
    _, items = judged
    path = f"/api/v1/comparisons/{items[0]}/gold/"

    refused = token_client(viewer).put(path, {"gold_choice": "a"}, format="json")
    bad = token_client(designer).put(path, {"gold_choice": "left"}, format="json")
    assert Comparison.objects.filter(is_gold=True).count() == 0
    marked = token_client(designer).put(path, {"gold_choice": "b"}, format="json")
    cleared = token_client(designer).put(path, {"gold_choice": None}, format="json")

    assert refused.status_code == 403
    assert bad.status_code == 400
    assert (marked.json()["is_gold"], marked.json()["gold_choice"]) == (True, "b")
    assert (cleared.json()["is_gold"], cleared.json()["gold_choice"]) == (False, "")
