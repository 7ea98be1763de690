"""Trained reward heads and the runs that train them: metadata here, the weights in
storage, the compute on workers (`workers.tasks.reward_models`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import models
from django.db.models import Q

from apps.accounts.models import Project, User
from apps.core.jobs import Job
from apps.core.models import TimeStampedModel

# A running run whose worker has not reported for this long is taken for dead (see
# apps.reward_models.services.training_runs_fail_stale).
HEARTBEAT_TIMEOUT = timedelta(minutes=5)


class RewardModel(TimeStampedModel):
    """A trained head over a backbone's embeddings; one per project may be promoted."""

    class HeadKind(models.TextChoices):
        LINEAR = "linear", "Linear"
        MLP = "mlp", "MLP"
        ENSEMBLE = "ensemble", "Ensemble"
        FINETUNE = "finetune", "Fine-tuned"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="reward_models")
    name = models.CharField(max_length=200)
    backbone = models.CharField(max_length=200, default="all-MiniLM-L6-v2")
    head_kind = models.CharField(max_length=16, choices=HeadKind.choices)
    # A storage prefix holding the files of workers.contracts.HEAD_FILES (and `files`).
    artifact_path = models.CharField(max_length=300)
    files = models.JSONField(
        default=list, blank=True, help_text="File names under artifact_path; empty: HEAD_FILES."
    )
    is_promoted = models.BooleanField(default=False)
    promoted_at = models.DateTimeField(null=True, blank=True)
    metrics = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project"],
                condition=Q(is_promoted=True),
                name="reward_model_one_promoted_per_project",
            ),
        ]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.head_kind} on {self.backbone})"

    @property
    def accuracy(self) -> float | None:
        value = self.metrics.get("accuracy")
        return float(value) if isinstance(value, int | float) else None


class TrainingRun(Job):
    """One training of a reward model on a frozen snapshot of the project's labels.

    The snapshot (`snapshot`) is taken when the run is created: the items with their
    consensus answer, the label ids and rubric versions they came from, the consensus
    rule, and the split, kept per prompt (`prompt_id -> train | validation`) so that no
    prompt can be in both. A run is `succeeded` only once its artifacts are in storage
    and its RewardModel row exists (both written in one transaction).
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    class Trigger(models.TextChoices):
        MANUAL = "manual", "Retrain button or API"
        NEW_LABELS = "new_labels", "New labels rule"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="training_runs")
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.MANUAL)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    settings = models.JSONField(default=dict, help_text="TrainingSettings.model_dump().")
    snapshot = models.JSONField(default=dict, blank=True)
    train_pairs = models.PositiveIntegerField(default=0)
    validation_pairs = models.PositiveIntegerField(default=0)
    baseline_model = models.ForeignKey(
        RewardModel,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The model in use when the run was made, evaluated on the same split.",
    )
    progress = models.FloatField(default=0.0)
    stage = models.CharField(max_length=32, blank=True)
    history = models.JSONField(default=list, blank=True, help_text="Loss per epoch.")
    logs = models.TextField(blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    baseline_metrics = models.JSONField(default=dict, blank=True)
    pair_rewards = models.JSONField(
        default=dict,
        blank=True,
        help_text="Per decided validation pair, each model's r_chosen − r_rejected: "
        '{"model": [[comparison, chosen, rejected, margin], ...], "baseline": [...]}.',
    )
    cancel_requested = models.BooleanField(default=False)
    worker = models.CharField(max_length=200, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    reward_model = models.OneToOneField(
        RewardModel, null=True, blank=True, on_delete=models.SET_NULL, related_name="training_run"
    )

    class Meta(Job.Meta):
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="succeeded") | Q(reward_model__isnull=False),
                name="training_run_succeeded_has_model",
            ),
        ]
        indexes = [models.Index(fields=["project", "status"], name="training_run_by_status")]

    def __str__(self) -> str:
        return f"Training run {self.pk} ({self.status})"

    @property
    def prompt_splits(self) -> dict[str, str]:
        return dict(self.snapshot.get("prompt_splits", {}))

    @property
    def items(self) -> list[dict[str, Any]]:
        return list(self.snapshot.get("items", []))


class RetrainRule(TimeStampedModel):
    """A project's rule "retrain after N new labels", with the settings such runs use."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="retrain_rule")
    after_labels = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Start a run once this many new labels arrived; empty: off.",
    )
    settings = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"Retrain {self.project_id} after {self.after_labels} labels"
