"""Training runs through the services: create, claim once, train with the real engine,
register atomically, cancel, crash, stale workers, promotion and the retrain rule."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from apps.core.errors import ApplicationError
from apps.prompts.models import Prompt
from apps.reward_models.models import RetrainRule, RewardModel, TrainingRun
from apps.reward_models.progress import progress_read
from apps.reward_models.selectors import (
    reward_model_comparison,
    training_run_baseline_in_sample,
)
from apps.reward_models.services import (
    PromotionNeedsConfirmation,
    retrain_if_due,
    retrain_rule_set,
    reward_model_promote_checked,
    training_run_cancel,
    training_run_claim,
    training_run_create,
    training_run_execute,
    training_runs_fail_stale,
    training_settings_parse,
)
from tests.factories import UserFactory
from tests.reward_models.factories import helpful_response_id, pair, preference_project, vote
from workers.contracts import TrainingProgress
from workers.ml.training import train_reward_model
from workers.training.settings import TrainingSettings

pytestmark = pytest.mark.django_db

FAST = TrainingSettings(head_kind="linear", epochs=30, learning_rate=0.05, validation_fraction=0.3)


def _stored_files(project_id: int) -> list[str]:
    root = f"reward_models/{project_id}"
    if not default_storage.exists(root):
        return []
    folders, _ = default_storage.listdir(root)
    return sorted(f"{folder}/{name}" for folder in folders
                  for name in default_storage.listdir(f"{root}/{folder}")[1])  # fmt: skip


def _run(project, designer, settings=FAST) -> TrainingRun:  # type: ignore[no-untyped-def]
    return training_run_create(project=project, user=designer, settings=settings, enqueue=False)


def test_create_freezes_the_data_and_queues_the_task_on_commit(
    project, designer, django_capture_on_commit_callbacks
):  # type: ignore[no-untyped-def]
    preference_project(project, prompts=10)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = training_run_create(project=project, user=designer, settings=FAST)

    assert len(callbacks) == 1
    assert (run.status, run.created_by, run.train_pairs, run.validation_pairs) == (
        "queued", designer, 7, 3,
    )  # fmt: skip
    assert run.settings == FAST.model_dump(mode="json")
    assert len(run.snapshot["label_ids"]) == 10


def test_settings_errors_name_the_field():  # type: ignore[no-untyped-def]
    with pytest.raises(ApplicationError) as caught:
        training_settings_parse({"epochs": 0, "colour": "red"})

    assert caught.value.message == (
        "epochs: Input should be greater than or equal to 1; colour: Extra inputs are not permitted"
    )


def test_a_run_is_claimed_once(project, designer):  # type: ignore[no-untyped-def]
    preference_project(project, prompts=6)
    run = _run(project, designer)

    first = training_run_claim(run_id=run.pk, worker="celery@gpu-1")
    second = training_run_claim(run_id=run.pk, worker="celery@gpu-2")

    assert first is not None
    assert second is None
    run.refresh_from_db()
    assert (run.status, run.worker) == ("running", "celery@gpu-1")


def test_the_engine_trains_a_known_answer_and_the_model_is_registered(project, designer):  # type: ignore[no-untyped-def]
    preference_project(project, prompts=20)
    run = training_run_claim(run_id=_run(project, designer).pk, worker="w")
    assert run is not None

    run = training_run_execute(run=run, train=train_reward_model)

    assert run.status == "succeeded", run.error
    model = run.reward_model
    assert model is not None
    assert not model.is_promoted
    assert model.metrics["accuracy"] == 1.0
    assert model.metrics["validation_pairs"] == run.validation_pairs == 6
    assert run.metrics == model.metrics
    assert run.progress == 1.0
    assert run.stage == "done"
    assert [entry["epoch"] for entry in run.history] == list(range(1, len(run.history) + 1))
    assert "registered reward model" in run.logs
    assert _stored_files(project.pk) == sorted(f"{model.artifact_path.split('/')[-1]}/{name}"
                                               for name in model.files)  # fmt: skip
    assert progress_read(run.pk)["progress"] == 1.0


def test_a_cancelled_run_ends_cancelled_without_a_model(project, designer):  # type: ignore[no-untyped-def]
    preference_project(project, prompts=10)
    run = training_run_claim(run_id=_run(project, designer).pk, worker="w")
    assert run is not None
    training_run_cancel(run=run)

    run = training_run_execute(run=run, train=train_reward_model)

    assert (run.status, run.error, run.reward_model) == (
        "cancelled",
        "Cancelled while training.",
        None,
    )
    assert RewardModel.objects.filter(project=project).count() == 0
    assert _stored_files(project.pk) == []


def test_cancel_before_a_worker_starts_it_is_immediate(project, designer):  # type: ignore[no-untyped-def]
    preference_project(project, prompts=6)
    run = _run(project, designer)

    training_run_cancel(run=run)

    run.refresh_from_db()
    assert (run.status, run.cancel_requested) == ("cancelled", False)
    assert training_run_claim(run_id=run.pk) is None
    with pytest.raises(ApplicationError, match=f"Run {run.pk} has already finished"):
        training_run_cancel(run=run)


def test_a_crash_mid_training_leaves_the_run_failed_and_no_model(project, designer):  # type: ignore[no-untyped-def]
    preference_project(project, prompts=10)
    run = training_run_claim(run_id=_run(project, designer).pk, worker="w")
    assert run is not None

    def crashing(**kwargs):  # type: ignore[no-untyped-def]
        def explode(report: TrainingProgress) -> None:
            kwargs_progress(report)
            if report.epoch == 2:
                raise RuntimeError("CUDA error: an illegal memory access")

        kwargs_progress = kwargs["on_progress"]
        return train_reward_model(**{**kwargs, "on_progress": explode})

    with pytest.raises(RuntimeError):
        training_run_execute(run=run, train=crashing)

    run.refresh_from_db()
    assert (run.status, run.error, run.reward_model) == (
        "failed", "internal error; see the worker's log", None,
    )  # fmt: skip
    assert run.history
    assert run.history[-1]["epoch"] == 2
    assert RewardModel.objects.filter(project=project).count() == 0
    assert _stored_files(project.pk) == []


def test_a_crash_while_registering_removes_the_uploaded_files(project, designer, monkeypatch):  # type: ignore[no-untyped-def]
    preference_project(project, prompts=10)
    run = training_run_claim(run_id=_run(project, designer).pk, worker="w")
    assert run is not None
    original = RewardModel.objects.create

    def failing_create(**kwargs):  # type: ignore[no-untyped-def]
        assert _stored_files(project.pk) != []  # the files went up first
        raise OSError("connection to the database lost")

    monkeypatch.setattr(RewardModel.objects, "create", failing_create)
    run = training_run_execute(run=run, train=train_reward_model)
    monkeypatch.setattr(RewardModel.objects, "create", original)

    assert (run.status, run.error) == ("failed", "connection to the database lost")
    assert _stored_files(project.pk) == []


def test_unusable_input_fails_with_the_engines_message(project, designer):  # type: ignore[no-untyped-def]
    preference_project(project, prompts=10)
    run = training_run_claim(run_id=_run(project, designer).pk, worker="w")
    assert run is not None
    validation = [int(pk) for pk, split in run.snapshot["prompt_splits"].items()
                  if split == "validation"]  # fmt: skip
    Prompt.objects.filter(pk__in=validation[1:]).delete()  # deleted since the snapshot

    run = training_run_execute(run=run, train=train_reward_model)

    assert (run.status, run.error) == (
        "failed",
        "the validation split has 1 usable pair(s); at least 2 with a preferred side are "
        "needed to measure the model",
    )
    assert RewardModel.objects.filter(project=project).count() == 0


def test_too_few_prompts_for_validation_is_refused_when_the_run_is_made(project, designer):  # type: ignore[no-untyped-def]
    annotator = UserFactory(username="two-prompts")
    vote(pair(project, "Only prompt", "Good", "Bad"), annotator, "a")
    vote(pair(project, "Second prompt", "Good", "Bad"), annotator, "a")

    with pytest.raises(ApplicationError) as caught:
        _run(project, designer)

    assert caught.value.message == (
        "Too few labelled prompts to measure a model: 2 prompt(s) with usable labels put 1 "
        "pair(s) with a preferred side in the validation split, and at least 2 are needed. "
        "Label more prompts, or raise validation_fraction."
    )
    assert TrainingRun.objects.count() == 0


def test_a_run_whose_worker_died_is_failed_by_the_next_run(project, designer):  # type: ignore[no-untyped-def]
    preference_project(project, prompts=6)
    dead = training_run_claim(run_id=_run(project, designer).pk, worker="celery@gone")
    assert dead is not None
    TrainingRun.objects.filter(pk=dead.pk).update(
        heartbeat_at=timezone.now() - timedelta(minutes=6)
    )
    alive = training_run_claim(run_id=_run(project, designer).pk, worker="celery@here")
    assert alive is not None

    newer = _run(project, designer)

    dead.refresh_from_db()
    alive.refresh_from_db()
    assert (dead.status, alive.status, newer.status) == ("failed", "running", "queued")
    assert (
        dead.error
        == "The worker running this stopped (killed or crashed); no model was registered."
    )


def test_a_restarted_worker_fails_the_runs_it_held(project, designer):  # type: ignore[no-untyped-def]
    preference_project(project, prompts=6)
    held = training_run_claim(run_id=_run(project, designer).pk, worker="celery@gpu-1")
    other = training_run_claim(run_id=_run(project, designer).pk, worker="celery@gpu-2")
    assert held is not None
    assert other is not None

    assert training_runs_fail_stale(worker="celery@gpu-1") == 1

    assert TrainingRun.objects.get(pk=held.pk).status == "failed"
    assert TrainingRun.objects.get(pk=other.pk).status == "running"


def test_a_redelivered_message_for_a_dead_run_fails_it(project, designer):  # type: ignore[no-untyped-def]
    preference_project(project, prompts=6)
    run = training_run_claim(run_id=_run(project, designer).pk, worker="celery@gone")
    assert run is not None
    TrainingRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))

    assert training_run_claim(run_id=run.pk, worker="celery@new") is None

    run.refresh_from_db()
    assert run.status == "failed"


def _trained(project, designer, settings=FAST) -> TrainingRun:  # type: ignore[no-untyped-def]
    run = training_run_claim(run_id=_run(project, designer, settings).pk, worker="w")
    assert run is not None
    return training_run_execute(run=run, train=train_reward_model)


# One epoch at a tiny learning rate: a model worse than FAST's on the same split.
WEAK = TrainingSettings(head_kind="linear", epochs=1, learning_rate=1e-6, validation_fraction=0.3)


def _validation_keys(run: TrainingRun) -> set[tuple[int, int, int]]:
    splits = run.snapshot["prompt_splits"]
    return {(item[0], item[2], item[3]) for item in run.snapshot["items"]
            if splits[str(item[1])] == "validation" and item[4] != 0.5}  # fmt: skip


def test_promotion_warns_when_the_candidate_is_worse_on_the_shared_split(project, designer):  # type: ignore[no-untyped-def]
    preference_project(project, prompts=20)
    good = _trained(project, designer).reward_model
    reward_model_promote_checked(model=good, confirm=False)
    weak_run = _trained(project, designer, WEAK)
    weak = weak_run.reward_model
    assert weak_run.baseline_model == good
    assert weak_run.metrics["accuracy"] < weak_run.baseline_metrics["accuracy"] == 1.0

    with pytest.raises(PromotionNeedsConfirmation) as caught:
        reward_model_promote_checked(model=weak, confirm=False)

    versus = reward_model_comparison(candidate=weak, active=good)
    assert versus is not None
    assert versus.pairs == len(_validation_keys(weak_run)) == 6
    assert versus.in_sample == 0
    assert versus.candidate_accuracy == weak_run.metrics["accuracy"]
    assert versus.active_accuracy == 1.0
    assert caught.value.message == (
        f"{weak.name} is worse than the active model {good.name} on the pairs both runs held "
        f"out. {versus.describe()} Confirm to promote it anyway."
    )
    assert caught.value.extra["held_out_pairs"] == 6
    assert list(RewardModel.objects.filter(is_promoted=True)) == [good]

    reward_model_promote_checked(model=weak, confirm=True)

    assert list(RewardModel.objects.filter(is_promoted=True)) == [weak]


def test_two_runs_with_the_same_split_are_compared_on_it(project, designer):  # type: ignore[no-untyped-def]
    """Issue 16 (4): neither run measured the other as its baseline (both were made before
    any promotion); they share a stored split, so the worse one needs confirmation."""
    preference_project(project, prompts=20)
    good_run, weak_run = _trained(project, designer), _trained(project, designer, WEAK)
    assert good_run.baseline_model is None
    assert weak_run.baseline_model is None
    assert good_run.snapshot["prompt_splits"] == weak_run.snapshot["prompt_splits"]
    good, weak = good_run.reward_model, weak_run.reward_model
    reward_model_promote_checked(model=good, confirm=False)

    versus = reward_model_comparison(candidate=weak, active=good)

    assert versus is not None
    assert versus.pairs == 6
    assert (versus.candidate_accuracy, versus.active_accuracy) == (
        weak_run.metrics["accuracy"], good_run.metrics["accuracy"])  # fmt: skip
    assert versus.candidate_is_worse
    with pytest.raises(PromotionNeedsConfirmation):
        reward_model_promote_checked(model=weak, confirm=False)
    assert list(RewardModel.objects.filter(is_promoted=True)) == [good]


def test_overlapping_splits_compare_on_pairs_both_held_out_and_count_in_sample_apart(
    project, designer
):  # type: ignore[no-untyped-def]
    """The active model is measured on the new run's validation pairs, some of which it
    trained on: those are in-sample for it and left out of the comparison."""
    preference_project(project, prompts=20)
    good_run = _trained(project, designer)
    good = good_run.reward_model
    reward_model_promote_checked(model=good, confirm=False)
    other_run = _trained(project, designer, FAST.model_copy(update={"seed": 3}))
    both = _validation_keys(good_run) & _validation_keys(other_run)
    trained_by_good = _validation_keys(other_run) - _validation_keys(good_run)
    assert (len(both), len(trained_by_good)) == (1, 5)

    versus = reward_model_comparison(candidate=other_run.reward_model, active=good)

    assert versus is not None
    assert (versus.pairs, versus.in_sample) == (1, 5)
    assert training_run_baseline_in_sample(run=other_run) == 5


def test_a_small_shared_held_out_set_warns_with_the_interval_width(project, designer):  # type: ignore[no-untyped-def]
    """Issue 16 (4): six shared held-out pairs cannot tell 0.833 from 1.000 apart; the
    confirmation says so, with the width of the difference's interval."""
    preference_project(project, prompts=20)
    good = _trained(project, designer).reward_model
    reward_model_promote_checked(model=good, confirm=False)
    nearly = FAST.model_copy(update={"epochs": 1, "learning_rate": 0.01})
    close = _trained(project, designer, nearly)

    versus = reward_model_comparison(candidate=close.reward_model, active=good)

    assert versus is not None
    assert (versus.pairs, versus.candidate_accuracy, versus.active_accuracy) == (6, 5 / 6, 1.0)
    assert versus.difference_interval == (-0.5, 0.0)
    assert not versus.is_separable
    with pytest.raises(PromotionNeedsConfirmation) as caught:
        reward_model_promote_checked(model=close.reward_model, confirm=False)
    assert caught.value.message == (
        f"{close.reward_model.name} is worse than the active model {good.name} on the pairs "
        "both runs held out. On the 6 pairs that both runs held out (6 comparisons): 83.3% "
        "(95% interval 50.0%–100.0%) against 100.0% (100.0%–100.0%). Too few held-out pairs "
        "to tell the two models apart: the 95% interval of the difference is -50.0% to "
        "+0.0%, 50.0% wide. Confirm to promote it anyway."
    )
    assert caught.value.extra["separable"] is False
    assert list(RewardModel.objects.filter(is_promoted=True)) == [good]


