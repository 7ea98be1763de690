"""The reward function API: create and list, spec errors, permissions, scoring requests."""

from __future__ import annotations

import pytest

from apps.rewards.models import RewardFunction, RewardFunctionVersion, ScoreRun
from tests.api import FORBIDDEN, NOT_FOUND, token_client
from tests.rewards.factories import TEXT_SPEC, responses_for, version_of

pytestmark = pytest.mark.django_db

ZSCORE_SPEC = {**TEXT_SPEC, "transforms": {"words": ["zscore"]}}


def _counts() -> tuple[int, int, int]:
    return (
        RewardFunction.objects.count(),
        RewardFunctionVersion.objects.count(),
        ScoreRun.objects.count(),
    )


def test_a_designer_creates_a_function_and_gets_the_version_id(project, designer):  # type: ignore[no-untyped-def]
    response = token_client(designer).post(
        f"/api/v1/projects/{project.pk}/reward-functions/",
        {"name": "helpful", "spec": TEXT_SPEC},
        format="json",
    )

    assert response.status_code == 201, response.json()
    version = RewardFunctionVersion.objects.get()
    body = response.json()
    assert body["version"] == version.pk
    assert (body["name"], body["project"], body["id"]) == (
        "helpful",
        project.pk,
        version.function_id,
    )
    assert body["versions"][0]["number"] == 1
    assert body["versions"][0]["is_fitted"] is True
    assert response["Location"] == f"/api/v1/reward-functions/{version.function_id}/"


def test_a_bad_spec_answers_400_with_every_problem(project, designer):  # type: ignore[no-untyped-def]
    spec = {
        "components": [{"name": "x", "type": "regex", "pattern": "("}],
        "combine": {"op": "weighted_sum", "weights": {"x": 1, "y": 2}},
    }

    response = token_client(designer).post(
        f"/api/v1/projects/{project.pk}/reward-functions/", {"name": "r", "spec": spec},
        format="json",
    )  # fmt: skip

    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "code": "invalid",
            "message": "The reward spec is not valid.",
            "details": {
                "spec": [
                    "components[0] (x).pattern: does not compile: "
                    "missing ), unterminated subpattern at position 0"
                ]
            },
        }
    }
    assert _counts() == (0, 0, 0)


def test_a_spec_that_is_not_an_object_or_a_missing_name_is_400(project, designer):  # type: ignore[no-untyped-def]
    client = token_client(designer)
    url = f"/api/v1/projects/{project.pk}/reward-functions/"

    no_name = client.post(url, {"spec": TEXT_SPEC}, format="json")
    listed = client.post(url, {"name": "r", "spec": [1, 2]}, format="json")

    assert no_name.json()["error"]["details"] == {"name": ["This field is required."]}
    assert listed.json()["error"]["details"] == {"spec": ["Give the spec as a JSON object."]}
    assert _counts() == (0, 0, 0)


def test_versions_are_added_and_listed_newest_first(project, designer, viewer):  # type: ignore[no-untyped-def]
    first = version_of(project, TEXT_SPEC)
    url = f"/api/v1/reward-functions/{first.function_id}/versions/"

    created = token_client(designer).post(url, {"spec": ZSCORE_SPEC, "message": "z"}, format="json")
    listed = token_client(viewer).get(url)

    assert created.status_code == 201
    assert created.json()["number"] == 2
    assert created.json()["spec"] == ZSCORE_SPEC
    assert created.json()["is_fitted"] is False
    assert [v["number"] for v in listed.json()["results"]] == [2, 1]
    bad = token_client(designer).post(url, {"spec": {"components": []}}, format="json")
    assert bad.status_code == 400
    assert bad.json()["error"]["details"]["spec"] == [
        "components: give at least one component",
        "combine: Field required",
    ]


@pytest.mark.parametrize(
    ("who", "status", "body"),
    [("viewer", 403, FORBIDDEN), ("annotator", 403, FORBIDDEN), ("outsider", 404, NOT_FOUND)],
)
def test_only_designers_and_admins_create(project, request, who, status, body):  # type: ignore[no-untyped-def]
    version = version_of(project, TEXT_SPEC)
    responses_for(project, {"p": ["x"]})
    client = token_client(request.getfixturevalue(who))
    before = _counts()

    answers = [
        client.post(f"/api/v1/projects/{project.pk}/reward-functions/",
                    {"name": "other", "spec": TEXT_SPEC}, format="json"),
        client.post(f"/api/v1/reward-functions/{version.function_id}/versions/",
                    {"spec": TEXT_SPEC}, format="json"),
        client.post(f"/api/v1/reward-function-versions/{version.pk}/score-runs/"),
        client.post(f"/api/v1/reward-function-versions/{version.pk}/score/",
                    {"items": [{"prompt": "p", "response": "r"}]}, format="json"),
    ]  # fmt: skip

    assert [(a.status_code, a.json()) for a in answers] == [(status, body)] * 4
    assert _counts() == before


def test_viewers_read_and_outsiders_see_nothing(project, viewer, outsider):  # type: ignore[no-untyped-def]
    version = version_of(project, TEXT_SPEC)
    paths = [
        f"/api/v1/projects/{project.pk}/reward-functions/",
        f"/api/v1/reward-functions/{version.function_id}/",
        f"/api/v1/reward-functions/{version.function_id}/versions/",
        f"/api/v1/reward-function-versions/{version.pk}/",
        f"/api/v1/reward-function-versions/{version.pk}/score-runs/",
        f"/api/v1/reward-function-versions/{version.pk}/scores/",
    ]

    assert [token_client(viewer).get(p).status_code for p in paths] == [200] * 6
    assert [token_client(outsider).get(p).status_code for p in paths] == [404] * 6


