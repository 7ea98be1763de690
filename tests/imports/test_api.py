from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts.models import Project, User
from apps.imports.models import ImportJob
from apps.imports.progress import ProgressReporter
from apps.imports.services import import_run
from apps.prompts.models import Prompt
from tests.api import FORBIDDEN, NOT_FOUND, iso, token_client
from tests.factories import ProjectFactory
from tests.imports.files import HH_ERRORS, HH_REPORT, HH_ROWS, jsonl_bytes

ROWS = [
    {
        "prompt": "What is the capital of Australia?",
        "responses": [
            {"text": "Canberra.", "model": "m-7b"},
            {"text": "Sydney.", "model": "m-70b"},
        ],
        "metadata": {"kind": "factual"},
    },
    {"prompt": "Say hi.", "chosen": "Hi!", "rejected": "No."},
]
JSONL = "".join(json.dumps(row) + "\n" for row in ROWS).encode()


@pytest.fixture(autouse=True)
def _media_and_cache(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path
    cache.clear()  # live progress from other runs must not leak into these jobs


def _upload(name: str = "batch.jsonl", content: bytes = JSONL) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


def _job(project: Project, **fields: Any) -> ImportJob:
    values: dict[str, Any] = {
        "original_name": "old.csv",
        "file": "imports/old.csv",
        "file_format": ImportJob.Format.CSV,
        "size_bytes": 120,
        **fields,
    }
    return ImportJob.objects.create(project=project, **values)


def _summary_json(job: ImportJob) -> dict[str, Any]:
    job.refresh_from_db()
    return {
        "id": job.pk,
        "project": job.project_id,
        "status": job.status,
        "original_name": job.original_name,
        "file_format": job.file_format,
        "size_bytes": job.size_bytes,
        "created_by": job.created_by.username if job.created_by else None,
        "rows_total": job.rows_total,
        "prompts_created": job.prompts_created,
        "responses_created": job.responses_created,
        "comparisons_created": job.comparisons_created,
        "labels_created": job.labels_created,
        "skip_invalid": job.skip_invalid,
        "rows_skipped": job.rows_skipped,
        "error_count": job.error_count,
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at) if job.started_at else None,
        "finished_at": iso(job.finished_at) if job.finished_at else None,
    }


def _job_json(job: ImportJob, progress: dict[str, Any]) -> dict[str, Any]:
    return {
        **_summary_json(job),
        "errors": job.errors,
        "skipped_report": f"/api/v1/imports/{job.pk}/skipped/" if job.skipped_report else None,
        "rows_reported": job.rows_reported,
        "progress": progress,
    }


def test_it_accepts_an_upload_and_answers_202_with_the_queued_job(
    project: Project, designer: User, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = token_client(designer).post(
            f"/api/v1/projects/{project.pk}/imports/", {"file": _upload()}, format="multipart"
        )

    assert response.status_code == 202
    job = ImportJob.objects.get()
    assert response["Location"] == f"/api/v1/imports/{job.pk}/"
    assert response.json() == _job_json(
        job, {"rows_processed": 0, "fraction": 0.0, "phase": "queued"}
    )
    assert (job.project, job.created_by, job.status) == (project, designer, "queued")
    assert (job.original_name, job.file_format, job.size_bytes) == (
        "batch.jsonl",
        "jsonl",
        len(JSONL),
    )
    assert job.file.read() == JSONL
    assert len(callbacks) == 1  # the worker is asked to run it once the job is committed


def test_it_reports_a_finished_import(project: Project, admin_user: User) -> None:
    client = token_client(admin_user)
    created = client.post(
        f"/api/v1/projects/{project.pk}/imports/", {"file": _upload()}, format="multipart"
    ).json()
    import_run(job_id=created["id"])  # what the worker does

    response = client.get(f"/api/v1/imports/{created['id']}/")

    assert response.status_code == 200
    job = ImportJob.objects.get()
    assert response.json() == _job_json(
        job, {"rows_processed": 2, "fraction": 1.0, "phase": "succeeded"}
    )
    assert (job.status, job.rows_total, job.prompts_created, job.responses_created) == (
        "succeeded",
        2,
        2,
        4,
    )
    assert Prompt.objects.filter(project=project).count() == 2


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        (
            _upload("notes.txt", b"hello"),
            "Unsupported file type (.txt): upload a .jsonl, .csv or .parquet file.",
        ),
        (_upload("empty.jsonl", b""), "empty.jsonl is empty."),
        (
            _upload("big.jsonl", b"x" * 2048),
            "big.jsonl is 2.0\xa0KB; the upload limit is 1.0\xa0KB (IMPORT_MAX_UPLOAD_BYTES).",
        ),
    ],
)
def test_it_refuses_a_file_it_cannot_import(
    project: Project,
    designer: User,
    settings: Any,
    upload: SimpleUploadedFile,
    message: str,
) -> None:
    settings.IMPORT_MAX_UPLOAD_BYTES = 1024

    response = token_client(designer).post(
        f"/api/v1/projects/{project.pk}/imports/", {"file": upload}, format="multipart"
    )

    assert response.status_code == 400
    assert response.json() == {"error": {"code": "invalid", "message": message, "details": {}}}
    assert ImportJob.objects.count() == 0


