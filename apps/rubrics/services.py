"""Writes for rubrics: create, save (a new version once the latest is in use), rename."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max
from pydantic import ValidationError as PydanticValidationError

from apps.accounts.models import Project, User
from apps.core.errors import ApplicationError
from apps.rubrics.models import Rubric, RubricVersion
from apps.rubrics.schema import RubricSpec
from apps.rubrics.selectors import rubric_version_is_used, rubric_version_latest


def _where(loc: tuple[Any, ...], data: dict[str, Any]) -> str:
    """`criteria[1] (clarity).scale` rather than pydantic's `criteria.1.scale`."""
    parts: list[str] = []
    for i, part in enumerate(loc):
        if isinstance(part, int) and i > 0 and isinstance(loc[i - 1], str):
            parts[-1] += f"[{part}]"
            try:
                name = data[loc[i - 1]][part]["name"]
            except (KeyError, IndexError, TypeError):
                name = None
            if isinstance(name, str) and name:
                parts[-1] += f" ({name[:40]})"
        else:
            parts.append(str(part))
    return ".".join(parts) or "rubric"


def rubric_spec_errors(*, criteria: Any, error_categories: Any) -> list[str]:
    """Every problem with the criteria and categories, naming the item and field; [] if valid."""
    data = {"criteria": criteria, "error_categories": error_categories}
    try:
        RubricSpec.model_validate(data)
    except PydanticValidationError as exc:
        return [
            f"{_where(tuple(e['loc']), data)}: {str(e['msg']).removeprefix('Value error, ')}"
            for e in exc.errors()
        ]
    return []


def _validated(criteria: Any, error_categories: Any) -> RubricSpec:
    errors = rubric_spec_errors(criteria=criteria, error_categories=error_categories)
    if errors:
        raise ApplicationError("Invalid rubric: " + "; ".join(errors), extra={"rubric": errors})
    return RubricSpec.model_validate({"criteria": criteria, "error_categories": error_categories})


@transaction.atomic
def rubric_version_create(
    *,
    rubric: Rubric,
    criteria: list[Any],
    error_categories: list[Any],
    guidelines: str = "",
    message: str = "",
    created_by: User | None = None,
) -> RubricVersion:
    """Add the next version of a rubric; earlier versions never change."""
    spec = _validated(criteria, error_categories)
    Rubric.objects.select_for_update().filter(pk=rubric.pk).first()
    latest = rubric.versions.aggregate(latest=Max("number"))["latest"] or 0
    dumped = spec.model_dump(mode="json")
    return RubricVersion.objects.create(
        rubric=rubric,
        number=latest + 1,
        criteria=dumped["criteria"],
        error_categories=dumped["error_categories"],
        guidelines=guidelines,
        message=message,
        created_by=created_by,
    )


@transaction.atomic
def rubric_save(
    *,
    rubric: Rubric,
    criteria: list[Any],
    error_categories: list[Any],
    guidelines: str,
    message: str = "",
    created_by: User | None = None,
) -> tuple[RubricVersion, bool]:
    """Save the rubric's content; returns the version now in force and whether it is new.

    The latest version is edited in place while nothing refers to it (a draft); once
    labels or reward functions use it, saving adds the next version instead, so what
    they refer to never changes. Saving unchanged content writes nothing.
    """
    spec = _validated(criteria, error_categories)
    Rubric.objects.select_for_update().filter(pk=rubric.pk).first()
    latest = rubric_version_latest(rubric=rubric)
    dumped = spec.model_dump(mode="json")
    if latest is not None and (
        latest.criteria,
        latest.error_categories,
        latest.guidelines,
    ) == (dumped["criteria"], dumped["error_categories"], guidelines):
        return latest, False
    if latest is None or rubric_version_is_used(version=latest):
        version = rubric_version_create(
            rubric=rubric,
            criteria=dumped["criteria"],
            error_categories=dumped["error_categories"],
            guidelines=guidelines,
            message=message,
            created_by=created_by,
        )
        return version, True
    latest.criteria = dumped["criteria"]
    latest.error_categories = dumped["error_categories"]
    latest.guidelines = guidelines
    if message:
        latest.message = message
    latest.save(
        update_fields=["criteria", "error_categories", "guidelines", "message", "updated_at"]
    )
    return latest, False


@transaction.atomic
def rubric_create(
    *,
    project: Project,
    name: str,
    description: str = "",
    criteria: list[Any],
    error_categories: list[Any],
    guidelines: str = "",
    created_by: User | None = None,
    message: str = "First version",
) -> Rubric:
    """Create a rubric with its first version; writes nothing when the content is invalid."""
    _validated(criteria, error_categories)
    taken = ApplicationError(
        f"This project already has a rubric named {name!r}.",
        extra={"name": ["A rubric with this name exists."]},
    )
    if Rubric.objects.filter(project=project, name=name).exists():
        raise taken
    try:
        with transaction.atomic():
            rubric = Rubric.objects.create(project=project, name=name, description=description)
    except IntegrityError:  # created at the same moment by someone else
        raise taken from None
    rubric_version_create(
        rubric=rubric,
        criteria=criteria,
        error_categories=error_categories,
        guidelines=guidelines,
        message=message or "First version",
        created_by=created_by,
    )
    return rubric


@transaction.atomic
def rubric_rename(*, rubric: Rubric, name: str, description: str) -> Rubric:
    """Change a rubric's name and description (not versioned: labels refer to versions)."""
    if name != rubric.name and Rubric.objects.filter(project=rubric.project, name=name).exists():
        raise ApplicationError(
            f"This project already has a rubric named {name!r}.",
            extra={"name": ["A rubric with this name exists."]},
        )
    rubric.name = name
    rubric.description = description
    rubric.save(update_fields=["name", "description", "updated_at"])
    return rubric


@transaction.atomic
def rubric_update(
    *, rubric: Rubric, changes: dict[str, Any], created_by: User | None = None
) -> Rubric:
    """Apply a partial change: name and description, and content through `rubric_save`.

    Content keys left out keep the values of the version in force. All or nothing.
    """
    if "name" in changes or "description" in changes:
        rubric_rename(
            rubric=rubric,
            name=changes.get("name", rubric.name),
            description=changes.get("description", rubric.description),
        )
    if {"criteria", "error_categories", "guidelines"} & changes.keys():
        latest = rubric_version_latest(rubric=rubric)
        rubric_save(
            rubric=rubric,
            criteria=changes.get("criteria", latest.criteria if latest else []),
            error_categories=changes.get(
                "error_categories", latest.error_categories if latest else []
            ),
            guidelines=changes.get("guidelines", latest.guidelines if latest else ""),
            message=changes.get("message", ""),
            created_by=created_by,
        )
    return rubric
