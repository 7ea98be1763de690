"""Live progress of a training run: every report goes to the cache (what the run page polls),
and at most every `interval` seconds to the run's row (what survives the cache)."""

from __future__ import annotations

import time
from typing import Any

from django.core.cache import cache
from django.utils import timezone

from apps.reward_models.models import TrainingRun
from workers.contracts import TrainingProgress

_TTL_SECONDS = 24 * 3600
MAX_LOG_CHARS = 100_000


def _key(run_id: int) -> str:
    return f"palate:training-progress:{run_id}"


def progress_read(run_id: int) -> dict[str, Any] | None:
    """`{"progress", "stage", "history", "logs"}` as last reported, or None."""
    return cache.get(_key(run_id))


def progress_clear(run_id: int) -> None:
    cache.delete(_key(run_id))


class RunReporter:
    """The engine's `on_progress` and `should_stop` for one run, plus a heartbeat."""

    def __init__(self, run: TrainingRun, interval: float = 0.5) -> None:
        self.run_id, self.interval = run.pk, interval
        self.history: list[dict[str, float]] = list(run.history)
        self.logs = run.logs
        self.progress, self.stage = run.progress, run.stage
        self._last_write = self._last_check = 0.0
        self._stop = False

    def log(self, line: str) -> None:
        stamp = timezone.now().strftime("%H:%M:%S")
        self.logs = (self.logs + f"[{stamp}] {line}\n")[-MAX_LOG_CHARS:]

    def __call__(self, report: TrainingProgress) -> None:
        self.progress = min(max(float(report.fraction), 0.0), 1.0)
        if report.stage != self.stage:
            self.log(f"stage: {report.stage}")
        self.stage = report.stage
        if report.epoch is not None and report.train_loss is not None:
            entry = {"epoch": report.epoch, "train_loss": report.train_loss}
            if report.validation_loss is not None:
                entry["validation_loss"] = report.validation_loss
            if self.history and self.history[-1]["epoch"] == report.epoch:
                self.history[-1] = entry
            else:
                self.history.append(entry)
                self.log(
                    f"epoch {report.epoch}: train loss {report.train_loss:.4f}"
                    + (
                        f", validation loss {report.validation_loss:.4f}"
                        if report.validation_loss is not None
                        else ""
                    )
                )
        if report.message:
            self.log(report.message)
        self.flush(force=False)

    def flush(self, *, force: bool = True) -> None:
        value = {
            "progress": self.progress,
            "stage": self.stage,
            "history": self.history,
            "logs": self.logs,
        }
        cache.set(_key(self.run_id), value, _TTL_SECONDS)
        now = time.monotonic()
        if not force and now - self._last_write < self.interval:
            return
        self._last_write = now
        TrainingRun.objects.filter(pk=self.run_id, status=TrainingRun.Status.RUNNING).update(
            progress=self.progress,
            stage=self.stage,
            history=self.history,
            logs=self.logs,
            heartbeat_at=timezone.now(),
        )

    def should_stop(self) -> bool:
        """True once someone pressed Cancel (read from the row at most every interval)."""
        now = time.monotonic()
        if not self._stop and now - self._last_check >= self.interval:
            self._last_check = now
            self._stop = TrainingRun.objects.filter(pk=self.run_id, cancel_requested=True).exists()
        return self._stop
