"""One base for every worker job (imports, score runs, inspections, exports, training runs):
its status, error and times, and how it is queued, claimed, failed and finished."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

from celery import Task
from django.db import models, transaction
from django.utils import timezone
from kombu.exceptions import OperationalError

from apps.core.models import JobStatus, TimeStampedModel

# How long a queued job may wait before its page says no worker seems to be running.
WORKER_GRACE = timedelta(seconds=30)

# What a job says when its task could not be handed to the queue after it was saved.
QUEUE_UNREACHABLE = "The job queue could not be reached; nothing was done. Start it again."

ERROR_MAX_CHARS = 2000


class Job(TimeStampedModel):
    """Abstract base: a row a worker claims (queued → running) and ends (succeeded, failed).

    A subclass with more final statuses (a training run's `cancelled`) redeclares
    `Status`, `status` and `FINISHED`; one that keeps its errors elsewhere (an import's
    row errors) sets `error = None` and overrides `error_fields`. `PROGRESS` names the
    (done, total) counters that `fraction` reads, where the job has them.
    """

    Status: ClassVar[Any] = JobStatus
    FINISHED: ClassVar[tuple[Any, ...]] = (JobStatus.SUCCEEDED, JobStatus.FAILED)
    PROGRESS: ClassVar[tuple[str, str] | None] = None

    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-created_at", "-id"]

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def is_waiting_for_worker(self) -> bool:
        """Queued for longer than a worker normally takes to pick a job up."""
        return self.status == JobStatus.QUEUED and timezone.now() - self.created_at > WORKER_GRACE

    @property
    def fraction(self) -> float | None:
        """Share done, from the PROGRESS counters: 1 once succeeded, None after a failure
        that never learnt its total."""
        assert self.PROGRESS is not None, f"{type(self).__name__} declares no PROGRESS"
        if self.status == JobStatus.SUCCEEDED:
            return 1.0
        done, total = (getattr(self, name) for name in self.PROGRESS)
        if not total:
            return None if self.status == JobStatus.FAILED else 0.0
        return float(min(done / total, 1.0))

    @classmethod
    def claim(cls, pk: int, **fields: Any) -> bool:
        """Move a queued job to running (compare-and-set), writing `fields` with it.

        False when the job is gone or no longer queued: another worker has it, or it
        ended, so a redelivered message does nothing."""
        now = timezone.now()
        return bool(
            cls._default_manager.filter(pk=pk, status=JobStatus.QUEUED).update(
                status=JobStatus.RUNNING, started_at=now, updated_at=now, **fields
            )
        )

    @classmethod
    def end_running(cls, pk: int, status: str, **fields: Any) -> bool:
        """End a running job (and only a running one) with `status`; False if it was not
        running any more (cancelled, or failed as stale, meanwhile)."""
        now = timezone.now()
        return bool(
            cls._default_manager.filter(pk=pk, status=JobStatus.RUNNING).update(
                status=status, finished_at=now, updated_at=now, **fields
            )
        )

    def progress_set(self, **fields: Any) -> None:
        """Write progress fields of this job's row (not the instance), touching updated_at."""
        type(self)._default_manager.filter(pk=self.pk).update(updated_at=timezone.now(), **fields)

    def error_fields(self, message: str) -> dict[str, Any]:
        """The fields that record `message` as the job's error."""
        return {"error": message[:ERROR_MAX_CHARS]}

    def fail(self, message: str, **fields: Any) -> None:
        """Mark the job failed with a message a person can act on."""
        self.end(JobStatus.FAILED, **self.error_fields(message), **fields)

    def finish(self, **fields: Any) -> None:
        """Mark the job succeeded, writing `fields` (its results) with it."""
        self.end(JobStatus.SUCCEEDED, **fields)

    def end(self, status: str, **fields: Any) -> None:
        """Give the job its final `status`, writing `fields` with it."""
        self.status, self.finished_at = status, timezone.now()
        for name, value in fields.items():
            setattr(self, name, value)
        self.save(update_fields=["status", "finished_at", "updated_at", *fields])

    def enqueue_after_commit(self, task: Task, *, producer: Any = None, **kwargs: Any) -> None:
        """Send `task(**kwargs)` once the transaction that saved the job commits.

        If the queue cannot be reached, the job is failed (it would otherwise stay queued
        with nothing to run it) and the error is raised on, so the request answers 503.
        `producer` (a kombu Producer) sends on another connection than the app's."""

        def send() -> None:
            try:
                task.apply_async(kwargs=kwargs, producer=producer)
            except OperationalError:
                self.fail(QUEUE_UNREACHABLE)
                raise

        transaction.on_commit(send)
