from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.core.errors import ApplicationError
from apps.demo.lived_in import PERSONAS
from apps.demo.services import DEMO_USERS, LIVED_IN_USERS, demo_load
from apps.imports.models import ImportJob


class Command(BaseCommand):
    help = (
        "Create (or refresh) the demo projects and their users: a fresh one, and one in use "
        "(labels, a promoted reward model, a scored and inspected reward function, an "
        "export). Safe to run twice."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--fresh-only",
            action="store_true",
            help="Only the fresh project: no simulated labels, training or jobs (seconds).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = demo_load(
                password=settings.DEMO_PASSWORD, with_lived_in=not options["fresh_only"]
            )
        except ApplicationError as exc:
            raise CommandError(f"The lived-in demo project did not load: {exc.message}") from None
        job = result.import_job
        if job is not None and job.status != ImportJob.Status.SUCCEEDED:
            raise CommandError("The demo prompts did not import: " + "; ".join(job.errors))
        project = result.project
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo project '{project.name}' ({project.prompts.count()} prompts) is ready."
            )
        )
        if (lived := result.lived_in) is not None:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Demo project '{lived.project.name}' is ready: {lived.labels} labels, "
                    f"reward model '{lived.reward_model.name}' promoted, "
                    f"'{lived.version.function.name}' v{lived.version.number} scored and "
                    f"inspected, {sum(lived.export.row_counts.values())} pairs exported."
                )
            )
        password = f"the password {settings.DEMO_PASSWORD!r} (DEMO_PASSWORD)"
        self.stdout.write(f"Log in as {', '.join(DEMO_USERS)} with {password}.")
        if result.lived_in is not None:
            others = [name for name in LIVED_IN_USERS if name not in DEMO_USERS]
            self.stdout.write(
                f"In '{result.lived_in.project.name}' also {', '.join(others)} (the viewer "
                f"and the simulated annotators {', '.join(p.username for p in PERSONAS)}), "
                f"with the same password."
            )
