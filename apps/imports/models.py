from __future__ import annotations

from typing import Any

from django.db import models

from apps.accounts.models import Project, User
from apps.core.jobs import Job


class ImportJob(Job):
    """One uploaded file being turned into prompts, responses, comparisons and labels.

    All-or-nothing by default: the rows are written in one transaction, so a job that is
    not `succeeded` left no data behind. With `skip_invalid`, invalid rows are left out
    instead (`rows_skipped`) and listed, each with its errors and data, in
    `skipped_report`; a problem that stops the file still fails the whole job.
    """

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
    rows_total = models.PositiveIntegerField(default=0)
    prompts_created = models.PositiveIntegerField(default=0)
    responses_created = models.PositiveIntegerField(default=0)
    comparisons_created = models.PositiveIntegerField(default=0)
    labels_created = models.PositiveIntegerField(default=0)
    skip_invalid = models.BooleanField(
        default=False, help_text="Import the valid rows and report the invalid ones."
    )
    rows_skipped = models.PositiveIntegerField(default=0)
    rows_reported = models.PositiveIntegerField(
        default=0, help_text="Skipped rows listed in the report (IMPORT_SKIPPED_REPORT_MAX_ROWS)."
    )
    # JSON Lines, one skipped row a line: {"row", "errors": [{"field", "reason"}], "data"}.
    skipped_report = models.FileField(
        upload_to="imports/skipped/%Y/%m/", max_length=300, blank=True
    )
    # The errors, as `row N, field F: reason` (at most 50; error_count says how many).
    error = None
    errors = models.JSONField(default=list, blank=True)
    error_count = models.PositiveIntegerField(default=0)

    def error_fields(self, message: str) -> dict[str, Any]:
        return {"errors": [message], "error_count": 1}

    @property
    def rows_imported(self) -> int:
        """Rows read and not skipped (their prompts may have been there already)."""
        return self.rows_total - self.rows_skipped

    def __str__(self) -> str:
        return f"Import {self.pk} of {self.original_name}"
