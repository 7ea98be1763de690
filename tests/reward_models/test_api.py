"""The training-run and reward-model API: settings, roles, outsiders, cancel, promote."""

from __future__ import annotations

import pytest

from apps.reward_models.models import RewardModel, TrainingRun
from apps.reward_models.services import (
    reward_model_promote,
    training_run_claim,
    training_run_create,
    training_run_execute,
)
from tests.api import FORBIDDEN, NOT_FOUND, token_client
from tests.reward_models.factories import preference_project
from workers.ml.training import train_reward_model
from workers.training.settings import TrainingSettings

pytestmark = pytest.mark.django_db

FAST = {"head_kind": "linear", "epochs": 30, "learning_rate": 0.05, "validation_fraction": 0.3}


def _state(project):  # type: ignore[no-untyped-def]
    return (
        sorted(
            TrainingRun.objects.filter(project=project).values_list(
                "pk", "status", "cancel_requested"
            )
        ),
        sorted(RewardModel.objects.filter(project=project).values_list("pk", "is_promoted")),
    )


def test_a_designer_starts_a_run_with_defaults_and_follows_it(
    project, designer, django_capture_on_commit_callbacks
):  # type: ignore[no-untyped-def]
    preference_project(project, prompts=10)
    client = token_client(designer)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        created = client.post(f"/api/v1/projects/{project.pk}/training-runs/", {}, format="json")

    assert created.status_code == 202, created.json()
    body = created.json()
    assert created["Location"] == f"/api/v1/training-runs/{body['id']}/"
    assert len(callbacks) == 1
    assert (body["status"], body["progress"], body["reward_model"], body["created_by"]) == (
        "queued", 0.0, None, designer.username,
    )  # fmt: skip
    assert body["settings"] == TrainingSettings().model_dump(mode="json")
    assert body["snapshot"] == {
        "consensus_rule": "review decisions, else majority",
        "labels": 10,
        "rubric_version_ids": [],
        "ties": "drop",
        "include_imported": True,
        "prompts": {"train": 8, "validation": 2},
        "pairs": {"train": 8, "validation": 2},
        "rated_responses": 0,
        "skipped": {},
    }
    assert client.get(f"/api/v1/training-runs/{body['id']}/").json() == body
    listed = client.get(f"/api/v1/projects/{project.pk}/training-runs/").json()
    assert [run["id"] for run in listed["results"]] == [body["id"]]


def test_settings_are_validated_and_a_bad_one_changes_nothing(project, designer):  # type: ignore[no-untyped-def]
    preference_project(project, prompts=6)
    client = token_client(designer)
    before = _state(project)

    response = client.post(
        f"/api/v1/projects/{project.pk}/training-runs/",
        {"settings": {"ensemble_size": 40, "head": "big"}},
        format="json",
    )

    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "code": "invalid",
            "message": "Invalid input.",
            "details": {
                "settings": [
                    "ensemble_size: Input should be less than or equal to 16",
                    "head: Extra inputs are not permitted",
                ]
            },
        }
    }
    assert _state(project) == before


