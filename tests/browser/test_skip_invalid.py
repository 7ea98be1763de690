"""Skipping invalid rows from the Imports page, in headless Chromium with a real worker."""

from __future__ import annotations

import json

import pytest

from apps.imports.models import ImportJob
from tests.browser.conftest import log_in
from tests.factories import PASSWORD, MembershipFactory, ProjectFactory, UserFactory
from tests.imports.files import HH_REPORT, HH_ROWS, jsonl_bytes

pytestmark = pytest.mark.browser


def test_a_designer_imports_the_valid_rows_and_downloads_the_skipped_ones(  # type: ignore[no-untyped-def]
    page, celery_worker_process, tmp_path
):
    project = ProjectFactory(slug="hh", name="HH harmless")
    designer = UserFactory(username="designer-hh")
    MembershipFactory(project=project, user=designer, role="designer")
    upload = tmp_path / "hh-test.jsonl"
    upload.write_bytes(jsonl_bytes(HH_ROWS))

    log_in(page, designer.username, PASSWORD)
    page.goto("/projects/hh/imports/")
    checkbox = page.get_by_label("Skip invalid rows")
    assert not checkbox.is_checked()
    page.set_input_files("#upload-form input[type=file]", str(upload))
    checkbox.check()
    page.screenshot(path="/tmp/skipinvalid-form.png", full_page=True)
    page.get_by_role("button", name="Upload and import").click()

    page.wait_for_url("**/imports/*/")
    page.locator("#job .status-succeeded").wait_for(timeout=60_000)
    job = ImportJob.objects.get(project=project)
    assert (job.skip_invalid, job.rows_skipped, job.labels_created) == (True, 2, 4)
    warning = page.locator("#job .alert-warning")
    assert warning.inner_text().startswith(
        "Imported 4 rows, skipped 2 invalid rows (2 errors). Download the skipped rows"
    )
    assert page.locator("#job .job-head .warning-text").inner_text() == "2 invalid rows skipped"
    assert page.locator("#job .error-list li").all_inner_texts() == [
        "row 3, field rejected: Field required",
        "row 5, field chosen: must be a non-empty string or a list of {role, content} messages",
    ]
    page.screenshot(path="/tmp/skipinvalid-job.png", full_page=True)

    with page.expect_download() as download:
        warning.get_by_role("link", name="Download the skipped rows").click()
    saved = tmp_path / "report.jsonl"
    download.value.save_as(saved)
    assert download.value.suggested_filename == f"hh-import-{job.pk}-skipped.jsonl"
    assert [json.loads(line) for line in saved.read_text().splitlines()] == HH_REPORT

    page.get_by_role("link", name="← All imports").click()
    row = page.locator("tr").filter(has_text="hh-test.jsonl")
    assert row.locator(".warning-text").inner_text() == "2 rows skipped"
    page.screenshot(path="/tmp/skipinvalid-list.png", full_page=True)
