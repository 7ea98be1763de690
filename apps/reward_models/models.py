"""Trained reward heads: metadata here, the weights in storage, the compute on workers.

Only what scoring needs for now (the `reward_model` component resolves a model id, or
the project's promoted model); training runs extend this app later.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from apps.accounts.models import Project
from apps.core.models import TimeStampedModel


class RewardModel(TimeStampedModel):
    """A trained head over a backbone's embeddings; one per project may be promoted."""

    class HeadKind(models.TextChoices):
        LINEAR = "linear", "Linear"
        MLP = "mlp", "MLP"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="reward_models")
    name = models.CharField(max_length=200)
    backbone = models.CharField(max_length=200, default="all-MiniLM-L6-v2")
    head_kind = models.CharField(max_length=16, choices=HeadKind.choices)
    # A storage prefix holding the files of workers.contracts.HEAD_FILES.
    artifact_path = models.CharField(max_length=300)
    is_promoted = models.BooleanField(default=False)
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
