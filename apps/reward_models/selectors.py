"""Reads for reward models and training runs, scoped to one project."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from apps.accounts.models import Project
from apps.reward_models.models import RetrainRule, RewardModel, TrainingRun
from apps.reward_models.progress import progress_read


def reward_model_list(*, project: Project) -> QuerySet[RewardModel]:
    """A project's reward models, newest first, with the run that trained each."""
    return RewardModel.objects.filter(project=project).select_related("training_run")


def reward_model_get(*, project: Project, pk: int) -> RewardModel | None:
    return reward_model_list(project=project).filter(pk=pk).first()


def reward_model_project_id(*, pk: int) -> int | None:
    return RewardModel.objects.filter(pk=pk).values_list("project_id", flat=True).first()


def reward_model_active(*, project: Project) -> RewardModel | None:
    return reward_model_list(project=project).filter(is_promoted=True).first()


def reward_model_for_scoring(*, project_id: int, model_id: int | None) -> RewardModel | None:
    """The given model of the project, or with no id its promoted model; None if there is none."""
    models = RewardModel.objects.filter(project_id=project_id)
    if model_id is None:
        return models.filter(is_promoted=True).first()
    return models.filter(pk=model_id).first()


def training_run_list(*, project: Project) -> QuerySet[TrainingRun]:
    """A project's runs, newest first, without the (large) snapshot."""
    return (
        TrainingRun.objects.filter(project=project)
        .select_related("created_by", "reward_model", "baseline_model")
        .defer("snapshot", "logs")
    )


def training_run_get(
    *, project: Project, pk: int, with_snapshot: bool = True
) -> TrainingRun | None:
    """One run of the project; without its snapshot (which can be large) when not needed."""
    runs = TrainingRun.objects.filter(project=project, pk=pk).select_related(
        "created_by", "reward_model", "baseline_model"
    )
    return (runs if with_snapshot else runs.defer("snapshot")).first()


def training_run_project_id(*, pk: int) -> int | None:
    return TrainingRun.objects.filter(pk=pk).values_list("project_id", flat=True).first()


def training_run_live(run: TrainingRun) -> TrainingRun:
    """The run with its progress, stage, loss history and logs as last reported (the cache
    runs ahead of the row while the worker trains)."""
    if run.status != TrainingRun.Status.RUNNING:
        return run
    live: dict[str, Any] | None = progress_read(run.pk)
    if live:
        run.progress, run.stage = live["progress"], live["stage"]
        run.history, run.logs = live["history"], live["logs"]
    return run


def retrain_rule_get(*, project: Project) -> RetrainRule | None:
    return RetrainRule.objects.filter(project=project).first()
