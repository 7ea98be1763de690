from __future__ import annotations

from enum import StrEnum


class Queue(StrEnum):
    """Celery queues by kind of work, declared once: config/celery.py declares every member
    to the broker, so a worker started without --queues consumes them all.

    GPU hosts consume `gpu` with concurrency 1. `scoring` carries only the requests a caller
    waits for (the score endpoint, the composer's "try it"), so a worker of its own answers
    them while training runs and inspections hold the `gpu` workers.
    """

    DEFAULT = "default"
    GPU = "gpu"
    SCORING = "scoring"
