"""Scoring (routed in config/celery.py): items for the scoring endpoint and the composer on
the `scoring` queue, whole projects as jobs on `gpu`.

Each task loads rows through apps.rewards services, builds the ML engine
(`workers.ml.scoring.Scorer`, imported inside the task so the web process never
loads torch) and passes its `component_values` back into the services.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from celery import Task, shared_task

logger = logging.getLogger(__name__)


def deadline_of(expires: datetime | str | None) -> float | None:
    """The epoch second a synchronous request's caller stops waiting: its message's expiry,
    which apps.rewards.services.sync sets to SCORE_TIMEOUT_SECONDS."""
    if expires is None:
        return None
    moment = expires if isinstance(expires, datetime) else datetime.fromisoformat(expires)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _abandoned(exc: Exception) -> dict[str, Any]:
    logger.warning("Scoring request abandoned: %s", exc)
    return {"error": "Nobody waits for this answer any more (SCORE_TIMEOUT_SECONDS passed)."}


@shared_task(bind=True, ignore_result=False)
def score_items(self: Task, *, version_id: int, items: list[dict[str, Any]]) -> dict[str, Any]:
    """Score up to SCORE_MAX_ITEMS items with a version; answers plain JSON.

    `{"results": [...]}`, or `{"error": message}` for a problem the caller can fix
    (a missing promoted model, an unset judge URL). Read-only apart from the
    embedding cache, so a retry is harmless. Text components stop at the message's
    expiry, when the endpoint has given up waiting.
    """
    from apps.core.errors import ApplicationError
    from apps.rewards.models import RewardFunctionVersion
    from apps.rewards.services import score_items_compute, scoring_resources
    from workers.contracts import DeadlinePassed, ScoreItem
    from workers.ml.scoring import Scorer

    version = RewardFunctionVersion.objects.select_related("function").filter(pk=version_id).first()
    if version is None:
        return {"error": f"Reward function version {version_id} does not exist any more."}
    try:
        resources = replace(
            scoring_resources(version=version), deadline=deadline_of(self.request.expires)
        )
        scorer = Scorer(version.parsed_spec, resources)
        parsed = [
            ScoreItem(item["prompt"], item["response"], item.get("reference")) for item in items
        ]
        return score_items_compute(version=version, items=parsed, compute=scorer.component_values)
    except ApplicationError as exc:
        return {"error": exc.message}
    except DeadlinePassed as exc:
        return _abandoned(exc)


@shared_task(bind=True, ignore_result=False)
def score_draft_items(
    self: Task, *, project_id: int, spec: dict[str, Any], items: list[dict[str, Any]]
) -> dict[str, Any]:
    """Score a few items with an unsaved spec (the composer's "try it"); answers plain JSON.

    `{"results": [...], "needs_fitting": bool}` or `{"error": message}`. Read-only apart
    from the embedding cache. Text components stop at the message's expiry.
    """
    from apps.core.errors import ApplicationError
    from apps.rewards.services import draft_version, score_draft_compute, scoring_resources
    from workers.contracts import DeadlinePassed, ScoreItem
    from workers.ml.scoring import Scorer

    try:
        version = draft_version(project_id=project_id, spec=spec)
        resources = replace(
            scoring_resources(version=version), deadline=deadline_of(self.request.expires)
        )
        scorer = Scorer(version.parsed_spec, resources)
        parsed = [
            ScoreItem(item["prompt"], item["response"], item.get("reference")) for item in items
        ]
        return score_draft_compute(
            project_id=project_id, spec=spec, items=parsed, compute=scorer.component_values
        )
    except ApplicationError as exc:
        return {"error": exc.message}
    except DeadlinePassed as exc:
        return _abandoned(exc)


@shared_task(acks_late=True, ignore_result=True)
def score_responses(*, run_id: int) -> None:
    """Score every response of a project as a job (see apps.rewards.services.score_run_execute).

    Idempotent: only a queued run is claimed (compare-and-set), and scores are upserted.
    """
    from apps.core.errors import ApplicationError
    from apps.rewards.services import (
        score_run_claim,
        score_run_execute,
        score_run_fail,
        scoring_resources,
    )
    from workers.ml.scoring import Scorer

    run = score_run_claim(run_id=run_id)
    if run is None:
        return
    try:
        scorer = Scorer(run.version.parsed_spec, scoring_resources(version=run.version))
        score_run_execute(run=run, compute=scorer.component_values)
    except ApplicationError as exc:
        score_run_fail(run=run, error=exc.message)
    except Exception:
        # A bug, not bad input: leave a failed run rather than one that looks busy forever.
        score_run_fail(run=run, error="internal error; see the worker's log")
        raise
