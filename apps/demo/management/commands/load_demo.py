from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.demo.services import DEMO_USERS, demo_load
from apps.imports.models import ImportJob


class Command(BaseCommand):
    help = "Create (or refresh) the demo project and its users. Safe to run twice."

    def handle(self, *args: Any, **options: Any) -> None:
        result = demo_load(password=settings.DEMO_PASSWORD)
        job = result.import_job
        if job is not None and job.status != ImportJob.Status.SUCCEEDED:
            raise CommandError("The demo prompts did not import: " + "; ".join(job.errors))
        project = result.project
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo project '{project.name}' ({project.prompts.count()} prompts) is ready."
            )
        )
        self.stdout.write(
            "Log in as "
            + ", ".join(DEMO_USERS)
            + f" with the password {settings.DEMO_PASSWORD!r} (DEMO_PASSWORD)."
        )
