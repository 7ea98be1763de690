from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Run the web server and a local Celery worker together; Ctrl-C stops both."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", default="8000")

    def handle(self, *args: Any, host: str, port: str, **options: Any) -> None:
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--loglevel=INFO",
                "--queues=default,gpu",
                "--pool=solo",
            ]  # fmt: skip
        )
        # `kill` (SIGTERM) stops both too, like Ctrl-C.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        self.stdout.write(
            self.style.SUCCESS(
                f"\nPalate is starting on http://{host}:{port}/  (Ctrl-C stops it)\n"
            )
        )
        try:
            with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how it is meant to stop
                call_command("runserver", f"{host}:{port}", use_reloader=False)
        finally:
            if worker.poll() is None:
                worker.terminate()
            try:
                worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                worker.kill()