def test_the_retrain_rule_starts_one_run_after_n_new_labels(
    project, designer, django_capture_on_commit_callbacks
):  # type: ignore[no-untyped-def]
    comparisons = preference_project(project, prompts=6)
    retrain_rule_set(project=project, after_labels=3, settings=FAST)
    _run(project, designer)
    TrainingRun.objects.update(status="succeeded", reward_model=RewardModel.objects.create(
        project=project, name="m", head_kind="linear", artifact_path="x"))  # fmt: skip
    annotator = UserFactory(username="late")
    vote(comparisons[0], annotator, "a")
    vote(comparisons[1], annotator, "b")

    assert retrain_if_due(project_id=project.pk) is None  # two new labels: not yet

    vote(comparisons[2], annotator, "a")
    with django_capture_on_commit_callbacks(execute=False):
        started = retrain_if_due(project_id=project.pk)
        again = retrain_if_due(project_id=project.pk)

    assert started is not None
    assert again is None
    assert (started.trigger, started.created_by, started.settings) == (
        "new_labels", None, FAST.model_dump(mode="json"),
    )  # fmt: skip


def test_the_retrain_rule_is_off_by_default_and_rejects_zero(project):  # type: ignore[no-untyped-def]
    preference_project(project, prompts=6)

    assert retrain_if_due(project_id=project.pk) is None
    with pytest.raises(ApplicationError, match="after_labels: must be at least 1"):
        retrain_rule_set(project=project, after_labels=0, settings=FAST)
    assert RetrainRule.objects.count() == 0
    assert TrainingRun.objects.count() == 0


