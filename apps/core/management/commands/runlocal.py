from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from workers.queues import Queue


def _worker(*, name: str, queues: list[Queue]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--loglevel=INFO",
            f"--hostname={name}@%h",
            f"--queues={','.join(queues)}",
            "--pool=solo",
        ]  # fmt: skip
    )


class Command(BaseCommand):
    help = (
        "Run the web server and two local Celery workers together (one for the score "
        "endpoint, one for every other job); Ctrl-C stops all three."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", default="8000")

    def handle(self, *args: Any, host: str, port: str, **options: Any) -> None:
        # Scoring requests have a worker of their own: a training run or an inspection on
        # the other one would otherwise keep the score endpoint waiting past its timeout.
        workers = [
            _worker(name="celery", queues=[q for q in Queue if q is not Queue.SCORING]),
            _worker(name="scoring", queues=[Queue.SCORING]),
        ]
        # `kill` (SIGTERM) stops them all too, like Ctrl-C.
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
            for worker in workers:
                if worker.poll() is None:
                    worker.terminate()
            for worker in workers:
                try:
                    worker.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    worker.kill()
