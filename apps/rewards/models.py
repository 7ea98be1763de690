"""Reward functions, their immutable versions, the scores they give, and scoring jobs."""

from __future__ import annotations

from datetime import timedelta

from django.db import models
from django.utils import timezone

from apps.accounts.models import Project, User
from apps.core.jobs import Job
from apps.core.models import TimeStampedModel
from apps.prompts.models import Response
from workers.rewards.fitting import FittedTransforms
from workers.rewards.spec import RewardSpec

# A running inspection reports each stage; one silent for this long lost its worker.
INSPECTION_STALE_AFTER = timedelta(hours=1)


class RewardFunction(TimeStampedModel):
    """A designer's named reward for a project; what it computes lives in its versions."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="reward_functions")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="reward_function_unique_name"),
        ]
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class RewardFunctionVersion(TimeStampedModel):
    """One immutable spec of a reward function, with the transform statistics fitted for it.

    `spec` never changes after creation. `fitted` is written once, by the first score
    run over the project (or at creation when the transforms need no statistics), and
    never overwritten, so a score given today is the score given tomorrow.
    """

    function = models.ForeignKey(RewardFunction, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    spec = models.JSONField()
    message = models.CharField(max_length=300, blank=True)
    fitted = models.JSONField(null=True, blank=True)
    fitted_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["function", "number"], name="reward_function_version_unique"
            ),
        ]
        ordering = ["function_id", "-number"]

    def __str__(self) -> str:
        return f"{self.function} v{self.number}"

    @property
    def parsed_spec(self) -> RewardSpec:
        return RewardSpec.model_validate(self.spec)

    @property
    def fitted_transforms(self) -> FittedTransforms | None:
        return None if self.fitted is None else FittedTransforms.model_validate(self.fitted)

    @property
    def is_fitted(self) -> bool:
        return self.fitted is not None


class Score(models.Model):
    """The value of one reward function version on one response, with each component's raw value."""

    version = models.ForeignKey(
        RewardFunctionVersion, on_delete=models.CASCADE, related_name="scores"
    )
    response = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="scores")
    total = models.FloatField(null=True, blank=True)
    # Component name → raw value (before transforms); null where it is missing.
    components = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["version", "response"], name="score_unique_response"),
        ]
        ordering = ["version_id", "response_id"]

    def __str__(self) -> str:
        return f"{self.version} on response {self.response_id}: {self.total}"


class ScoreRun(Job):
    """A job: score every response of the project with one version, batch by batch."""

    PROGRESS = ("responses_scored", "responses_total")

    version = models.ForeignKey(
        RewardFunctionVersion, on_delete=models.CASCADE, related_name="score_runs"
    )
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="score_runs")
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    responses_total = models.PositiveIntegerField(default=0)
    responses_scored = models.PositiveIntegerField(default=0)
    fitted_here = models.BooleanField(
        default=False, help_text="This run fitted the version's transform statistics."
    )

    def __str__(self) -> str:
        return f"Score run {self.pk} of {self.version_id}"


class Embedding(models.Model):
    """A cached sentence embedding: one float32 vector per (backbone, text hash)."""

    backbone = models.CharField(max_length=200)
    text_hash = models.CharField(max_length=64)
    dimensions = models.PositiveIntegerField()
    vector = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["backbone", "text_hash"], name="embedding_unique_text"),
        ]

    def __str__(self) -> str:
        return f"{self.backbone}:{self.text_hash[:12]}"


class Inspection(Job):
    """A job and its stored result: how one version agrees with the project's human labels,
    what drives it, and how it can be gamed (see apps.rewards.inspection).

    `result` is written once, when the job succeeds; a recompute is a new row, and the
    pages show the newest finished one with when it was computed.
    """

    version = models.ForeignKey(
        RewardFunctionVersion, on_delete=models.CASCADE, related_name="inspections"
    )
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="inspections")
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    stage = models.CharField(max_length=100, blank=True, help_text="What the job is doing now.")
    progress = models.FloatField(default=0.0, help_text="0 to 1.")
    result = models.JSONField(null=True, blank=True)
    free_signs = models.JSONField(
        default=list,
        blank=True,
        help_text="Components whose weight the fit may flip; every other weight keeps the "
        "sign the designer gave it.",
    )

    class Meta(Job.Meta):
        indexes = [
            models.Index(fields=["version", "-created_at"], name="inspection_by_version"),
        ]

    def __str__(self) -> str:
        return f"Inspection {self.pk} of {self.version_id}"

    @property
    def is_stale(self) -> bool:
        """Running, but no progress reported for INSPECTION_STALE_AFTER (its worker died)."""
        return (
            self.status == self.Status.RUNNING
            and timezone.now() - self.updated_at > INSPECTION_STALE_AFTER
        )
