from __future__ import annotations

import sys
import warnings
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import DatabaseError, connection
from kombu import Connection


class Command(BaseCommand):
    help = "Check that the database and the Celery broker answer; one clear line if not."

    def handle(self, *args: Any, **options: Any) -> None:
        problems = [p for p in (self._database(), self._broker()) if p]
        for problem in problems:
            self.stderr.write(problem)
        if problems:
            sys.exit(1)
        self.stdout.write("Database and broker are reachable.")

    def _database(self) -> str | None:
        # The server, not the database: the test run creates its own database.
        try:
            if connection.vendor == "postgresql":
                with warnings.catch_warnings():  # Django's note on falling back to `postgres`
                    warnings.simplefilter("ignore", RuntimeWarning)
                    with connection._nodb_cursor() as cursor:
                        cursor.execute("SELECT 1")
            else:
                connection.ensure_connection()
        except DatabaseError as exc:
            first_line = (
                str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            )
            return f"Cannot reach the database ({first_line}): start it or set DATABASE_URL."
        return None

    def _broker(self) -> str | None:
        url = settings.CELERY_BROKER_URL
        try:
            with Connection(url, connect_timeout=3) as broker:
                broker.ensure_connection(max_retries=1, timeout=3)
        except Exception as exc:  # kombu surfaces each transport's own errors
            return (
                f"Cannot reach the Celery broker at {url} ({exc}): "
                "start it or set CELERY_BROKER_URL."
            )
        return None
