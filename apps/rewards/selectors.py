"""Reads for reward functions, versions, scores and score runs, scoped to a project."""

from __future__ import annotations

from django.db.models import Count, Prefetch, QuerySet

from apps.accounts.models import Project
from apps.rewards.models import RewardFunction, RewardFunctionVersion, Score, ScoreRun


def reward_function_list(*, project: Project) -> QuerySet[RewardFunction]:
    """A project's reward functions by name, with their versions (newest first)."""
    versions = RewardFunctionVersion.objects.order_by("-number")
    return (
        RewardFunction.objects.filter(project=project)
        .select_related("created_by")
        .prefetch_related(Prefetch("versions", queryset=versions))
    )


def reward_function_get(*, project: Project, pk: int) -> RewardFunction | None:
    return reward_function_list(project=project).filter(pk=pk).first()


def reward_function_project_id(*, pk: int) -> int | None:
    """The project a reward function belongs to, to check the caller's role there."""
    return RewardFunction.objects.filter(pk=pk).values_list("project_id", flat=True).first()


def reward_function_version_list(*, function: RewardFunction) -> QuerySet[RewardFunctionVersion]:
    """A function's versions, newest first, with how many responses each has scored."""
    return (
        RewardFunctionVersion.objects.filter(function=function)
        .select_related("function", "created_by")
        .annotate(score_count=Count("scores"))
        .order_by("-number")
    )


def reward_function_version_project_id(*, pk: int) -> int | None:
    return (
        RewardFunctionVersion.objects.filter(pk=pk)
        .values_list("function__project_id", flat=True)
        .first()
    )


def reward_function_version_get(*, project: Project, pk: int) -> RewardFunctionVersion | None:
    return (
        RewardFunctionVersion.objects.filter(function__project=project, pk=pk)
        .select_related("function", "created_by")
        .annotate(score_count=Count("scores"))
        .first()
    )


def score_list(*, version: RewardFunctionVersion) -> QuerySet[Score]:
    """A version's scores by response id."""
    return Score.objects.filter(version=version).order_by("response_id")


def score_run_list(*, version: RewardFunctionVersion) -> QuerySet[ScoreRun]:
    """A version's score runs, newest first."""
    return ScoreRun.objects.filter(version=version).select_related("created_by")


def score_run_project_id(*, pk: int) -> int | None:
    return ScoreRun.objects.filter(pk=pk).values_list("project_id", flat=True).first()


def score_run_get(*, project: Project, pk: int) -> ScoreRun | None:
    return ScoreRun.objects.filter(project=project, pk=pk).select_related("created_by").first()
