from __future__ import annotations

import json

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.imports.models import ImportJob
from apps.imports.services import import_run
from tests.imports.files import HH_REPORT, HH_ROWS, jsonl_bytes
from tests.page_factories import ImportJobFactory

pytestmark = pytest.mark.django_db

ROWS = [
    {"prompt": "Capital of Australia?", "responses": [{"text": "Canberra.", "model": "m1"}]},
]


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture(autouse=True)
def no_live_progress():  # type: ignore[no-untyped-def]
    """Live import progress sits in the cache, keyed by job id: start each test without any."""
    cache.clear()


def jsonl_file(name: str = "batch.jsonl") -> SimpleUploadedFile:
    content = "".join(json.dumps(row) + "\n" for row in ROWS).encode()
    return SimpleUploadedFile(name, content, content_type="application/jsonl")


def list_url(project) -> str:  # type: ignore[no-untyped-def]
    return reverse("imports:import_list", args=[project.slug])


def upload_url(project) -> str:  # type: ignore[no-untyped-def]
    return reverse("imports:import_upload", args=[project.slug])


def test_it_shows_the_upload_form_to_a_designer(client, designer, project):  # type: ignore[no-untyped-def]
    client.force_login(designer)
    response = client.get(list_url(project))
    assert response.status_code == 200
    html = response.content.decode()
    assert f'action="{upload_url(project)}" enctype="multipart/form-data"' in html
    assert 'src="/static/js/upload.js"' in html


def test_it_shows_a_viewer_the_list_without_the_upload_form(client, viewer, project):  # type: ignore[no-untyped-def]
    ImportJobFactory(project=project, original_name="done.jsonl", status="succeeded")
    client.force_login(viewer)
    response = client.get(list_url(project))
    assert response.status_code == 200
    html = response.content.decode()
    assert "done.jsonl" in html
    assert upload_url(project) not in html
    assert 'type="file"' not in html


def test_it_lists_the_projects_jobs_with_counts(client, designer, project):  # type: ignore[no-untyped-def]
    ImportJobFactory(
        project=project,
        original_name="pairs.csv",
        status="succeeded",
        rows_total=12,
        prompts_created=10,
        responses_created=20,
        comparisons_created=10,
        labels_created=10,
        created_by=designer,
    )
    ImportJobFactory(original_name="elsewhere.jsonl")
    client.force_login(designer)

    html = client.get(list_url(project)).content.decode()

    assert "pairs.csv" in html
    assert "10 prompts, 20 responses, 10 comparisons, 10 labels" in html
    assert '<td class="num">12</td>' in html
    assert f"<td>{designer.username}</td>" in html
    assert "elsewhere.jsonl" not in html


def test_it_refuses_imports_to_annotators(client, annotator, project):  # type: ignore[no-untyped-def]
    client.force_login(annotator)
    assert client.get(list_url(project)).status_code == 403


def test_it_hides_imports_from_non_members(client, outsider, project):  # type: ignore[no-untyped-def]
    job = ImportJobFactory(project=project)
    client.force_login(outsider)
    listing = client.get(list_url(project))
    detail = client.get(reverse("imports:import_detail", args=[project.slug, job.pk]))
    upload = client.post(upload_url(project), {"file": jsonl_file()})
    assert (listing.status_code, detail.status_code, upload.status_code) == (404, 404, 404)
    assert ImportJob.objects.count() == 1


def test_it_refuses_an_upload_from_a_viewer(client, viewer, project):  # type: ignore[no-untyped-def]
    client.force_login(viewer)
    response = client.post(upload_url(project), {"file": jsonl_file()})
    assert response.status_code == 403
    assert ImportJob.objects.count() == 0


def test_it_uploads_a_file_and_shows_its_job(client, designer, project):  # type: ignore[no-untyped-def]
    client.force_login(designer)

    response = client.post(upload_url(project), {"file": jsonl_file("first batch.jsonl")})

    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response.url == f"/projects/{project.slug}/imports/{job.pk}/"
    assert (job.project, job.created_by, job.original_name, job.status) == (
        project,
        designer,
        "first batch.jsonl",
        ImportJob.Status.QUEUED,
    )


