"""Rows nested too deeply, or with a NUL character, fail the import with an error that names
the row and the field, and nothing is written (apps.core.json_limits, via parse_row)."""

from __future__ import annotations

import pytest

from apps.accounts.models import Project
from apps.core.errors import ApplicationError
from apps.core.json_limits import MAX_JSON_DEPTH
from apps.imports.models import ImportJob
from apps.imports.services import prompts_write
from tests.imports.files import PROMPT_ROWS, jsonl_bytes, parquet_bytes
from tests.imports.test_services import nothing_written, run

pytestmark = pytest.mark.django_db

NUL = "contains a NUL character (\\u0000)"
TOO_DEEP = f"nested deeper than {MAX_JSON_DEPTH} levels"


def _line(metadata_json: str, prompt: str = "Q") -> bytes:
    return (
        f'{{"prompt": "{prompt}", "responses": [{{"text": "A"}}], "metadata": {metadata_json}}}\n'
    ).encode()


def test_a_nul_in_a_jsonl_row_fails_the_import_naming_row_and_field(project: Project) -> None:
    content = (
        jsonl_bytes(PROMPT_ROWS)
        + b'{"prompt": "Q", "responses": [{"text": "A\\u0000B"}]}\n'
        + b'{"prompt": "Q2", "responses": [{"text": "A"}], "metadata": {"k\\u0000": 1}}\n'
        + b'{"prompt": "Q3\\u0000", "responses": [{"text": "A"}]}\n'
    )

    job = run(project, "nul.jsonl", content)

    assert job.status == ImportJob.Status.FAILED
    assert job.errors == [
        f"row 3, field responses.0.text: {NUL}",
        f"row 4, field metadata.k\\u0000: {NUL}",
        f"row 5, field prompt: {NUL}",
    ]
    assert job.error_count == 3
    assert nothing_written(project)


def test_a_nul_in_a_csv_cell_or_a_parquet_value_fails_the_import(project: Project) -> None:
    csv_job = run(project, "nul.csv", b"prompt,response\nHi,Hel\x00lo\n")
    parquet_job = run(
        project,
        "nul.parquet",
        parquet_bytes([{"prompt": "Hi", "responses": [{"text": "x\x00"}]}]),
    )

    assert csv_job.errors == [f"row 1, field response: {NUL}"]  # the column as written
    assert parquet_job.errors == [f"row 1, field responses.0.text: {NUL}"]
    assert nothing_written(project)


def test_a_deeply_nested_line_fails_the_import_naming_the_row(project: Project) -> None:
    content = (
        jsonl_bytes(PROMPT_ROWS)
        # 2,000 levels: past Python's own decoder (this was "internal error; see logs").
        + b"[" * 2000 + b"]" * 2000 + b"\n"
        + _line("[" * 2000 + "]" * 2000)
        # One level past the limit, and at it: the row (1) and metadata (1) around the rest.
        + _line("{\"k\": " + "[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1) + "}")
        + _line("{\"k\": " + "[" * (MAX_JSON_DEPTH - 2) + "]" * (MAX_JSON_DEPTH - 2) + "}", "Q2")
    )  # fmt: skip

    job = run(project, "deep.jsonl", content)

    assert job.status == ImportJob.Status.FAILED
    assert job.errors == [
        f"row 3: {TOO_DEEP}",
        f"row 4: {TOO_DEEP}",
        f"row 5, field metadata: {TOO_DEEP}",
    ]
    assert nothing_written(project)


def test_a_deeply_nested_csv_cell_fails_the_import_naming_row_and_column(
    project: Project,
) -> None:
    deep = "[" * 2000 + "]" * 2000
    content = f'prompt,responses,metadata\nHi,"[{{""text"": ""A""}}]",{deep}\n'.encode()

    job = run(project, "deep.csv", content)

    assert job.status == ImportJob.Status.FAILED
    assert job.errors == [f"row 1, field metadata: {TOO_DEEP}"]
    assert nothing_written(project)


def test_prompts_write_names_the_row_and_field_of_a_nul(project: Project) -> None:
    rows = [PROMPT_ROWS[0], {"prompt": "Q", "responses": [{"text": "A", "model": "m\x00"}]}]

    with pytest.raises(ApplicationError) as refused:
        prompts_write(project=project, rows=rows)

    assert refused.value.extra == {
        "rows": [{"row": 2, "field": "responses.0.model", "message": NUL}]
    }
    assert nothing_written(project)
