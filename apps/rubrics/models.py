from __future__ import annotations

from django.db import models

from apps.accounts.models import Project, User
from apps.core.models import TimeStampedModel
from apps.rubrics.schema import RubricSpec


class Rubric(TimeStampedModel):
    """A named set of criteria a project rates responses by; its content lives in versions."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="rubrics")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="rubric_unique_name"),
        ]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class RubricVersion(TimeStampedModel):
    """One immutable state of a rubric: criteria, error categories and guidelines."""

    rubric = models.ForeignKey(Rubric, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    criteria = models.JSONField(default=list)
    error_categories = models.JSONField(default=list)
    guidelines = models.TextField(blank=True)
    message = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["rubric", "number"], name="rubric_version_unique"),
        ]
        ordering = ["rubric_id", "-number"]

    def __str__(self) -> str:
        return f"{self.rubric} v{self.number}"

    @property
    def spec(self) -> RubricSpec:
        return RubricSpec.model_validate(
            {"criteria": self.criteria, "error_categories": self.error_categories}
        )
