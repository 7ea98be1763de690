from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

from django.db import models
from django.utils import timezone

# How long a queued job may wait before its page says no worker seems to be running.
WORKER_GRACE = timedelta(seconds=30)


class JobStatus(models.TextChoices):
    """Where a worker job stands; imports, score runs and exports share it."""

    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class TimeStampedModel(models.Model):
    """Abstract base: when a row was created and last changed."""

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class WorkerJobMixin:
    """What every job row (imports, score runs, inspections, exports, training runs) says
    of itself: finished or not, and whether it has waited too long for a worker.

    The model provides `status` and `created_at`; FINISHED lists its final statuses."""

    FINISHED: ClassVar[tuple[Any, ...]] = (JobStatus.SUCCEEDED, JobStatus.FAILED)
    status: Any
    created_at: Any

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def is_waiting_for_worker(self) -> bool:
        """Queued for longer than a worker normally takes to pick a job up."""
        return self.status == JobStatus.QUEUED and timezone.now() - self.created_at > WORKER_GRACE
