"""The rubrics API: roles, versioning through PATCH and POST, immutability of used versions."""

from __future__ import annotations

import pytest

from apps.rubrics.models import Rubric, RubricVersion
from tests.api import FORBIDDEN, NOT_FOUND, token_client
from tests.rubrics.factories import CATEGORIES, CRITERIA, label_under_rubric, rubric_of

pytestmark = pytest.mark.django_db


def _state() -> list[tuple]:
    rubrics = list(Rubric.objects.order_by("pk").values_list("pk", "name", "description"))
    versions = list(
        RubricVersion.objects.order_by("pk").values_list(
            "pk", "number", "criteria", "error_categories", "guidelines", "message"
        )
    )
    return [rubrics, versions]


def test_a_designer_creates_a_rubric_with_its_first_version(project, designer):  # type: ignore[no-untyped-def]
    response = token_client(designer).post(
        f"/api/v1/projects/{project.pk}/rubrics/",
        {"name": "Quality", "criteria": CRITERIA, "error_categories": CATEGORIES,
         "guidelines": "# Be fair"},
        format="json",
    )  # fmt: skip

    assert response.status_code == 201, response.json()
    rubric = Rubric.objects.get()
    body = response.json()
    assert response["Location"] == f"/api/v1/rubrics/{rubric.pk}/"
    assert (body["name"], body["project"], [v["number"] for v in body["versions"]]) == (
        "Quality", project.pk, [1],
    )  # fmt: skip
    latest = body["latest"]
    assert (latest["criteria"], latest["error_categories"], latest["guidelines"]) == (
        CRITERIA, CATEGORIES, "# Be fair",
    )  # fmt: skip
    assert (latest["is_used"], latest["created_by"], latest["message"]) == (
        False, designer.username, "First version",
    )  # fmt: skip


@pytest.mark.parametrize("who", ["annotator", "viewer"])
def test_annotators_and_viewers_read_but_cannot_write(project, who, request):  # type: ignore[no-untyped-def]
    rubric = rubric_of(project)
    client = token_client(request.getfixturevalue(who))
    before = _state()

    listed = client.get(f"/api/v1/projects/{project.pk}/rubrics/")
    versions = client.get(f"/api/v1/rubrics/{rubric.pk}/versions/")
    created = client.post(f"/api/v1/projects/{project.pk}/rubrics/", {"name": "X"}, format="json")
    patched = client.patch(f"/api/v1/rubrics/{rubric.pk}/", {"guidelines": "Mine"}, format="json")
    added = client.post(f"/api/v1/rubrics/{rubric.pk}/versions/", {"criteria": []}, format="json")

    assert [r["name"] for r in listed.json()["results"]] == ["Quality"]
    assert [v["number"] for v in versions.json()["results"]] == [1]
    assert [created.json(), patched.json(), added.json()] == [FORBIDDEN] * 3
    assert _state() == before


def test_an_outsider_sees_nothing(project, outsider):  # type: ignore[no-untyped-def]
    rubric = rubric_of(project)
    client = token_client(outsider)
    before = _state()

    answers = [
        client.get(f"/api/v1/projects/{project.pk}/rubrics/"),
        client.get(f"/api/v1/rubrics/{rubric.pk}/"),
        client.patch(f"/api/v1/rubrics/{rubric.pk}/", {"name": "Mine"}, format="json"),
        client.post(f"/api/v1/rubrics/{rubric.pk}/versions/", {"criteria": []}, format="json"),
    ]

    assert [(a.status_code, a.json()) for a in answers] == [(404, NOT_FOUND)] * 4
    assert _state() == before


def test_patching_a_draft_changes_it_and_patching_a_used_version_adds_one(  # type: ignore[no-untyped-def]
    project, designer, annotator
):
    rubric = rubric_of(project)
    client = token_client(designer)

    draft = client.patch(
        f"/api/v1/rubrics/{rubric.pk}/", {"guidelines": "Draft two", "name": "Q2"}, format="json"
    )
    assert draft.status_code == 200, draft.json()
    assert (draft.json()["name"], [v["number"] for v in draft.json()["versions"]]) == ("Q2", [1])
    assert draft.json()["latest"]["guidelines"] == "Draft two"

    label_under_rubric(project, rubric, annotator)
    used = client.get(f"/api/v1/rubrics/{rubric.pk}/versions/").json()["results"][0]
    assert used["is_used"] is True
    changed = client.patch(
        f"/api/v1/rubrics/{rubric.pk}/",
        {"criteria": CRITERIA[:1], "message": "Drop concise"},
        format="json",
    )

    body = changed.json()
    assert [v["number"] for v in body["versions"]] == [2, 1]
    assert (body["latest"]["message"], body["latest"]["guidelines"]) == (
        "Drop concise",
        "Draft two",
    )
    assert [c["name"] for c in body["latest"]["criteria"]] == ["helpful"]
    again = client.get(f"/api/v1/rubrics/{rubric.pk}/versions/").json()["results"][1]
    assert again == used


def test_posting_a_version_always_adds_one(project, designer):  # type: ignore[no-untyped-def]
    rubric = rubric_of(project)

    response = token_client(designer).post(
        f"/api/v1/rubrics/{rubric.pk}/versions/",
        {"criteria": CRITERIA[1:], "guidelines": "v2", "message": "Second"},
        format="json",
    )

    assert response.status_code == 201, response.json()
    assert (response.json()["number"], response.json()["message"]) == (2, "Second")
    assert list(rubric.versions.order_by("number").values_list("guidelines", flat=True)) == [
        "Be fair.", "v2",
    ]  # fmt: skip


def test_invalid_criteria_are_400_naming_each_problem_and_change_nothing(project, designer):  # type: ignore[no-untyped-def]
    rubric = rubric_of(project)
    client = token_client(designer)
    before = _state()

    patched = client.patch(
        f"/api/v1/rubrics/{rubric.pk}/",
        {"criteria": [{"name": "a", "scale": {"min": 3, "max": 1}}, {"name": "b", "x": 1}],
         "name": "Renamed"},
        format="json",
    )  # fmt: skip
    not_a_list = client.post(
        f"/api/v1/rubrics/{rubric.pk}/versions/", {"criteria": {"a": 1}}, format="json"
    )
    taken = client.post(
        f"/api/v1/projects/{project.pk}/rubrics/", {"name": "Quality"}, format="json"
    )

    assert patched.status_code == 400
    assert patched.json()["error"]["details"] == {
        "rubric": [
            "criteria[0] (a).scale: max must be greater than min",
            "criteria[1] (b).x: Extra inputs are not permitted",
        ]
    }
    assert not_a_list.json()["error"]["details"] == {"criteria": ["Give a list."]}
    assert taken.json()["error"]["details"] == {"name": ["A rubric with this name exists."]}
    assert _state() == before


def test_the_schema_describes_the_rubric_operations(api_client):  # type: ignore[no-untyped-def]
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()

    operations = {
        op["operationId"]
        for path, item in schema["paths"].items()
        if "rubric" in path
        for op in item.values()
    }
    assert operations == {
        "rubric_list", "rubric_create", "rubric_retrieve", "rubric_update",
        "rubric_version_list", "rubric_version_create",
    }  # fmt: skip
