"""A real Celery worker on Redis trains runs end to end, and promotion changes what the
scoring endpoint answers."""

from __future__ import annotations

import pytest

from apps.reward_models.models import RewardModel, TrainingRun
from apps.rewards.services import scoring_resources
from tests.api import token_client
from tests.conftest import wait_for
from tests.reward_models.factories import preference_project
from tests.rewards.factories import version_of
from workers.contracts import ScoreItem
from workers.ml.scoring import Scorer

pytestmark = pytest.mark.integration

FAST = {"head_kind": "linear", "epochs": 30, "learning_rate": 0.05, "validation_fraction": 0.3}
SPEC = {"components": [{"name": "rm", "type": "reward_model"}], "combine": {"op": "min"}}
ITEM = {"prompt": "What is the capital of France?", "response": "Paris is the capital of France."}


def _finished(run_id: int) -> TrainingRun | None:
    run = TrainingRun.objects.get(pk=run_id)
    return run if run.is_finished else None


def _train(client, project, settings) -> TrainingRun:  # type: ignore[no-untyped-def]
    created = client.post(
        f"/api/v1/projects/{project.pk}/training-runs/", {"settings": settings}, format="json"
    )
    assert created.status_code == 202, created.json()
    run = wait_for(lambda: _finished(created.json()["id"]), timeout=180)
    assert run.status == "succeeded", run.error
    return run


def test_a_worker_trains_and_promotion_changes_the_scores(celery_worker_process, project, designer):  # type: ignore[no-untyped-def]
    preference_project(project, prompts=20)
    client = token_client(designer)

    good = _train(client, project, FAST)

    detail = client.get(f"/api/v1/training-runs/{good.pk}/").json()
    assert (detail["status"], detail["progress"]) == ("succeeded", 1.0)
    assert detail["reward_model"]["id"] == good.reward_model_id
    assert detail["metrics"]["accuracy"] == 1.0
    assert detail["history"]
    assert detail["history"][0]["epoch"] == 1
    promoted = client.post(
        f"/api/v1/reward-models/{good.reward_model_id}/promote/", {}, format="json"
    )
    assert promoted.status_code == 200

    version = version_of(project, SPEC)
    assert version.is_fitted  # no transform needs statistics

    def scored() -> float:
        answer = client.post(f"/api/v1/reward-function-versions/{version.pk}/score/",
                             {"items": [ITEM]}, format="json")  # fmt: skip
        assert answer.status_code == 200, answer.json()
        return answer.json()["results"][0]["components"]["rm"]

    def expected() -> float:
        scorer = Scorer(version.parsed_spec, scoring_resources(version=version))
        return scorer.component_values([ScoreItem(ITEM["prompt"], ITEM["response"])])["rm"][0]

    with_good = scored()
    assert with_good == pytest.approx(expected(), abs=1e-5)

    # A second run is evaluated against the active model on its own validation split.
    weak = _train(client, project, {**FAST, "epochs": 1, "learning_rate": 1e-6, "seed": 3})
    assert weak.baseline_model_id == good.reward_model_id
    assert weak.baseline_metrics["accuracy"] == 1.0
    confirm = client.post(f"/api/v1/reward-models/{weak.reward_model_id}/promote/",
                          {"confirm": True}, format="json")  # fmt: skip
    assert confirm.status_code == 200

    with_weak = scored()
    assert with_weak == pytest.approx(expected(), abs=1e-5)
    assert with_weak != pytest.approx(with_good, abs=1e-3)
    assert list(RewardModel.objects.filter(is_promoted=True).values_list("pk", flat=True)) == [
        weak.reward_model_id
    ]


def test_a_worker_cancels_a_running_run(celery_worker_process, project, designer):  # type: ignore[no-untyped-def]
    preference_project(project, prompts=20)
    client = token_client(designer)
    created = client.post(
        f"/api/v1/projects/{project.pk}/training-runs/",
        {
            "settings": {
                **FAST,
                "head_kind": "mlp",
                "hidden_dim": 4096,
                "ensemble_size": 16,
                "batch_size": 1,
                "epochs": 500,
                "patience": 100,
            }
        },  # long enough
        format="json",
    ).json()
    wait_for(lambda: TrainingRun.objects.get(pk=created["id"]).stage == "training", timeout=120)

    cancelled = client.post(f"/api/v1/training-runs/{created['id']}/cancel/")
    run = wait_for(lambda: _finished(created["id"]), timeout=120)

    assert cancelled.json()["cancel_requested"] is True
    assert (run.status, run.reward_model) == ("cancelled", None)
    assert RewardModel.objects.filter(project=project).count() == 0


def test_new_labels_start_a_run_through_the_rule(celery_worker_process, project, annotator):  # type: ignore[no-untyped-def]
    from apps.annotation.schema import Judgment
    from apps.annotation.services import assignment_next, label_submit
    from apps.reward_models.services import retrain_rule_set
    from workers.training.settings import TrainingSettings

    preference_project(project, prompts=20)
    retrain_rule_set(project=project, after_labels=22, settings=TrainingSettings(**FAST))

    for number in range(2):  # 20 labels from the factory, then these two through the service
        assignment = assignment_next(project=project, user=annotator)
        assert assignment is not None
        judgment = Judgment(idempotency_key=f"rule-key-{number}", choice="a")
        label_submit(assignment=assignment, user=annotator, judgment=judgment)

    run = wait_for(lambda: TrainingRun.objects.filter(project=project).first(), timeout=60)
    assert (run.trigger, run.created_by, run.settings["epochs"]) == ("new_labels", None, 30)
    finished = wait_for(lambda: _finished(run.pk), timeout=180)
    assert finished.status == "succeeded", finished.error
    assert TrainingRun.objects.filter(project=project).count() == 1
