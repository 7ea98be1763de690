from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from celery.signals import worker_ready

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, ignore_result=True)
def run_import(*, job_id: int) -> None:
    """Import one uploaded file (see apps.imports.services.import_run), then delete the
    files of imports that failed longer ago than IMPORT_FAILED_RETENTION_HOURS."""
    from apps.imports.services import import_run

    job = import_run(job_id=job_id)
    if job is None:
        logger.warning("import %s vanished before it ran", job_id)
    _delete_expired_files()


@worker_ready.connect
def _delete_expired_files_at_start(**_: Any) -> None:
    _delete_expired_files()


def _delete_expired_files() -> None:
    from apps.imports.services import import_failed_files_delete

    try:
        deleted = import_failed_files_delete()
    except Exception:  # housekeeping: a storage or database hiccup must not fail the import
        logger.warning("could not delete the files of expired failed imports", exc_info=True)
        return
    if deleted:
        logger.info("deleted the uploaded files of %s failed imports past retention", deleted)
