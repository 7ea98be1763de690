"""The one job base (apps.core.jobs.Job), exercised on real job models."""

from __future__ import annotations

import pytest
from kombu.exceptions import OperationalError

from apps.core.jobs import QUEUE_UNREACHABLE
from apps.exports.models import Export
from apps.imports.models import ImportJob
from config.celery import app
from tests.web_server import free_port
from workers.tasks.exports import run_export


def _export(project) -> Export:  # type: ignore[no-untyped-def]
    return Export.objects.create(project=project, format="labels-raw", file_format="jsonl")


@pytest.mark.django_db
def test_a_job_is_claimed_once(project):  # type: ignore[no-untyped-def]
    export = _export(project)

    first = Export.claim(export.pk)
    second = Export.claim(export.pk)

    export.refresh_from_db()
    assert (first, second) == (True, False)
    assert export.status == Export.Status.RUNNING
    assert export.started_at is not None
    assert export.finished_at is None


@pytest.mark.django_db
def test_a_gone_job_is_not_claimed(project):  # type: ignore[no-untyped-def]
    export = _export(project)
    export.delete()

    assert Export.claim(export.pk) is False


@pytest.mark.django_db
def test_claim_writes_the_fields_it_is_given(project):  # type: ignore[no-untyped-def]
    from apps.rewards.models import Inspection
    from tests.rewards.factories import TEXT_SPEC, version_of

    version = version_of(project, TEXT_SPEC)
    inspection = Inspection.objects.create(version=version, project=project)

    assert Inspection.claim(inspection.pk, stage="Starting") is True
    inspection.refresh_from_db()
    assert (inspection.status, inspection.stage) == (Inspection.Status.RUNNING, "Starting")


@pytest.mark.django_db
def test_fail_records_the_message_and_the_end(project):  # type: ignore[no-untyped-def]
    export = _export(project)
    Export.claim(export.pk)
    export.refresh_from_db()

    export.fail("x" * 2500)

    export.refresh_from_db()
    assert export.status == Export.Status.FAILED
    assert export.error == "x" * 2000
    assert export.finished_at is not None
    assert export.is_finished
    assert export.fraction is None


@pytest.mark.django_db
def test_an_import_records_its_failure_among_its_row_errors(project):  # type: ignore[no-untyped-def]
    job = ImportJob.objects.create(project=project, original_name="a.csv", file_format="csv")

    job.fail("could not read the file")

    job.refresh_from_db()
    assert (job.status, job.errors, job.error_count) == (
        ImportJob.Status.FAILED,
        ["could not read the file"],
        1,
    )


@pytest.mark.django_db
def test_finish_writes_the_results_with_the_status(project):  # type: ignore[no-untyped-def]
    export = _export(project)
    Export.claim(export.pk)
    export.refresh_from_db()

    export.finish(items_done=7, items_total=7, card="# card")

    export.refresh_from_db()
    assert (export.status, export.items_done, export.items_total, export.card) == (
        Export.Status.SUCCEEDED,
        7,
        7,
        "# card",
    )
    assert export.error == ""
    assert export.finished_at is not None
    assert export.fraction == 1.0


@pytest.mark.django_db
def test_end_running_ends_only_a_running_job(project):  # type: ignore[no-untyped-def]
    export = _export(project)

    queued = Export.end_running(export.pk, Export.Status.SUCCEEDED)
    Export.claim(export.pk)
    running = Export.end_running(export.pk, Export.Status.SUCCEEDED, items_done=3)

    export.refresh_from_db()
    assert (queued, running) == (False, True)
    assert (export.status, export.items_done) == (Export.Status.SUCCEEDED, 3)


@pytest.mark.django_db
def test_progress_set_writes_the_row_and_touches_updated_at(project):  # type: ignore[no-untyped-def]
    export = _export(project)
    before = export.updated_at

    export.progress_set(items_done=2, items_total=8)

    export.refresh_from_db()
    assert (export.items_done, export.items_total, export.fraction) == (2, 8, 0.25)
    assert export.updated_at > before


@pytest.mark.django_db
def test_a_job_whose_queue_cannot_be_reached_is_failed_not_left_queued(
    project, django_capture_on_commit_callbacks
):  # type: ignore[no-untyped-def]
    export = _export(project)
    unreachable = app.connection_for_write(f"redis://127.0.0.1:{free_port()}/0")

    with pytest.raises(OperationalError), django_capture_on_commit_callbacks(execute=True):
        export.enqueue_after_commit(
            run_export, producer=unreachable.Producer(), export_id=export.pk
        )

    unreachable.release()
    export.refresh_from_db()
    assert export.status == Export.Status.FAILED
    assert export.error == QUEUE_UNREACHABLE
    assert export.finished_at is not None
    assert export.started_at is None


@pytest.mark.django_db
def test_nothing_is_sent_before_the_job_is_committed(project, django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    export = _export(project)
    unreachable = app.connection_for_write(f"redis://127.0.0.1:{free_port()}/0")

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        export.enqueue_after_commit(run_export, producer=unreachable.Producer(), export_id=1)

    unreachable.release()
    export.refresh_from_db()
    assert len(callbacks) == 1
    assert export.status == Export.Status.QUEUED
