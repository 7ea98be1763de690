from __future__ import annotations

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, ignore_result=True)
def refresh_agreement(*, project_id: int) -> None:
    """Recompute a project's agreement figures and annotator reports (idempotent)."""
    from apps.annotation.reports import agreement_refresh

    if agreement_refresh(project_id=project_id) is None:
        logger.warning("project %s vanished before its agreement recompute ran", project_id)