def test_a_local_copy_of_a_model_has_every_file(project, designer):  # type: ignore[no-untyped-def]
    from apps.reward_models.services import reward_model_local_directory

    preference_project(project, prompts=10)
    model = _trained(project, designer).reward_model

    directory = reward_model_local_directory(model=model)

    assert sorted(
        p.name for p in Path(directory).iterdir() if not p.name.endswith(".part")
    ) == sorted(model.files)


def test_ratings_train_per_criterion_heads(project, designer):  # type: ignore[no-untyped-def]
    from apps.rubrics.services import rubric_create

    criteria = [{"name": "helpful", "scale": {"min": 1, "max": 5}}]
    rubric = rubric_create(project=project, name="Quality", error_categories=[], criteria=criteria)
    version = rubric.versions.get()
    rater = UserFactory(username="rater")
    for comparison in preference_project(project, prompts=20):
        helpful = helpful_response_id(comparison)
        other = (
            comparison.response_b_id
            if helpful == comparison.response_a_id
            else comparison.response_a_id
        )
        ratings = {str(helpful): {"helpful": 5}, str(other): {"helpful": 1}}
        choice = "a" if helpful == comparison.response_a_id else "b"
        vote(comparison, rater, choice, rubric_version=version, ratings=ratings)

    run = _trained(project, designer)

    assert run.status == "succeeded", run.error
    assert len(run.snapshot["rated"]) == 40
    assert set(run.metrics["criteria"]) == {"helpful"}
    assert set(run.metrics["criteria"]["helpful"]) >= {"mae", "pearson"}
    assert run.metrics["criteria"]["helpful"]["pearson"] > 0.9


def test_a_label_asks_for_the_retrain_check_only_where_a_rule_is_set(
    project, annotator, django_capture_on_commit_callbacks
):  # type: ignore[no-untyped-def]
    from apps.annotation.schema import Judgment
    from apps.annotation.services import assignment_next, label_submit
    from tests.annotation.test_reports import purge_jobs, queued_jobs

    preference_project(project, prompts=4)
    check = "workers.tasks.reward_models.retrain_if_due"

    def label(key: str) -> None:
        assignment = assignment_next(project=project, user=annotator)
        assert assignment is not None
        with django_capture_on_commit_callbacks(execute=True):
            label_submit(
                assignment=assignment, user=annotator,
                judgment=Judgment(idempotency_key=key, choice="a"),
            )  # fmt: skip

    purge_jobs()
    try:
        label("no-rule-0001")
        assert queued_jobs(check) == 0
        retrain_rule_set(project=project, after_labels=50, settings=FAST)
        label("rule-set-0001")
        assert queued_jobs(check) == 1
    finally:
        purge_jobs()
