from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from pydantic import ValidationError as PydanticValidationError

from apps.accounts.settings_schema import AnnotationSettings, format_validation_error
from apps.core.models import TimeStampedModel


class User(AbstractUser):
    """A person who signs in: annotator, designer, admin or viewer, per project."""

    show_raw_text = models.BooleanField(
        default=False,
        help_text="Show model output as raw text instead of rendered Markdown.",
    )

    def __str__(self) -> str:
        return self.username


def default_annotation_settings() -> dict[str, Any]:
    return AnnotationSettings().model_dump(mode="json")


class Project(TimeStampedModel):
    """A labelling and reward-design workspace with its own members and data."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    description = models.TextField(blank=True)
    guidelines = models.TextField(blank=True, help_text="Markdown shown to annotators.")
    annotation_settings = models.JSONField(default=default_annotation_settings)
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def settings(self) -> AnnotationSettings:
        """The validated settings, parsed once per stored value (the queue reads them often)."""
        cached = getattr(self, "_settings_cache", None)
        if cached is None or cached[0] is not self.annotation_settings:
            cached = (
                self.annotation_settings,
                AnnotationSettings.model_validate(self.annotation_settings),
            )
            self._settings_cache = cached
        return cached[1]

    def clean(self) -> None:
        try:
            self.annotation_settings = AnnotationSettings.model_validate(
                self.annotation_settings or {}
            ).model_dump(mode="json")
        except PydanticValidationError as exc:
            raise ValidationError({"annotation_settings": format_validation_error(exc)}) from None


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    DESIGNER = "designer", "Designer"
    ANNOTATOR = "annotator", "Annotator"
    VIEWER = "viewer", "Viewer"


class Membership(TimeStampedModel):
    """One user's role in one project."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="membership_unique_user"),
        ]
        ordering = ["project_id", "user__username"]

    def __str__(self) -> str:
        return f"{self.user} is {self.role} of {self.project}"


class Invitation(TimeStampedModel):
    """An e-mail address invited to a project with a role, by a link that works once.

    The link carries the invitation's id and a secret; only the secret's SHA-256 is
    stored, so a database dump does not hold working links."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"
        REVOKED = "revoked", "Revoked"
        EXPIRED = "expired", "Expired"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices)
    invited_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    key_hash = models.CharField(max_length=64)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.email} invited to {self.project} as {self.role}"

    def state(self, now: datetime) -> Invitation.State:
        if self.accepted_at is not None:
            return Invitation.State.ACCEPTED
        if self.revoked_at is not None:
            return Invitation.State.REVOKED
        if self.expires_at <= now:
            return Invitation.State.EXPIRED
        return Invitation.State.PENDING