def test_a_project_without_usable_labels_answers_400(project, designer):  # type: ignore[no-untyped-def]
    response = token_client(designer).post(
        f"/api/v1/projects/{project.pk}/training-runs/", {}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("There are no usable labels to train on")
    assert TrainingRun.objects.count() == 0


@pytest.mark.parametrize("role", ["annotator", "viewer"])
def test_roles_without_design_rights_cannot_train_cancel_or_promote(project, request, role):  # type: ignore[no-untyped-def]
    preference_project(project, prompts=6)
    user = request.getfixturevalue(role)
    run = training_run_create(
        project=project, user=None, settings=TrainingSettings(**FAST), enqueue=False
    )
    model = RewardModel.objects.create(
        project=project, name="m", head_kind="linear", artifact_path="x"
    )
    client = token_client(user)
    before = _state(project)

    answers = [
        client.post(f"/api/v1/projects/{project.pk}/training-runs/", {}, format="json"),
        client.post(f"/api/v1/training-runs/{run.pk}/cancel/", {}, format="json"),
        client.post(f"/api/v1/reward-models/{model.pk}/promote/", {}, format="json"),
    ]

    assert [(a.status_code, a.json()) for a in answers] == [(403, FORBIDDEN)] * 3
    assert _state(project) == before
    reads = client.get(f"/api/v1/training-runs/{run.pk}/")
    assert reads.status_code == (200 if role == "viewer" else 403)


def test_outsiders_get_404_for_everything_and_change_nothing(project, outsider):  # type: ignore[no-untyped-def]
    preference_project(project, prompts=6)
    run = training_run_create(
        project=project, user=None, settings=TrainingSettings(**FAST), enqueue=False
    )
    model = RewardModel.objects.create(
        project=project, name="m", head_kind="linear", artifact_path="x"
    )
    client = token_client(outsider)
    before = _state(project)

    answers = [
        client.get(f"/api/v1/projects/{project.pk}/training-runs/"),
        client.post(f"/api/v1/projects/{project.pk}/training-runs/", {}, format="json"),
        client.get(f"/api/v1/training-runs/{run.pk}/"),
        client.post(f"/api/v1/training-runs/{run.pk}/cancel/", {}, format="json"),
        client.get(f"/api/v1/projects/{project.pk}/reward-models/"),
        client.post(f"/api/v1/reward-models/{model.pk}/promote/", {}, format="json"),
        client.get("/api/v1/training-runs/999999/"),
    ]

    assert [(a.status_code, a.json()) for a in answers] == [(404, NOT_FOUND)] * 7
    assert _state(project) == before


def test_cancel_answers_the_run_and_refuses_a_finished_one(project, designer):  # type: ignore[no-untyped-def]
    preference_project(project, prompts=6)
    run = training_run_create(
        project=project, user=None, settings=TrainingSettings(**FAST), enqueue=False
    )
    client = token_client(designer)

    first = client.post(f"/api/v1/training-runs/{run.pk}/cancel/")
    second = client.post(f"/api/v1/training-runs/{run.pk}/cancel/")

    assert (first.status_code, first.json()["status"]) == (200, "cancelled")
    assert second.status_code == 400
    assert second.json()["error"]["message"] == f"Run {run.pk} has already finished (cancelled)."


def test_promote_needs_confirmation_when_worse_on_the_shared_split(project, designer):  # type: ignore[no-untyped-def]
    preference_project(project, prompts=20)

    def trained(**settings):  # type: ignore[no-untyped-def]
        run = training_run_create(project=project, user=designer,
                                  settings=TrainingSettings(**settings), enqueue=False)  # fmt: skip
        claimed = training_run_claim(run_id=run.pk, worker="w")
        assert claimed is not None
        return training_run_execute(run=claimed, train=train_reward_model)

    good = trained(**FAST)
    reward_model_promote(model=good.reward_model)
    weak = trained(**{**FAST, "epochs": 1, "learning_rate": 1e-6})  # the same split
    client = token_client(designer)
    url = f"/api/v1/reward-models/{weak.reward_model.pk}/promote/"

    refused = client.post(url, {}, format="json")
    listed = client.get(f"/api/v1/projects/{project.pk}/reward-models/").json()["results"]
    confirmed = client.post(url, {"confirm": True}, format="json")

    assert refused.status_code == 400
    assert refused.json()["error"]["details"] == {
        "candidate_accuracy": 1 / 6, "active_accuracy": 1.0, "held_out_pairs": 6,
        "candidate_interval": [0.0, 0.5], "active_interval": [1.0, 1.0],
        "difference_interval": [-1.0, -0.5], "separable": True,
    }  # fmt: skip
    assert weak.metrics["accuracy"] == 1 / 6
    assert [(m["id"], m["is_promoted"], m["training_run"]) for m in listed] == [
        (weak.reward_model.pk, False, weak.pk), (good.reward_model.pk, True, good.pk),
    ]  # fmt: skip
    assert confirmed.status_code == 200
    assert (confirmed.json()["id"], confirmed.json()["is_promoted"]) == (weak.reward_model.pk, True)
    assert list(RewardModel.objects.filter(is_promoted=True).values_list("pk", flat=True)) == [
        weak.reward_model.pk
    ]


def test_the_schema_describes_the_operations(api_client):  # type: ignore[no-untyped-def]
    schema = api_client.get("/api/schema/?format=json").json()

    operations = {
        op["operationId"] for path in schema["paths"].values() for op in path.values()
        if isinstance(op, dict) and "operationId" in op
    }  # fmt: skip
    expected = {"training_run_list", "training_run_create", "training_run_retrieve",
                "training_run_cancel", "reward_model_list", "reward_model_promote"}  # fmt: skip
    assert expected <= operations
    settings = schema["components"]["schemas"]["TrainingRunCreateRequest"]["properties"]["settings"]
    assert settings["properties"]["ties"]["enum"] == ["drop", "half"]