def test_it_shows_the_service_error_on_the_form(client, designer, project):  # type: ignore[no-untyped-def]
    client.force_login(designer)

    response = client.post(upload_url(project), {"file": SimpleUploadedFile("notes.txt", b"hello")})

    assert response.status_code == 400
    assert response.context["form"].errors == {
        "file": ["Unsupported file type (.txt): upload a .jsonl, .csv or .parquet file."]
    }
    assert "Unsupported file type (.txt)" in response.content.decode()
    assert ImportJob.objects.count() == 0


def test_it_asks_for_a_file(client, designer, project):  # type: ignore[no-untyped-def]
    client.force_login(designer)
    response = client.post(upload_url(project), {})
    assert response.status_code == 400
    assert response.context["form"].errors == {"file": ["This field is required."]}
    assert ImportJob.objects.count() == 0


def test_it_polls_a_job_while_it_runs(client, viewer, project):  # type: ignore[no-untyped-def]
    job = ImportJobFactory(project=project, status="queued", original_name="slow.jsonl")
    client.force_login(viewer)
    progress_url = reverse("imports:import_progress", args=[project.slug, job.pk])

    page = client.get(reverse("imports:import_detail", args=[project.slug, job.pk]))
    poll = client.get(progress_url, HTTP_HX_REQUEST="true")

    assert page.status_code == 200
    html = page.content.decode()
    assert f'hx-get="{progress_url}" hx-trigger="every 1s"' in html
    assert "slow.jsonl" in html
    assert '<progress max="1" value="0.0000" aria-label="Import progress">' in html
    assert poll.status_code == 200
    assert poll.content.decode().lstrip().startswith('<section id="job"')
    assert 'hx-trigger="every 1s"' in poll.content.decode()


def test_it_stops_polling_once_the_job_succeeded(client, viewer, project):  # type: ignore[no-untyped-def]
    job = ImportJobFactory(
        project=project, status="succeeded", rows_total=3, prompts_created=3, responses_created=6
    )
    client.force_login(viewer)

    poll = client.get(
        reverse("imports:import_progress", args=[project.slug, job.pk]), HTTP_HX_REQUEST="true"
    )

    assert poll.status_code == 286
    html = poll.content.decode()
    assert "hx-trigger" not in html
    assert "Imported 3 rows." in html
    assert f'href="/projects/{project.slug}/prompts/"' in html


def test_it_lists_the_errors_of_a_failed_job(client, viewer, project):  # type: ignore[no-untyped-def]
    job = ImportJobFactory(
        project=project,
        status="failed",
        errors=["row 3, field responses.0.text: Field required", "row 9: not valid JSON"],
        error_count=75,
    )
    client.force_login(viewer)

    page = client.get(reverse("imports:import_detail", args=[project.slug, job.pk]))

    html = page.content.decode()
    assert page.status_code == 200
    assert "hx-trigger" not in html
    assert "Nothing was imported: 75 errors, the first 2 shown." in html
    assert '<li class="mono">row 3, field responses.0.text: Field required</li>' in html
    assert '<li class="mono">row 9: not valid JSON</li>' in html


def test_it_answers_404_for_a_job_of_another_project(client, viewer, project):  # type: ignore[no-untyped-def]
    foreign = ImportJobFactory()
    client.force_login(viewer)
    response = client.get(reverse("imports:import_detail", args=[project.slug, foreign.pk]))
    assert response.status_code == 404


def test_it_says_when_no_worker_has_picked_a_job_up(client, viewer, project):  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from django.utils import timezone

    fresh = ImportJobFactory(project=project, status="queued")
    stuck = ImportJobFactory(project=project, status="queued")
    ImportJob.objects.filter(pk=stuck.pk).update(created_at=timezone.now() - timedelta(minutes=2))
    client.force_login(viewer)

    fresh_page = client.get(reverse("imports:import_detail", args=[project.slug, fresh.pk]))
    stuck_page = client.get(reverse("imports:import_detail", args=[project.slug, stuck.pk]))

    assert "No worker has picked this import up yet" not in fresh_page.content.decode()
    assert "No worker has picked this import up yet" in stuck_page.content.decode()


