from __future__ import annotations

from enum import StrEnum


class Queue(StrEnum):
    """Celery queues by kind of work: GPU hosts consume `gpu` with concurrency 1."""

    DEFAULT = "default"
    GPU = "gpu"
