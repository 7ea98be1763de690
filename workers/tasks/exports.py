from __future__ import annotations

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, ignore_result=True)
def run_export(*, export_id: int) -> None:
    """Write one export's files and data card (see apps.exports.services.export_run)."""
    from apps.exports.services import export_run

    export = export_run(export_id=export_id)
    if export is None:
        logger.warning("export %s vanished before it ran", export_id)