def test_it_asks_for_a_file(project: Project, designer: User) -> None:
    response = token_client(designer).post(
        f"/api/v1/projects/{project.pk}/imports/", {"name": "x"}, format="multipart"
    )

    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "code": "invalid",
            "message": "Invalid input.",
            "details": {"file": ["No file was submitted."]},
        }
    }
    assert ImportJob.objects.count() == 0


def test_it_lists_a_projects_imports_newest_first(
    project: Project, viewer: User, admin_user: User
) -> None:
    older = _job(project, created_by=admin_user)
    newer = _job(
        project,
        original_name="new.parquet",
        file_format=ImportJob.Format.PARQUET,
        status=ImportJob.Status.FAILED,
        errors=["row 3, field prompt: must not be empty"],
        error_count=1,
        rows_total=3,
        started_at=timezone.now(),
        finished_at=timezone.now(),
    )
    _job(ProjectFactory())

    response = token_client(viewer).get(f"/api/v1/projects/{project.pk}/imports/")

    assert response.status_code == 200
    assert response.json() == {
        "count": 2,
        "next": None,
        "previous": None,
        "results": [_summary_json(newer), _summary_json(older)],
    }


def test_it_shows_live_progress_of_a_running_import(project: Project, viewer: User) -> None:
    job = _job(project, status=ImportJob.Status.RUNNING, started_at=timezone.now())
    ProgressReporter(job.pk).report(rows=1500, fraction=0.25, phase="writing", force=True)

    response = token_client(viewer).get(f"/api/v1/imports/{job.pk}/")

    assert response.status_code == 200
    assert response.json() == _job_json(
        job, {"rows_processed": 1500, "fraction": 0.25, "phase": "writing"}
    )


def test_it_shows_the_errors_of_a_failed_import(project: Project, viewer: User) -> None:
    errors = ["row 2, field responses: Field required", "row 5, field prompt: must not be empty"]
    job = _job(
        project,
        status=ImportJob.Status.FAILED,
        rows_total=7,
        errors=errors,
        error_count=2,
        finished_at=timezone.now(),
    )

    response = token_client(viewer).get(f"/api/v1/imports/{job.pk}/")

    assert response.status_code == 200
    assert response.json() == _job_json(
        job, {"rows_processed": 7, "fraction": None, "phase": "failed"}
    )
    assert response.json()["errors"] == errors


def test_it_lets_a_viewer_read_but_not_import(project: Project, viewer: User) -> None:
    job = _job(project)
    client = token_client(viewer)

    upload = client.post(
        f"/api/v1/projects/{project.pk}/imports/", {"file": _upload()}, format="multipart"
    )

    assert (upload.status_code, upload.json()) == (403, FORBIDDEN)
    assert list(ImportJob.objects.all()) == [job]
    assert client.get(f"/api/v1/projects/{project.pk}/imports/").status_code == 200
    assert client.get(f"/api/v1/imports/{job.pk}/").status_code == 200


def test_it_keeps_imports_from_annotators(project: Project, annotator: User) -> None:
    job = _job(project)
    client = token_client(annotator)

    answers = [
        client.get(f"/api/v1/projects/{project.pk}/imports/"),
        client.post(
            f"/api/v1/projects/{project.pk}/imports/", {"file": _upload()}, format="multipart"
        ),
        client.get(f"/api/v1/imports/{job.pk}/"),
    ]

    assert [(a.status_code, a.json()) for a in answers] == [(403, FORBIDDEN)] * 3
    assert list(ImportJob.objects.all()) == [job]


def test_it_hides_imports_from_non_members(project: Project, outsider: User) -> None:
    job = _job(project)
    client = token_client(outsider)

    answers = [
        client.get(f"/api/v1/projects/{project.pk}/imports/"),
        client.post(
            f"/api/v1/projects/{project.pk}/imports/", {"file": _upload()}, format="multipart"
        ),
        client.get(f"/api/v1/imports/{job.pk}/"),
        client.get("/api/v1/imports/999999/"),
    ]

    assert [(a.status_code, a.json()) for a in answers] == [(404, NOT_FOUND)] * 4
    assert list(ImportJob.objects.all()) == [job]