def test_the_score_endpoint_refuses_big_batches_and_points_to_score_runs(project, designer):  # type: ignore[no-untyped-def]
    version = version_of(project, TEXT_SPEC)
    items = [{"prompt": "p", "response": "r"}] * 257

    response = token_client(designer).post(
        f"/api/v1/reward-function-versions/{version.pk}/score/", {"items": items}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "invalid",
        "message": "257 items is more than 256 per request: send batches of at most 256, or "
        "score the project's responses as a job with "
        f"POST /api/v1/reward-function-versions/{version.pk}/score-runs/.",
        "details": {"items": ["Send at most 256 items."]},
    }


def test_the_score_endpoint_validates_items(project, designer):  # type: ignore[no-untyped-def]
    version = version_of(project, TEXT_SPEC)
    url = f"/api/v1/reward-function-versions/{version.pk}/score/"
    client = token_client(designer)

    empty = client.post(url, {"items": []}, format="json")
    bad = client.post(url, {"items": [{"prompt": 3, "response": "r"}, {"prompt": "p"}]},
                      format="json")  # fmt: skip

    assert empty.json()["error"]["details"] == {
        "items": ["Ensure this field has at least 1 elements."]
    }
    assert bad.status_code == 400
    assert bad.json()["error"]["details"] == {
        "items": {
            "0": {"prompt": ["Give a string, or a list of {role, content} with string values."]},
            "1": {"response": ["This field is required."]},
        }
    }


def test_the_score_endpoint_needs_a_fitted_version(project, designer):  # type: ignore[no-untyped-def]
    version = version_of(project, ZSCORE_SPEC)

    response = token_client(designer).post(
        f"/api/v1/reward-function-versions/{version.pk}/score/",
        {"items": [{"prompt": "p", "response": "r"}]},
        format="json",
    )

    assert response.status_code == 400
    assert "start a score run first" in response.json()["error"]["message"]
    assert (
        f"reward-function-versions/{version.pk}/score-runs/" in response.json()["error"]["message"]
    )


def test_a_score_run_is_queued_and_followed(project, designer, django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    version = version_of(project, TEXT_SPEC)
    responses_for(project, {"p": ["x", "y"]})
    client = token_client(designer)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        created = client.post(f"/api/v1/reward-function-versions/{version.pk}/score-runs/")
    run = ScoreRun.objects.get()
    followed = client.get(created["Location"])

    assert created.status_code == 202
    assert len(callbacks) == 1
    assert created["Location"] == f"/api/v1/score-runs/{run.pk}/"
    assert followed.json()["status"] == "queued"
    assert (followed.json()["version"], followed.json()["fraction"]) == (version.pk, 0.0)


def _names(project):  # type: ignore[no-untyped-def]
    return list(
        RewardFunction.objects.filter(project=project)
        .order_by("pk")
        .values_list("name", "description")
    )


def test_a_designer_renames_a_function_and_its_versions_stay(project, designer):  # type: ignore[no-untyped-def]
    version = version_of(project, TEXT_SPEC)
    function = version.function
    url = f"/api/v1/reward-functions/{function.pk}/"
    client = token_client(designer)
    before = client.get(url).json()

    renamed = client.patch(url, {"name": "concise", "description": "Shorter wins."}, format="json")

    assert renamed.status_code == 200, renamed.json()
    assert renamed.json() == {**before, "name": "concise", "description": "Shorter wins."}
    only_text = client.patch(url, {"description": ""}, format="json")
    assert only_text.json() == {**before, "name": "concise", "description": ""}
    assert _names(project) == [("concise", "")]
    assert list(RewardFunctionVersion.objects.values_list("pk", "spec")) == [
        (version.pk, TEXT_SPEC)
    ]


def test_a_rename_to_a_taken_or_blank_name_is_400_and_changes_nothing(project, designer):  # type: ignore[no-untyped-def]
    first = version_of(project, TEXT_SPEC).function
    second = RewardFunction.objects.create(project=project, name="other", description="kept")
    url = f"/api/v1/reward-functions/{second.pk}/"
    client = token_client(designer)
    before = _names(project)

    taken = client.patch(url, {"name": first.name, "description": "x"}, format="json")
    blank = client.patch(url, {"name": "  "}, format="json")
    spec = client.patch(url, {"spec": TEXT_SPEC, "name": 3 * "x" * 100}, format="json")

    assert taken.status_code == 400
    assert taken.json() == {
        "error": {
            "code": "invalid",
            "message": f"This project already has a reward function named {first.name!r}.",
            "details": {"name": ["A reward function with this name exists."]},
        }
    }
    assert blank.status_code == 400
    assert blank.json()["error"]["details"] == {"name": ["This field may not be blank."]}
    assert spec.status_code == 400
    assert spec.json()["error"]["details"] == {
        "name": ["Ensure this field has no more than 200 characters."]
    }
    assert _names(project) == before


def test_viewers_and_outsiders_cannot_rename(project, viewer, annotator, outsider):  # type: ignore[no-untyped-def]
    function = version_of(project, TEXT_SPEC).function
    url = f"/api/v1/reward-functions/{function.pk}/"
    before = _names(project)

    answers = [
        token_client(user).patch(url, {"name": "mine"}, format="json").json()
        for user in (viewer, annotator, outsider)
    ]

    assert answers == [FORBIDDEN, FORBIDDEN, NOT_FOUND]
    assert _names(project) == before
