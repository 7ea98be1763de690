"""Live progress of an import: kept in the cache, since the rows themselves are written
inside one transaction that nobody else can see until it commits."""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.core.cache import cache

_TTL_SECONDS = 24 * 3600


@dataclass(frozen=True, slots=True)
class ImportProgress:
    rows_processed: int
    fraction: float | None  # 0..1, None when the total is unknown
    phase: str  # queued, reading, writing, succeeded, failed


def _key(job_id: int) -> str:
    return f"palate:import-progress:{job_id}"


def progress_clear(job_id: int) -> None:
    """Forget progress kept under this id (a database reset can hand out ids again)."""
    cache.delete(_key(job_id))


def progress_read(job_id: int) -> ImportProgress | None:
    value = cache.get(_key(job_id))
    return ImportProgress(**value) if value else None


class ProgressReporter:
    """Publishes progress at most every `interval` seconds (and always on `force`)."""

    def __init__(self, job_id: int, interval: float = 0.5) -> None:
        self.job_id, self.interval, self._last = job_id, interval, 0.0

    def report(self, *, rows: int, fraction: float | None, phase: str, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        value = {"rows_processed": rows, "fraction": fraction, "phase": phase}
        cache.set(_key(self.job_id), value, _TTL_SECONDS)
