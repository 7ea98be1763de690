"""Inspector API: start, list, read, accept weights, compare; roles and bad requests."""

from __future__ import annotations

import pytest

from apps.rewards.models import Inspection, RewardFunctionVersion
from tests.api import FORBIDDEN, NOT_FOUND, token_client
from tests.rewards.factories import version_of
from tests.rewards.inspection_world import POLITE_SPEC, SPEC, build, inspect_now

pytestmark = pytest.mark.django_db


def test_starting_twice_answers_the_pending_inspection(
    project, designer, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    world = build(project, designer)
    client = token_client(designer)
    url = f"/api/v1/reward-function-versions/{world.version.pk}/inspections/"

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        first = client.post(url)
        second = client.post(url)

    assert (first.status_code, second.status_code) == (202, 202)
    assert first.json()["id"] == second.json()["id"]
    assert len(callbacks) == 1
    listed = client.get(url).json()
    assert [row["id"] for row in listed["results"]] == [first.json()["id"]]
    assert "result" not in listed["results"][0]


def test_a_viewer_reads_but_cannot_start_or_accept(project, designer, viewer) -> None:  # type: ignore[no-untyped-def]
    world = build(project, designer)
    done = inspect_now(world.version, designer)
    client = token_client(viewer)

    assert client.get(f"/api/v1/inspections/{done.pk}/").status_code == 200
    start = client.post(f"/api/v1/reward-function-versions/{world.version.pk}/inspections/")
    accept = client.post(f"/api/v1/inspections/{done.pk}/accept-weights/")

    assert (start.status_code, start.json()) == (403, FORBIDDEN)
    assert (accept.status_code, accept.json()) == (403, FORBIDDEN)
    assert Inspection.objects.count() == 1
    assert RewardFunctionVersion.objects.count() == 1


def test_an_annotator_and_an_outsider_read_nothing(project, designer, annotator, outsider) -> None:  # type: ignore[no-untyped-def]
    world = build(project, designer)
    done = inspect_now(world.version, designer)

    assert token_client(annotator).get(f"/api/v1/inspections/{done.pk}/").status_code == 403
    response = token_client(outsider).get(f"/api/v1/inspections/{done.pk}/")
    assert (response.status_code, response.json()) == (404, NOT_FOUND)


def test_accepting_weights_answers_the_new_version(project, designer) -> None:  # type: ignore[no-untyped-def]
    world = build(project, designer)
    done = inspect_now(world.version, designer)

    response = token_client(designer).post(f"/api/v1/inspections/{done.pk}/accept-weights/")

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["number"], body["function"]) == (2, world.version.function_id)
    assert body["spec"]["combine"]["weights"] == done.result["fit"]["weights"]
    assert response["Location"] == f"/api/v1/reward-function-versions/{body['id']}/"


def test_accepting_weights_without_enough_labels_is_refused(project, designer) -> None:  # type: ignore[no-untyped-def]
    from tests.rewards.factories import responses_for

    responses_for(project, {"Hello?": ["Hi [1]", "Hey please"]})
    version = version_of(project, SPEC)
    done = inspect_now(version, designer)

    response = token_client(designer).post(f"/api/v1/inspections/{done.pk}/accept-weights/")

    assert response.status_code == 400
    assert response.json()["error"]["message"] == (
        "No weights were fitted: 0 decisive human choices: at least 5 are needed to fit and "
        "check weights."
    )
    assert RewardFunctionVersion.objects.count() == 1


def test_compare_answers_distance_and_flips(project, designer) -> None:  # type: ignore[no-untyped-def]
    world = build(project, designer)
    polite = version_of(project, POLITE_SPEC, name="manners only")
    inspect_now(world.version, designer)
    inspect_now(polite, designer)

    response = token_client(designer).get(
        f"/api/v1/reward-function-versions/{world.version.pk}/compare/{polite.pk}/"
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["flipped"], body["pairs"], body["responses"], body["note"]) == (2, 5, 7, "")
    assert body["distance"] == pytest.approx(1.5609, abs=1e-4)
    assert body["flips"][0]["item"] == world.comparisons["c1"].pk
    assert "a_text" not in body["flips"][0]
    assert (body["first_agrees"], body["second_agrees"]) == (1, 0)
    assert (body["flips"][0]["votes_a"], body["flips"][0]["votes_b"]) == (2, 0)


def test_compare_with_a_version_of_another_project_is_not_found(project, designer) -> None:  # type: ignore[no-untyped-def]
    from tests.factories import ProjectFactory

    world = build(project, designer)
    other = version_of(ProjectFactory(), POLITE_SPEC)

    response = token_client(designer).get(
        f"/api/v1/reward-function-versions/{world.version.pk}/compare/{other.pk}/"
    )

    assert response.status_code == 404
