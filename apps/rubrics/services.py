from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Max
from pydantic import ValidationError as PydanticValidationError

from apps.accounts.models import Project, User
from apps.accounts.settings_schema import format_validation_error
from apps.core.errors import ApplicationError
from apps.rubrics.models import Rubric, RubricVersion
from apps.rubrics.schema import RubricSpec


def _validated(criteria: list[Any], error_categories: list[Any]) -> RubricSpec:
    try:
        return RubricSpec.model_validate(
            {"criteria": criteria, "error_categories": error_categories}
        )
    except PydanticValidationError as exc:
        lines = format_validation_error(exc)
        raise ApplicationError(
            "Invalid rubric: " + "; ".join(lines), extra={"rubric": lines}
        ) from None


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
def rubric_create(
    *,
    project: Project,
    name: str,
    description: str = "",
    criteria: list[Any],
    error_categories: list[Any],
    guidelines: str = "",
    created_by: User | None = None,
) -> Rubric:
    """Create a rubric with its first version."""
    if Rubric.objects.filter(project=project, name=name).exists():
        raise ApplicationError(f"This project already has a rubric named {name!r}.")
    rubric = Rubric.objects.create(project=project, name=name, description=description)
    rubric_version_create(
        rubric=rubric,
        criteria=criteria,
        error_categories=error_categories,
        guidelines=guidelines,
        message="First version",
        created_by=created_by,
    )
    return rubric
