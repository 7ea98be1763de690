from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from apps.annotation.models import Label
from apps.imports.models import ImportJob
from apps.imports.services import import_create
from apps.prompts.models import Prompt
from tests.conftest import wait_for
from tests.factories import ProjectFactory, UserFactory
from tests.imports.files import PAIR_ROWS, PROMPT_ROWS, jsonl_bytes, upload

pytestmark = pytest.mark.integration


def _finished(job: ImportJob):  # type: ignore[no-untyped-def]
    job.refresh_from_db()
    return job if job.is_finished else None


def test_it_runs_an_import_job_on_a_real_worker(celery_worker_process):  # type: ignore[no-untyped-def]
    project = ProjectFactory()
    user = UserFactory()

    job = import_create(
        project=project,
        created_by=user,
        upload=upload("data.jsonl", jsonl_bytes(PROMPT_ROWS + PAIR_ROWS)),
    )
    wait_for(lambda: _finished(job), timeout=60)

    assert job.status == ImportJob.Status.SUCCEEDED, job.errors
    assert (job.rows_total, job.prompts_created, job.responses_created) == (6, 6, 13)
    assert (job.comparisons_created, job.labels_created) == (8, 4)
    assert Prompt.objects.filter(project=project).count() == 6
    assert Label.objects.filter(comparison__project=project, source="import").count() == 4


def test_it_leaves_nothing_behind_when_a_worker_rejects_a_file(celery_worker_process):  # type: ignore[no-untyped-def]
    project = ProjectFactory()
    rows = [*PROMPT_ROWS, {"prompt": "x", "responses": "not a list"}]

    job = import_create(
        project=project, created_by=None, upload=upload("bad.jsonl", jsonl_bytes(rows))
    )
    wait_for(lambda: _finished(job), timeout=60)

    assert job.status == ImportJob.Status.FAILED
    assert job.errors == ["row 3, field responses: Input should be a valid list"]
    assert not Prompt.objects.filter(project=project).exists()


def test_a_worker_running_an_import_deletes_expired_files_of_failed_imports(
    celery_worker_process,
):  # type: ignore[no-untyped-def]
    project = ProjectFactory()
    expired = import_create(
        project=project,
        created_by=None,
        upload=upload("bad.jsonl", jsonl_bytes([{"prompt": "x", "responses": []}])),
        enqueue=False,
    )
    ImportJob.objects.filter(pk=expired.pk).update(
        status=ImportJob.Status.FAILED,
        errors=["row 1, field responses: List should have at least 1 item"],
        error_count=1,
        finished_at=timezone.now() - timedelta(hours=settings.IMPORT_FAILED_RETENTION_HOURS + 1),
    )
    storage = expired.file.storage
    assert storage.exists(expired.file.name)

    job = import_create(
        project=project, created_by=None, upload=upload("data.jsonl", jsonl_bytes(PROMPT_ROWS))
    )
    wait_for(lambda: _finished(job), timeout=60)
    wait_for(lambda: not storage.exists(expired.file.name), timeout=30)

    expired.refresh_from_db()
    assert (expired.file.name, expired.status) == ("", ImportJob.Status.FAILED)
    assert expired.errors == ["row 1, field responses: List should have at least 1 item"]
    assert job.status == ImportJob.Status.SUCCEEDED
    assert storage.exists(job.file.name)