def test_the_upload_form_offers_to_skip_invalid_rows(client, designer, project):  # type: ignore[no-untyped-def]
    client.force_login(designer)

    html = client.get(list_url(project)).content.decode()

    assert '<input type="checkbox" name="skip_invalid"' in html
    assert "Skip invalid rows" in html
    assert "Left unticked, a file with any invalid row imports nothing." in html


@pytest.mark.parametrize(("ticked", "skip_invalid"), [({"skip_invalid": "on"}, True), ({}, False)])
def test_the_checkbox_sets_skip_invalid_on_the_job(client, designer, project, ticked, skip_invalid):  # type: ignore[no-untyped-def]
    client.force_login(designer)

    response = client.post(upload_url(project), {"file": jsonl_file(), **ticked})

    assert response.status_code == 302
    assert ImportJob.objects.get().skip_invalid is skip_invalid


def _partial_import(client, designer, project) -> ImportJob:  # type: ignore[no-untyped-def]
    client.force_login(designer)
    upload = SimpleUploadedFile("hh-test.jsonl", jsonl_bytes(HH_ROWS))
    client.post(upload_url(project), {"file": upload, "skip_invalid": "on"})
    job = ImportJob.objects.get()
    import_run(job_id=job.pk)
    job.refresh_from_db()
    return job


def test_a_partial_import_shows_what_it_skipped_with_the_report(client, designer, project):  # type: ignore[no-untyped-def]
    job = _partial_import(client, designer, project)
    report_url = reverse("imports:import_skipped", args=[project.slug, job.pk])

    page = client.get(reverse("imports:import_detail", args=[project.slug, job.pk]))
    listing = client.get(list_url(project))
    download = client.get(report_url)

    html = page.content.decode()
    assert '<span class="warning-text">2 invalid rows skipped</span>' in html
    assert "Imported 4 rows, skipped 2 invalid rows (2 errors)." in html
    assert f'<a href="{report_url}" download>Download the skipped rows</a>' in html
    assert '<li class="mono">row 3, field rejected: Field required</li>' in html
    assert "alert-success" not in html
    assert '<span class="small warning-text">2 rows skipped</span>' in listing.content.decode()
    assert download.status_code == 200
    assert download["Content-Type"] == "application/jsonl"
    assert download["Content-Disposition"] == (
        f'attachment; filename="{project.slug}-import-{job.pk}-skipped.jsonl"'
    )
    lines = b"".join(download.streaming_content).decode().splitlines()
    assert [json.loads(line) for line in lines] == HH_REPORT


def test_the_report_page_answers_404_without_skipped_rows_or_membership(  # type: ignore[no-untyped-def]
    client, designer, outsider, project
):
    job = _partial_import(client, designer, project)
    clean = ImportJobFactory(project=project, status="succeeded")
    client.force_login(outsider)
    foreign = client.get(reverse("imports:import_skipped", args=[project.slug, job.pk]))
    client.force_login(designer)
    none = client.get(reverse("imports:import_skipped", args=[project.slug, clean.pk]))

    assert (foreign.status_code, none.status_code) == (404, 404)


def test_the_page_says_when_the_report_lists_only_the_first_skipped_rows(client, viewer, project):  # type: ignore[no-untyped-def]
    job = ImportJobFactory(
        project=project,
        status="succeeded",
        skip_invalid=True,
        rows_total=300_000,
        rows_skipped=150_000,
        rows_reported=100_000,
        skipped_report="imports/skipped/2026/12/big-skipped.jsonl",
        errors=["row 3, field rejected: Field required"],
        error_count=150_000,
    )
    client.force_login(viewer)

    html = client.get(
        reverse("imports:import_detail", args=[project.slug, job.pk])
    ).content.decode()

    assert (
        "Imported 150000 rows, skipped 150000 invalid rows (150000 errors, the first 1 shown)."
        in html
    )
    assert "to fix and import again; it lists the first 100000)." in html
