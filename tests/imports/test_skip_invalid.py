"""Imports with skip_invalid: the valid rows go in, the invalid ones into a report; a problem
after which the reader cannot find the next row still fails the whole file."""

from __future__ import annotations

import json
from typing import Any

import pytest

from apps.annotation.models import Comparison, Label
from apps.imports.models import ImportJob
from apps.imports.services import (
    MAX_ERRORS_PER_SKIPPED_ROW,
    STOPS_THE_FILE,
    import_create,
    import_run,
)
from apps.prompts.models import Prompt, Response
from tests.imports.files import (
    HH_ERRORS,
    HH_REPORT,
    HH_ROWS,
    hh,
    jsonl_bytes,
    parquet_bytes,
    unclosed_quote_csv,
    upload,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media_root(settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = tmp_path


def run(project: Any, name: str, content: bytes, *, skip_invalid: bool) -> ImportJob:
    job = import_create(
        project=project,
        created_by=None,
        upload=upload(name, content),
        enqueue=False,
        skip_invalid=skip_invalid,
    )
    finished = import_run(job_id=job.pk)
    assert finished is not None
    return finished


def report_of(job: ImportJob) -> list[dict[str, Any]]:
    with job.skipped_report.open("rb") as report:
        return [json.loads(line) for line in report]


def nothing_written(project: Any) -> bool:
    return (
        not Prompt.objects.filter(project=project).exists()
        and not Comparison.objects.filter(project=project).exists()
        and not Label.objects.filter(comparison__project=project).exists()
    )


def test_an_hh_file_with_invalid_rows_imports_the_rest_and_reports_them(project: Any) -> None:
    job = run(project, "hh-test.jsonl", jsonl_bytes(HH_ROWS), skip_invalid=True)

    assert job.status == ImportJob.Status.SUCCEEDED
    assert (job.rows_total, job.rows_skipped, job.rows_imported, job.rows_reported) == (6, 2, 4, 2)
    assert (job.prompts_created, job.responses_created) == (4, 8)
    assert (job.comparisons_created, job.labels_created) == (4, 4)
    assert (job.errors, job.error_count) == (HH_ERRORS, 2)
    assert report_of(job) == HH_REPORT
    rows = sorted(Label.objects.filter(comparison__project=project).values_list("metadata__row"))
    assert rows == [(1,), (2,), (4,), (6,)]
    assert Response.objects.filter(prompt__project=project, text="").count() == 1


def test_without_skip_invalid_the_same_file_imports_nothing(project: Any) -> None:
    job = run(project, "hh-test.jsonl", jsonl_bytes(HH_ROWS), skip_invalid=False)

    assert job.status == ImportJob.Status.FAILED
    assert (job.errors, job.error_count, job.rows_total, job.rows_skipped) == (HH_ERRORS, 2, 6, 0)
    assert not job.skipped_report
    assert nothing_written(project)


def test_importing_the_file_again_adds_nothing_and_skips_the_same_rows(project: Any) -> None:
    run(project, "hh-test.jsonl", jsonl_bytes(HH_ROWS), skip_invalid=True)

    again = run(project, "hh-test.jsonl", jsonl_bytes(HH_ROWS), skip_invalid=True)

    assert again.status == ImportJob.Status.SUCCEEDED
    assert (again.rows_skipped, again.prompts_created, again.responses_created) == (2, 0, 0)
    assert (again.comparisons_created, again.labels_created) == (0, 0)
    assert report_of(again) == HH_REPORT
    assert Label.objects.filter(comparison__project=project).count() == 4


def test_a_fixed_report_imports_as_json_lines(project: Any) -> None:
    job = run(project, "hh-test.jsonl", jsonl_bytes(HH_ROWS), skip_invalid=True)
    fixed = [entry["data"] for entry in report_of(job)]
    fixed[0]["rejected"] = hh("Tell me a secret", "Here is one.")
    fixed[1]["chosen"] = hh("Count to one", "1")

    again = run(project, "fixed.jsonl", jsonl_bytes(fixed), skip_invalid=False)

    assert (again.status, again.labels_created) == (ImportJob.Status.SUCCEEDED, 2)
    assert Label.objects.filter(comparison__project=project).count() == 6


def test_a_file_of_valid_rows_has_no_report(project: Any) -> None:
    rows = [HH_ROWS[0], HH_ROWS[1]]

    job = run(project, "clean.jsonl", jsonl_bytes(rows), skip_invalid=True)

    assert (job.status, job.rows_skipped, job.errors, job.error_count) == ("succeeded", 0, [], 0)
    assert not job.skipped_report
    assert job.labels_created == 2


def test_a_file_with_no_valid_row_fails_whole(project: Any) -> None:
    job = run(project, "bad.jsonl", jsonl_bytes([HH_ROWS[2], HH_ROWS[4]]), skip_invalid=True)

    assert job.status == ImportJob.Status.FAILED
    assert job.errors == [
        "row 1, field rejected: Field required",
        "row 2, field chosen: must be a non-empty string or a list of {role, content} messages",
    ]
    assert (job.error_count, job.rows_skipped) == (2, 0)
    assert not job.skipped_report
    assert nothing_written(project)


def test_a_line_that_is_not_json_is_skipped_when_the_next_line_follows(project: Any) -> None:
    content = jsonl_bytes([HH_ROWS[0]]) + b'{"chosen": "cut\n' + jsonl_bytes([HH_ROWS[1]])

    job = run(project, "broken.jsonl", content, skip_invalid=True)

    assert (job.status, job.rows_skipped, job.labels_created) == ("succeeded", 1, 2)
    assert report_of(job) == [
        {
            "row": 2,
            "errors": [{"field": "", "reason": "not valid JSON (Invalid control character at)"}],
            "data": None,
        }
    ]


def test_a_broken_last_line_fails_the_file_as_one_cut_short(project: Any) -> None:
    content = jsonl_bytes([HH_ROWS[0], HH_ROWS[2]]) + b'{"chosen": "\\n\\nHuman: Hi'

    job = run(project, "cut.jsonl", content, skip_invalid=True)

    assert job.status == ImportJob.Status.FAILED
    assert job.errors == [
        "row 3: not valid JSON (Unterminated string starting at)",
        STOPS_THE_FILE,
        "row 2, field rejected: Field required",
    ]
    assert (job.error_count, job.rows_total) == (2, 3)
    assert not job.skipped_report
    assert nothing_written(project)


def test_a_line_past_the_limit_fails_the_file(project: Any, settings: Any) -> None:
    settings.IMPORT_MAX_LINE_BYTES = 1000
    long_row = {"chosen": hh("Hi", "x" * 2000), "rejected": hh("Hi", "y")}

    job = run(
        project, "long.jsonl", jsonl_bytes([HH_ROWS[0], long_row, HH_ROWS[1]]), skip_invalid=True
    )

    assert job.status == ImportJob.Status.FAILED
    assert job.errors == [
        "row 2: the line is longer than 1000 bytes (IMPORT_MAX_LINE_BYTES); "
        "the file was not read further",
        STOPS_THE_FILE,
    ]
    assert nothing_written(project)


def test_an_unclosed_csv_quote_fails_the_file(project: Any) -> None:
    job = run(project, "quotes.csv", unclosed_quote_csv(), skip_invalid=True)

    assert job.status == ImportJob.Status.FAILED
    assert job.errors == [
        "row 21, field prompt: the quote that opens this cell (column 1, line 22) is never "
        "closed: the file ends inside it",
        STOPS_THE_FILE,
    ]
    assert nothing_written(project)


def test_a_json_array_fails_the_file(project: Any) -> None:
    job = run(project, "array.json", json.dumps(HH_ROWS).encode(), skip_invalid=True)

    assert job.status == ImportJob.Status.FAILED
    assert job.errors[1] == STOPS_THE_FILE
    assert nothing_written(project)


def test_csv_rows_with_too_few_cells_or_bad_json_are_skipped(project: Any) -> None:
    content = (
        b"prompt,chosen,rejected,metadata\r\n"
        b'Say hi.,Hi!,No.,"{""source"": ""a""}"\r\n'
        b"Only two,cells\r\n"
        b'Q?,Yes.,No.,"{""source"": "\r\n'
        b"Say bye.,Bye!,Hi.,\r\n"
    )

    job = run(project, "pairs.csv", content, skip_invalid=True)

    assert (job.status, job.rows_total, job.rows_skipped, job.labels_created) == (
        "succeeded",
        4,
        2,
        2,
    )
    assert report_of(job) == [
        {
            "row": 2,
            "errors": [{"field": "", "reason": "has fewer cells than the header has columns"}],
            "data": None,
        },
        {
            "row": 3,
            "errors": [{"field": "metadata", "reason": "not valid JSON (Expecting value)"}],
            "data": None,
        },
    ]


def test_a_parquet_row_is_reported_with_its_data(project: Any) -> None:
    rows = [
        {"prompt": "Say hi.", "chosen": "Hi!", "rejected": "No.", "score": 1.5},
        {"prompt": "Say bye.", "chosen": "Bye!", "rejected": "Bye!", "score": None},
    ]

    job = run(project, "pairs.parquet", parquet_bytes(rows), skip_invalid=True)

    assert (job.status, job.rows_skipped, job.labels_created) == ("succeeded", 1, 1)
    assert report_of(job) == [
        {
            "row": 2,
            "errors": [{"field": "rejected", "reason": "is the same response as chosen"}],
            "data": rows[1],
        }
    ]


def test_a_gold_row_that_contradicts_an_earlier_one_is_skipped(project: Any) -> None:
    rows = [
        {"prompt": "A?", "chosen": "yes", "rejected": "no", "gold": True},
        {"prompt": "B?", "chosen": "up", "rejected": "down"},
        {"prompt": "A?", "chosen": "no", "rejected": "yes", "gold": True},
    ]

    job = run(project, "gold.jsonl", jsonl_bytes(rows), skip_invalid=True)

    assert (job.status, job.rows_skipped, job.labels_created) == ("succeeded", 1, 1)
    assert job.errors == [
        "row 3, field gold: row 1 has this gold pair with chosen and rejected swapped"
    ]
    assert list(
        Comparison.objects.filter(project=project, is_gold=True).values_list(
            "response_a__text", "response_b__text", "gold_choice"
        )
    ) == [("yes", "no", "a")]
    assert report_of(job)[0]["data"] == rows[2]


def test_a_row_with_many_errors_lists_the_first_in_the_report(project: Any) -> None:
    broken = {"prompt": "Q?", "responses": [{}] * (MAX_ERRORS_PER_SKIPPED_ROW + 40)}
    good = {"prompt": "R?", "responses": [{"text": "a"}, {"text": "b"}]}

    job = run(project, "many.jsonl", jsonl_bytes([broken, good]), skip_invalid=True)

    (entry,) = report_of(job)
    assert len(entry["errors"]) == MAX_ERRORS_PER_SKIPPED_ROW == 20
    assert entry["errors"][-1] == {"field": "responses.19.text", "reason": "Field required"}
    assert (entry["more_errors"], entry["data"]) == (40, broken)
    assert (job.rows_skipped, job.error_count, len(job.errors)) == (1, 60, 50)


def test_the_report_lists_at_most_the_configured_number_of_rows(
    project: Any, settings: Any
) -> None:
    settings.IMPORT_SKIPPED_REPORT_MAX_ROWS = 1

    job = run(project, "hh-test.jsonl", jsonl_bytes(HH_ROWS), skip_invalid=True)

    assert (job.status, job.rows_skipped, job.rows_reported) == ("succeeded", 2, 1)
    assert report_of(job) == HH_REPORT[:1]
    assert (job.errors, job.labels_created) == (HH_ERRORS, 4)
