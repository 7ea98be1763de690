"""Reads for rubrics and their versions, scoped to a project."""

from __future__ import annotations

from django.apps import apps
from django.db.models import Count, Prefetch, QuerySet

from apps.accounts.models import Project
from apps.rubrics.models import Rubric, RubricVersion


def rubric_list(*, project: Project) -> QuerySet[Rubric]:
    """A project's rubrics by name, with their versions (newest first)."""
    versions = RubricVersion.objects.select_related("created_by").order_by("-number")
    return Rubric.objects.filter(project=project).prefetch_related(
        Prefetch("versions", queryset=versions)
    )


def rubric_get(*, project: Project, pk: int) -> Rubric | None:
    return rubric_list(project=project).filter(pk=pk).first()


def rubric_project_id(*, pk: int) -> int | None:
    """The project a rubric belongs to, to check the caller's role there."""
    return Rubric.objects.filter(pk=pk).values_list("project_id", flat=True).first()


def rubric_version_list(*, rubric: Rubric) -> QuerySet[RubricVersion]:
    """A rubric's versions, newest first, with how many labels were made under each."""
    return (
        RubricVersion.objects.filter(rubric=rubric)
        .select_related("created_by")
        .annotate(label_count=Count("labels"))
        .order_by("-number")
    )


def rubric_version_latest(*, rubric: Rubric) -> RubricVersion | None:
    return RubricVersion.objects.filter(rubric=rubric).order_by("-number").first()


def rubric_version_choices(*, project: Project) -> QuerySet[RubricVersion]:
    """Every version of the project's rubrics, by rubric name then newest first (pickers)."""
    return (
        RubricVersion.objects.filter(rubric__project=project)
        .select_related("rubric")
        .order_by("rubric__name", "-number")
    )


def rubric_version_get(*, rubric: Rubric, number: int) -> RubricVersion | None:
    return RubricVersion.objects.filter(rubric=rubric, number=number).first()


def rubric_version_reward_users(*, version: RubricVersion) -> list[int]:
    """Ids of reward function versions whose rubric judge scores against this version.

    Rewards sit above rubrics (they refer to a version by id inside their JSON spec), so
    the model is looked up by name rather than imported; specs are read in Python so the
    check works on SQLite too, and a project has few reward versions.
    """
    reward_versions = apps.get_model("rewards", "RewardFunctionVersion").objects.filter(
        function__project_id=version.rubric.project_id
    )
    users = []
    for pk, spec in reward_versions.values_list("pk", "spec"):
        components = spec.get("components", []) if isinstance(spec, dict) else []
        if any(
            isinstance(c, dict)
            and c.get("type") == "rubric_judge"
            and c.get("rubric_version") == version.pk
            for c in components
        ):
            users.append(pk)
    return users


def rubric_version_is_used(*, version: RubricVersion) -> bool:
    """Labels or reward functions refer to it, so it must never change again."""
    return version.labels.exists() or bool(rubric_version_reward_users(version=version))
