"""Training reward models: the run itself on the `gpu` queue, the retrain rule on `default`
(routed in config/celery.py).

`train_reward_model` claims the run (compare-and-set from queued, so a redelivered
message does not train twice), then hands the ML engine (`workers.ml.training`,
imported inside the task so the web process never loads torch) to
apps.reward_models.services.training_run_execute, which keeps the row up to date.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

from celery import shared_task
from celery.signals import worker_ready

logger = logging.getLogger(__name__)


def _worker_name(task: Any) -> str:
    hostname = getattr(task.request, "hostname", None) or socket.gethostname()
    return str(hostname)


@shared_task(bind=True, acks_late=True, ignore_result=True)
def train_reward_model(self: Any, *, run_id: int) -> None:
    """Train one run (see apps.reward_models.services.training_run_execute).

    Idempotent: only a queued run is claimed; a second delivery finds it running and
    returns (or fails it, if its worker stopped reporting).
    """
    from apps.reward_models.services import training_run_claim, training_run_execute

    run = training_run_claim(run_id=run_id, worker=_worker_name(self))
    if run is None:
        return
    from workers.ml.training import train_reward_model as train

    training_run_execute(run=run, train=train)


@shared_task(ignore_result=True)
def retrain_if_due(*, project_id: int) -> None:
    """Apply the project's "retrain after N new labels" rule (enqueued after a label commits)."""
    from apps.reward_models.services import retrain_if_due as check

    run = check(project_id=project_id)
    if run is not None:
        logger.info("project %s: %s started by the new-labels rule", project_id, run)


@worker_ready.connect
def _fail_runs_of_this_worker_before_restart(sender: Any = None, **_: Any) -> None:
    """A worker starting under a name that held running runs was killed: fail those runs."""
    from apps.reward_models.services import training_runs_fail_stale

    hostname = getattr(sender, "hostname", None)
    try:
        failed = training_runs_fail_stale(worker=str(hostname) if hostname else None)
    except Exception:  # the database may be down at start; the next run's checks catch up
        logger.warning("could not check for runs left by a dead worker", exc_info=True)
        return
    if failed:
        logger.warning("marked %s training runs failed: their worker had stopped", failed)
