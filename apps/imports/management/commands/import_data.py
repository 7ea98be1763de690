from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from django.core.files import File
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.accounts.models import Project, User
from apps.core.errors import ApplicationError
from apps.imports.models import ImportJob
from apps.imports.selectors import import_progress
from apps.imports.services import import_create, import_run


class Command(BaseCommand):
    help = (
        "Import prompts and responses, or TRL preference pairs, from a .jsonl, .csv or "
        ".parquet file into a project. All or nothing; importing the same rows twice adds nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("project_slug")
        parser.add_argument("file", type=Path)
        parser.add_argument("--user", help="Record this username as the importer.")

    def handle(
        self, *args: Any, project_slug: str, file: Path, user: str | None, **opts: Any
    ) -> None:
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
                )
            except ApplicationError as exc:
                raise CommandError(exc.message) from None
        job = self._run_with_progress(job)
        if job.status != ImportJob.Status.SUCCEEDED:
            for error in job.errors:
                self.stderr.write(f"  {error}")
            more = job.error_count - len(job.errors)
            if more > 0:
                self.stderr.write(f"  … and {more} more")
            raise CommandError(
                f"Import {job.pk} failed with {job.error_count} error(s); nothing was imported."
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {file.name} into {project.slug}: {job.rows_total} rows, "
                f"{job.prompts_created} new prompts, {job.responses_created} new responses, "
                f"{job.comparisons_created} new comparisons, {job.labels_created} new labels."
            )
        )

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
