from __future__ import annotations

from django.db import models

from apps.accounts.models import Project, User
from apps.core.models import JobStatus, TimeStampedModel, WorkerJobMixin


class ImportJob(WorkerJobMixin, TimeStampedModel):
    """One uploaded file being turned into prompts, responses, comparisons and labels.

    All-or-nothing: the rows are written in one transaction, so a job that is not
    `succeeded` left no data behind.
    """

    Status = JobStatus

    class Format(models.TextChoices):
        JSONL = "jsonl", "JSON Lines"
        CSV = "csv", "CSV"
        PARQUET = "parquet", "Parquet"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="imports")
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    file = models.FileField(upload_to="imports/%Y/%m/", max_length=300)
    original_name = models.CharField(max_length=255)
    file_format = models.CharField(max_length=16, choices=Format.choices)
    size_bytes = models.BigIntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    rows_total = models.PositiveIntegerField(default=0)
    prompts_created = models.PositiveIntegerField(default=0)
    responses_created = models.PositiveIntegerField(default=0)
    comparisons_created = models.PositiveIntegerField(default=0)
    labels_created = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    error_count = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Import {self.pk} of {self.original_name}"
