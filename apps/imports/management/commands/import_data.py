from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Any

from django.core.files import File
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.accounts.models import Project, User
from apps.core.errors import ApplicationError
from apps.imports.models import ImportJob
from apps.imports.selectors import import_progress, import_skipped_report
from apps.imports.services import import_create, import_run

# The exit status of an import that skipped invalid rows (--skip-invalid): it imported
# something, but not the whole file. 1 is a failed import (nothing imported), 2 bad usage.
PARTIAL_EXIT_CODE = 3


class Command(BaseCommand):
    help = (
        "Import prompts and responses, or TRL preference pairs, from a .jsonl, .csv or "
        ".parquet file into a project. All or nothing unless --skip-invalid; importing the same "
        "rows twice adds nothing. Exit status: 0 imported, 1 failed (nothing imported), "
        f"{PARTIAL_EXIT_CODE} imported with invalid rows skipped."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("project_slug")
        parser.add_argument("file", type=Path)
        parser.add_argument("--user", help="Record this username as the importer.")
        parser.add_argument(
            "--skip-invalid",
            action="store_true",
            help="Import the valid rows and skip the invalid ones, keeping a report of them "
            "(rows, errors, data) with the import. A problem after which the rows cannot be "
            "told apart (a quote never closed, a line past IMPORT_MAX_LINE_BYTES, a broken "
            f"last row) still fails the whole file. Exits with {PARTIAL_EXIT_CODE} when rows "
            "were skipped.",
        )
        parser.add_argument(
            "--skipped-report",
            type=Path,
            metavar="FILE",
            help="With --skip-invalid, also write the report of skipped rows (JSON Lines) here.",
        )

    def handle(
        self,
        *args: Any,
        project_slug: str,
        file: Path,
        user: str | None,
        skip_invalid: bool,
        skipped_report: Path | None,
        **opts: Any,
    ) -> None:
        if skipped_report is not None and not skip_invalid:
            raise CommandError("--skipped-report goes with --skip-invalid.")
        project = Project.objects.filter(slug=project_slug).first()
        if project is None:
            raise CommandError(f"No project with slug {project_slug!r}.")
        importer = None
        if user is not None:
            importer = User.objects.filter(username=user).first()
            if importer is None:
                raise CommandError(f"No user named {user!r}.")
        if not file.is_file():
            raise CommandError(f"{file} is not a file.")
        with file.open("rb") as handle:
            try:
                job = import_create(
                    project=project,
                    created_by=importer,
                    upload=File(handle, name=file.name),
                    enforce_size_limit=False,
                    enqueue=False,
                    skip_invalid=skip_invalid,
                )
            except ApplicationError as exc:
                raise CommandError(exc.message) from None
        job = self._run_with_progress(job)
        if job.status != ImportJob.Status.SUCCEEDED:
            self._write_errors(job)
            raise CommandError(
                f"Import {job.pk} failed with {job.error_count} error(s); nothing was imported."
            )
        rows = f"{job.rows_total} rows"
        if job.rows_skipped:
            rows = f"{job.rows_imported} of {job.rows_total} rows ({job.rows_skipped} skipped)"
        summary = (
            f"Imported {file.name} into {project.slug}: {rows}, "
            f"{job.prompts_created} new prompts, {job.responses_created} new responses, "
            f"{job.comparisons_created} new comparisons, {job.labels_created} new labels."
        )
        if not job.rows_skipped:
            self.stdout.write(self.style.SUCCESS(summary))
            return
        self.stdout.write(self.style.WARNING(summary))
        self._write_errors(job)
        where = f"GET /api/v1/imports/{job.pk}/skipped/ or the import's page"
        if skipped_report is not None:
            report = import_skipped_report(job=job)
            assert report is not None
            with report.file, skipped_report.open("wb") as copy:
                shutil.copyfileobj(report.file, copy)
            where = str(skipped_report)
        raise CommandError(
            f"Import {job.pk} skipped {job.rows_skipped} invalid row(s) and imported the "
            f"other {job.rows_imported}; the skipped rows, with their errors: {where}.",
            returncode=PARTIAL_EXIT_CODE,
        )

    def _write_errors(self, job: ImportJob) -> None:
        for error in job.errors:
            self.stderr.write(f"  {error}")
        more = job.error_count - len(job.errors)
        if more > 0:
            self.stderr.write(f"  … and {more} more")

    def _run_with_progress(self, job: ImportJob) -> ImportJob:
        """Run the import here and print its progress from a side thread meanwhile."""
        done = threading.Event()

        def show() -> None:
            while not done.wait(1.0):
                progress = import_progress(job=job)
                share = f" ({progress.fraction:.0%})" if progress.fraction is not None else ""
                self.stderr.write(f"  {progress.phase}: {progress.rows_processed} rows{share}")

        watcher = threading.Thread(target=show, daemon=True)
        watcher.start()
        try:
            finished = import_run(job_id=job.pk)
        finally:
            done.set()
            watcher.join()
        assert finished is not None
        return finished
