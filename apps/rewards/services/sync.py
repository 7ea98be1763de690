"""Synchronous scoring requests: items scored by a worker while the web process waits."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from django.conf import settings

from apps.core.api import QUEUE_UNAVAILABLE
from apps.core.errors import ApplicationError
from apps.rewards.models import RewardFunctionVersion
from workers.contracts import (
    ScoreItem,
)
from workers.rewards.fitting import (
    ComputeRaw,
    raw_values,
)

logger = logging.getLogger(__name__)


def score_items_compute(
    *, version: RewardFunctionVersion, items: Sequence[ScoreItem], compute: ComputeRaw
) -> dict[str, Any]:
    """Score items with a fitted version: `{"results": [{"reward", "components"}]}` as JSON.

    `components` holds each component's raw value, the same numbers Score rows keep.
    """
    fitted = version.fitted_transforms
    if fitted is None:
        raise ApplicationError(_NOT_FITTED)
    spec = version.parsed_spec
    raw = raw_values(spec, items, compute)
    totals = raw.rewards(spec, fitted).totals
    return {
        "results": [
            {"reward": total, "components": {n: raw.values[n][i] for n in spec.names}}
            for i, total in enumerate(totals)
        ]
    }


_NOT_FITTED = (
    "This version's transforms need statistics from the project's responses: "
    "start a score run first (POST /api/v1/reward-function-versions/{id}/score-runs/)."
)


def score_request_check(*, version: RewardFunctionVersion, count: int) -> None:
    """Refuse a synchronous scoring request that is too big or that the version cannot answer."""
    limit = settings.SCORE_MAX_ITEMS
    if count > limit:
        raise ApplicationError(
            f"{count} items is more than {limit} per request: send batches of at most {limit}, "
            "or score the project's responses as a job with "
            f"POST /api/v1/reward-function-versions/{version.pk}/score-runs/.",
            extra={"items": [f"Send at most {limit} items."]},
        )
    if not version.is_fitted:
        raise ApplicationError(_NOT_FITTED.replace("{id}", str(version.pk)))


class WorkerTimeout(Exception):
    """No worker answered the scoring request in time."""

    code = "worker_timeout"


class QueueUnavailable(WorkerTimeout):
    """The job queue (the broker, or the result store beside it) cannot be reached: no
    worker can answer until it is back."""

    code = "queue_unavailable"


def score_items_remote(*, version: RewardFunctionVersion, items: list[dict[str, Any]]) -> dict:
    """Hand items to a worker on the `scoring` queue and wait for its answer (web side).

    Raises ApplicationError for a batch above SCORE_MAX_ITEMS or an unfitted version,
    and WorkerTimeout when no worker answers within SCORE_TIMEOUT_SECONDS.
    """
    from workers.tasks.rewards import score_items

    score_request_check(version=version, count=len(items))
    return answer_of(score_items, version_id=version.pk, items=items)


def answer_of(task: Any, **kwargs: Any) -> dict:
    """Send a scoring task and wait for its answer; WorkerTimeout when none comes in time,
    QueueUnavailable when the job queue cannot be reached.

    The message expires with the wait, so a worker that frees up later (or starts later)
    drops a request nobody waits for instead of computing it.
    """
    from celery.exceptions import TimeoutError as CeleryTimeout
    from kombu.exceptions import OperationalError

    timeout = settings.SCORE_TIMEOUT_SECONDS
    try:
        result = task.apply_async(kwargs=kwargs, expires=timeout)
    except OperationalError:
        raise QueueUnavailable(QUEUE_UNAVAILABLE) from None
    except RuntimeError:
        # Celery's Redis result store raises a bare RuntimeError when its reconnects (to
        # subscribe for this answer) run out: the same Redis as the broker is down.
        raise QueueUnavailable(QUEUE_UNAVAILABLE) from None
    try:
        answer = result.get(timeout=timeout, propagate=True)
    except CeleryTimeout:
        result.revoke()
        raise WorkerTimeout(
            f"No scoring worker answered within SCORE_TIMEOUT_SECONDS ({timeout} s): the "
            "worker consuming the `scoring` queue is busy or not running. Try again shortly."
        ) from None
    finally:
        # Only an answer that came can be forgotten: the file result backend (the embedded
        # setup) raises FileNotFoundError for one that never did.
        if result.ready():
            result.forget()
    if "error" in answer:
        raise ApplicationError(answer["error"])
    return answer
