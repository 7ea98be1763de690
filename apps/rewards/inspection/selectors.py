"""Reads for the inspector, scoped to a project."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from apps.accounts.models import Project
from apps.rewards.models import Inspection, RewardFunction, RewardFunctionVersion
from apps.rewards.selectors import reward_function_list


def inspection_list(*, version: RewardFunctionVersion) -> QuerySet[Inspection]:
    """A version's inspections, newest first."""
    return Inspection.objects.filter(version=version).select_related(
        "created_by", "version__function"
    )


def inspection_latest(*, version: RewardFunctionVersion) -> Inspection | None:
    """The newest inspection of the version, whatever its status."""
    return inspection_list(version=version).first()


def inspection_latest_succeeded(*, version: RewardFunctionVersion) -> Inspection | None:
    """The newest inspection with a result: what the pages show."""
    return inspection_list(version=version).filter(status=Inspection.Status.SUCCEEDED).first()


def inspection_project_id(*, pk: int) -> int | None:
    return Inspection.objects.filter(pk=pk).values_list("project_id", flat=True).first()


def inspection_get(*, project: Project, pk: int) -> Inspection | None:
    return (
        Inspection.objects.filter(project=project, pk=pk)
        .select_related("created_by", "version__function")
        .first()
    )


@dataclass(frozen=True)
class VersionRow:
    """A version on the inspector's index, with its newest inspection."""

    version: RewardFunctionVersion
    latest: Inspection | None


@dataclass(frozen=True)
class FunctionRow:
    function: RewardFunction
    versions: list[VersionRow]


def inspector_index(*, project: Project) -> list[FunctionRow]:
    """The project's reward functions, each version with its newest inspection (two queries
    beyond the functions': versions come prefetched, inspections in one read)."""
    functions = list(reward_function_list(project=project))
    latest: dict[int, Inspection] = {}
    for inspection in (
        Inspection.objects.filter(project=project).defer("result").order_by("created_at", "id")
    ):
        latest[inspection.version_id] = inspection
    return [
        FunctionRow(f, [VersionRow(v, latest.get(v.pk)) for v in f.versions.all()])
        for f in functions
    ]


def version_choices(*, project: Project) -> list[RewardFunctionVersion]:
    """Every version of the project's functions, for the compare form."""
    return list(
        RewardFunctionVersion.objects.filter(function__project=project)
        .select_related("function")
        .order_by("function__name", "-number")
    )
