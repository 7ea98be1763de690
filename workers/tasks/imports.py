from __future__ import annotations

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, ignore_result=True)
def run_import(*, job_id: int) -> None:
    """Import one uploaded file (see apps.imports.services.import_run)."""
    from apps.imports.services import import_run

    job = import_run(job_id=job_id)
    if job is None:
        logger.warning("import %s vanished before it ran", job_id)
