from __future__ import annotations

from dataclasses import dataclass
from typing import IO

from django.db.models import QuerySet

from apps.accounts.models import Project
from apps.imports.models import ImportJob
from apps.imports.progress import ImportProgress, progress_read


def import_list(*, project: Project) -> QuerySet[ImportJob]:
    """A project's imports, newest first, with who started them."""
    return ImportJob.objects.filter(project=project).select_related("created_by")


def import_get(*, project: Project, pk: int) -> ImportJob | None:
    return import_list(project=project).filter(pk=pk).first()


def import_progress(*, job: ImportJob) -> ImportProgress:
    """How far the job is: exact once it has finished, live from the cache while it runs."""
    if job.status == ImportJob.Status.SUCCEEDED:
        return ImportProgress(rows_processed=job.rows_total, fraction=1.0, phase="succeeded")
    live = progress_read(job.pk)
    if job.status == ImportJob.Status.FAILED:
        rows = live.rows_processed if live else job.rows_total
        return ImportProgress(rows_processed=rows, fraction=None, phase="failed")
    if live is None:
        return ImportProgress(rows_processed=0, fraction=0.0, phase=str(job.status))
    return live


@dataclass(frozen=True, slots=True)
class SkippedReport:
    file: IO[bytes]
    name: str  # to download it as
    content_type: str = "application/jsonl"


def import_skipped_report(*, job: ImportJob) -> SkippedReport | None:
    """The job's report of skipped rows (JSON Lines), opened; None when it skipped none."""
    if not job.skipped_report:
        return None
    name = f"{job.project.slug}-import-{job.pk}-skipped.jsonl"
    return SkippedReport(file=job.skipped_report.open("rb"), name=name)
