"""The inspector's job on the `gpu` queue (routed in config/celery.py): it may score the
project and it rescores perturbed responses, so it runs where scoring runs."""

from __future__ import annotations

from celery import shared_task


@shared_task(acks_late=True, ignore_result=True)
def inspect_reward(*, inspection_id: int) -> None:
    """Compute an inspection (see apps.rewards.inspection.services.inspection_execute).

    Idempotent: only a queued inspection is claimed (compare-and-set).
    """
    from apps.core.errors import ApplicationError
    from apps.rewards.inspection.services import (
        inspection_claim,
        inspection_execute,
        inspection_fail,
    )
    from apps.rewards.services import scoring_resources
    from workers.ml.scoring import Scorer

    inspection = inspection_claim(inspection_id=inspection_id)
    if inspection is None:
        return
    try:
        version = inspection.version
        scorer = Scorer(version.parsed_spec, scoring_resources(version=version))
        inspection_execute(inspection=inspection, compute=scorer.component_values)
    except ApplicationError as exc:
        inspection_fail(inspection=inspection, error=exc.message)
    except Exception:
        # A bug, not bad input: leave a failed inspection rather than one that looks busy.
        inspection_fail(inspection=inspection, error="internal error; see the worker's log")
        raise