def test_it_answers_401_for_imports_without_credentials(
    api_client: APIClient, project: Project
) -> None:
    job = _job(project)

    answers = [
        api_client.get(f"/api/v1/projects/{project.pk}/imports/"),
        api_client.post(
            f"/api/v1/projects/{project.pk}/imports/", {"file": _upload()}, format="multipart"
        ),
        api_client.get(f"/api/v1/imports/{job.pk}/"),
    ]

    assert [a.status_code for a in answers] == [401, 401, 401]
    assert list(ImportJob.objects.all()) == [job]


HH_WITH_BAD_ROWS = jsonl_bytes(HH_ROWS)


def _skipped_import(project: Project, client: APIClient) -> ImportJob:
    created = client.post(
        f"/api/v1/projects/{project.pk}/imports/",
        {"file": _upload("hh-test.jsonl", HH_WITH_BAD_ROWS), "skip_invalid": "true"},
        format="multipart",
    )
    assert created.status_code == 202
    assert created.json()["skip_invalid"] is True
    import_run(job_id=created.json()["id"])  # what the worker does
    return ImportJob.objects.get(pk=created.json()["id"])


def test_skip_invalid_imports_the_valid_rows_and_serves_the_report(
    project: Project, designer: User
) -> None:
    client = token_client(designer)
    job = _skipped_import(project, client)

    detail = client.get(f"/api/v1/imports/{job.pk}/")
    report = client.get(f"/api/v1/imports/{job.pk}/skipped/")

    assert detail.status_code == 200
    assert detail.json() == _job_json(
        job, {"rows_processed": 6, "fraction": 1.0, "phase": "succeeded"}
    )
    assert detail.json()["skipped_report"] == f"/api/v1/imports/{job.pk}/skipped/"
    assert (detail.json()["status"], detail.json()["rows_total"]) == ("succeeded", 6)
    assert (detail.json()["rows_skipped"], detail.json()["labels_created"]) == (2, 4)
    assert detail.json()["errors"] == HH_ERRORS
    assert report.status_code == 200
    assert report["Content-Type"] == "application/jsonl"
    assert report["Content-Disposition"] == (
        f'attachment; filename="{project.slug}-import-{job.pk}-skipped.jsonl"'
    )
    lines = b"".join(report.streaming_content).decode().splitlines()
    assert [json.loads(line) for line in lines] == HH_REPORT


def test_without_skip_invalid_the_api_imports_nothing_and_has_no_report(
    project: Project, designer: User
) -> None:
    client = token_client(designer)
    created = client.post(
        f"/api/v1/projects/{project.pk}/imports/",
        {"file": _upload("hh-test.jsonl", HH_WITH_BAD_ROWS)},
        format="multipart",
    ).json()
    import_run(job_id=created["id"])

    detail = client.get(f"/api/v1/imports/{created['id']}/").json()
    report = client.get(f"/api/v1/imports/{created['id']}/skipped/")

    assert created["skip_invalid"] is False
    assert (detail["status"], detail["rows_skipped"], detail["skipped_report"]) == (
        "failed",
        0,
        None,
    )
    assert detail["errors"] == HH_ERRORS
    assert (report.status_code, report.json()) == (404, NOT_FOUND)
    assert not Prompt.objects.filter(project=project).exists()


def test_the_skipped_report_is_for_members_who_may_read_imports(
    project: Project, designer: User, viewer: User, annotator: User, outsider: User
) -> None:
    job = _skipped_import(project, token_client(designer))
    url = f"/api/v1/imports/{job.pk}/skipped/"

    answers = [token_client(user).get(url) for user in (viewer, annotator, outsider)]

    assert [answer.status_code for answer in answers] == [200, 403, 404]
    assert (answers[1].json(), answers[2].json()) == (FORBIDDEN, NOT_FOUND)


def test_the_schema_describes_skip_invalid_and_the_report(api_client: APIClient) -> None:
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()

    create = schema["components"]["schemas"]["ImportCreateRequest"]["properties"]
    report = schema["paths"]["/api/v1/imports/{import_id}/skipped/"]["get"]
    job = schema["components"]["schemas"]["ImportJob"]["properties"]
    assert (create["skip_invalid"]["type"], create["skip_invalid"]["default"]) == ("boolean", False)
    assert report["operationId"] == "import_skipped_report"
    assert list(report["responses"]["200"]["content"]) == ["application/jsonl"]
    assert {"skip_invalid", "rows_skipped", "skipped_report"} <= set(job)
