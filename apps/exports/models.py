from __future__ import annotations

from typing import Any

from django.db import models

from apps.accounts.models import Project, User
from apps.core.jobs import Job
from apps.exports.options import ExportOptions


class Export(Job):
    """A frozen snapshot of a project's labels as dataset files, written by a worker.

    The files are written under temporary names and only published once all are
    complete, so an export that is not `succeeded` has no files in storage.
    `files` lists them as `{"split", "path", "rows", "sha256", "size_bytes"}`.
    """

    PROGRESS = ("items_done", "items_total")

    class Format(models.TextChoices):
        TRL_PREFERENCE = "trl-preference", "TRL preference pairs"
        LABELS_RAW = "labels-raw", "Raw labels"
        RATINGS = "ratings", "Ratings per response"
        REWARDS = "rewards", "Reward scores per response"

    class FileFormat(models.TextChoices):
        JSONL = "jsonl", "JSON Lines"
        PARQUET = "parquet", "Parquet"
        CSV = "csv", "CSV"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="exports")
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    format = models.CharField(max_length=32, choices=Format.choices)
    file_format = models.CharField(max_length=16, choices=FileFormat.choices)
    options = models.JSONField(default=dict, blank=True)
    items_total = models.PositiveIntegerField(
        default=0, help_text="Items (comparisons or responses) to go through."
    )
    items_done = models.PositiveIntegerField(default=0)
    row_counts = models.JSONField(default=dict, blank=True, help_text="Split → rows written.")
    files = models.JSONField(default=list, blank=True)
    card_path = models.CharField(max_length=300, blank=True)
    card = models.TextField(blank=True, help_text="The data card (README.md) as written.")

    def __str__(self) -> str:
        return f"Export {self.pk} ({self.format}, {self.file_format})"

    @property
    def parsed_options(self) -> ExportOptions:
        return ExportOptions.model_validate(self.options)

    @property
    def rows_total(self) -> int:
        return sum(self.row_counts.values())

    def file_for(self, key: str) -> dict[str, Any] | None:
        """The file entry of a split (`train`, `test`), or None."""
        return next((entry for entry in self.files if entry["split"] == key), None)
