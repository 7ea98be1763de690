"""Files the readers must refuse whole, early and in bounded memory (issue 17, 2 and 5)."""

from __future__ import annotations

import json

import pytest

from apps.imports.models import ImportJob
from apps.prompts.models import Prompt
from tests.imports.files import (
    PROMPT_ROWS,
    jsonl_bytes,
    parquet_bomb,
    parquet_repeating,
    unclosed_quote_csv,
)
from tests.imports.test_services import nothing_written, run

pytestmark = pytest.mark.django_db


def test_it_refuses_a_csv_whose_quote_is_never_closed(project):  # type: ignore[no-untyped-def]
    job = run(project, "broken.csv", unclosed_quote_csv())

    assert job.status == ImportJob.Status.FAILED
    assert job.errors == [
        "row 21, field prompt: the quote that opens this cell (column 1, line 22) is never "
        "closed: the file ends inside it"
    ]
    assert (job.error_count, job.prompts_created, job.responses_created) == (1, 0, 0)
    assert nothing_written(project)


def test_it_refuses_a_csv_whose_open_quote_would_merge_the_rows_after_it(project):  # type: ignore[no-untyped-def]
    # The quote closes at the start of the next quoted cell: a lenient parser reads on
    # and merges two rows into one prompt.
    job = run(project, "broken.csv", unclosed_quote_csv(later_rows_quoted=True))

    assert job.status == ImportJob.Status.FAILED
    assert job.errors == [
        "row 21, field prompt: the quote that opens this cell (column 1, line 22) closes on "
        "line 23 and is followed by 'Question 20?\",Answer', not a comma or the end of the "
        'line: is a quote left open, or a quote inside the cell not doubled ("")?'
    ]
    assert nothing_written(project)


def test_it_refuses_a_csv_row_whose_quote_closes_rows_later(project):  # type: ignore[no-untyped-def]
    content = b'prompt,response,model\nHi,Hello,m1\n"Bye,resp,m1\nend",x\nYo,Hey,m1\n'

    job = run(project, "broken.csv", content)

    assert job.errors == [
        "row 2, field prompt: the quote that opens this cell (column 1, line 3) closes only "
        "on line 4, and the row has 2 cells where the header has 3 columns: is a quote left "
        "open?"
    ]
    assert nothing_written(project)


def test_it_reads_quoted_csv_cells_over_several_lines_and_doubled_quotes(project):  # type: ignore[no-untyped-def]
    content = (
        b"prompt,response,model\r\n"
        b'"Line one\nline two","She said ""hi"".",m1\r\n'
        b'plain "quotes" inside,Fine.,m2\r\n'
    )

    job = run(project, "quoted.csv", content)

    assert job.status == ImportJob.Status.SUCCEEDED, job.errors
    assert sorted(Prompt.objects.filter(project=project).values_list("input", flat=True)) == [
        "Line one\nline two",
        'plain "quotes" inside',
    ]


def test_it_reads_csv_lines_that_end_in_a_bare_carriage_return(project, settings):  # type: ignore[no-untyped-def]
    settings.IMPORT_MAX_LINE_BYTES = 64  # each line is short, the file is one b"\n"-less run
    rows = b"".join(b"Question %d?,Answer %d.\r" % (i, i) for i in range(20))
    content = b'prompt,response\r"Two\rlines",Yes.\r' + rows + b'"open,x\r'

    job = run(project, "mac.csv", content)

    assert job.errors == [
        "row 22, field prompt: the quote that opens this cell (column 1, line 24) is never "
        "closed: the file ends inside it"
    ]
    job = run(project, "mac.csv", content.removesuffix(b'"open,x\r'))
    assert job.status == ImportJob.Status.SUCCEEDED, job.errors
    assert job.prompts_created == 21
    assert Prompt.objects.filter(project=project, input="Two\rlines").exists()


def test_it_stops_at_a_jsonl_line_longer_than_the_limit(project, settings):  # type: ignore[no-untyped-def]
    settings.IMPORT_MAX_LINE_BYTES = 1000
    long_row = {"prompt": "x" * 1000, "responses": [{"text": "y"}]}
    content = jsonl_bytes(PROMPT_ROWS) + jsonl_bytes([long_row]) + jsonl_bytes(PROMPT_ROWS)

    job = run(project, "long.jsonl", content)

    assert job.status == ImportJob.Status.FAILED
    assert job.errors == [
        "row 3: the line is longer than 1000 bytes (IMPORT_MAX_LINE_BYTES); "
        "the file was not read further"
    ]
    assert job.rows_total == 3
    assert nothing_written(project)


def test_it_reads_a_jsonl_line_of_exactly_the_limit(project, settings):  # type: ignore[no-untyped-def]
    line = json.dumps({"prompt": "x" * 950, "responses": [{"text": "y"}]})
    settings.IMPORT_MAX_LINE_BYTES = len(line) + 1  # with its newline

    job = run(project, "edge.jsonl", (line + "\n").encode() + jsonl_bytes(PROMPT_ROWS))

    assert job.status == ImportJob.Status.SUCCEEDED, job.errors
    assert job.prompts_created == 3


def test_it_stops_at_a_jsonl_line_that_never_ends(project, settings):  # type: ignore[no-untyped-def]
    settings.IMPORT_MAX_LINE_BYTES = 64 * 1024
    content = b'{"prompt": "' + b"a" * (1024 * 1024)  # one unterminated line, 16x the limit

    job = run(project, "endless.jsonl", content)

    assert job.errors == [
        "row 1: the line is longer than 64.0 KiB (IMPORT_MAX_LINE_BYTES); "
        "the file was not read further"
    ]


def test_it_stops_at_a_csv_row_longer_than_the_limit(project, settings):  # type: ignore[no-untyped-def]
    settings.IMPORT_MAX_LINE_BYTES = 200
    content = b"prompt,response\nHi,Hello\n" + b"y" * 300 + b",resp\nYo,Hey\n"

    job = run(project, "long.csv", content)

    assert job.errors == [
        "row 2: the row is longer than 200 bytes (IMPORT_MAX_LINE_BYTES); "
        "the file was not read further"
    ]
    assert nothing_written(project)


def test_it_stops_at_an_open_csv_quote_once_the_row_passes_the_limit(project, settings):  # type: ignore[no-untyped-def]
    settings.IMPORT_MAX_LINE_BYTES = 200

    job = run(project, "broken.csv", unclosed_quote_csv())

    assert job.errors == [
        "row 21, field prompt: the quote that opens this cell (column 1, line 22) is still "
        "open after 200 bytes (IMPORT_MAX_LINE_BYTES): is its closing quote missing? The file "
        "was not read further"
    ]


def test_it_refuses_a_parquet_file_that_unpacks_past_the_limit_without_reading_it(
    project, settings
):  # type: ignore[no-untyped-def]
    settings.IMPORT_MAX_PARQUET_UNPACKED_BYTES = 1024 * 1024
    content = parquet_bomb(unpacked_bytes=2 * 1024 * 1024, rows=4)
    assert len(content) < 2048

    job = run(project, "bomb.parquet", content)

    # Its data pages are garbage: reading them would have failed with pyarrow's error.
    assert job.status == ImportJob.Status.FAILED
    assert job.errors == [
        "the file unpacks to 2.0 MiB, over the limit of 1.0 MiB "
        "(IMPORT_MAX_PARQUET_UNPACKED_BYTES). Nothing was read"
    ]
    assert nothing_written(project)


def test_it_refuses_parquet_rows_that_unpack_past_the_line_limit_without_reading_them(
    project, settings
):  # type: ignore[no-untyped-def]
    settings.IMPORT_MAX_LINE_BYTES = 1024 * 1024

    single = run(project, "bomb.parquet", parquet_bomb(unpacked_bytes=3 * 1024 * 1024))
    several = run(project, "bombs.parquet", parquet_bomb(unpacked_bytes=8 * 1024 * 1024, rows=4))

    assert single.errors == [
        "row 1: this row unpacks to 3.0 MiB; a row may hold at most 1.0 MiB "
        "(IMPORT_MAX_LINE_BYTES). Nothing was read"
    ]
    assert several.errors == [
        "row 1: its row group (rows 1–4) unpacks to 8.0 MiB, 2.0 MiB a row on average; a row "
        "may hold at most 1.0 MiB (IMPORT_MAX_LINE_BYTES). Nothing was read"
    ]
    assert nothing_written(project)


def test_it_stops_a_parquet_file_whose_rows_repeat_one_stored_value_past_the_limit(
    project, settings
):  # type: ignore[no-untyped-def]
    settings.IMPORT_MAX_PARQUET_UNPACKED_BYTES = 1024 * 1024
    content = parquet_repeating(rows=64, prompt_bytes=64 * 1024)  # 4 MiB once read
    assert len(content) < 4096

    job = run(project, "repeat.parquet", content)

    assert job.status == ImportJob.Status.FAILED
    assert job.errors == [
        "row 16: the rows up to this one unpack to more than the limit of 1.0 MiB "
        "(IMPORT_MAX_PARQUET_UNPACKED_BYTES). The file was not read further"
    ]
    assert job.rows_total == 16
    assert nothing_written(project)


def test_it_stops_at_a_parquet_row_whose_nested_values_unpack_past_the_line_limit(
    project, settings
):  # type: ignore[no-untyped-def]
    settings.IMPORT_MAX_LINE_BYTES = 100 * 1024
    content = parquet_repeating(rows=64, prompt_bytes=0, response_bytes=64 * 1024)

    job = run(project, "repeat.parquet", content)

    assert job.errors == [
        "row 1: this row unpacks to 128.0 KiB; a row may hold at most 100.0 KiB "
        "(IMPORT_MAX_LINE_BYTES). The file was not read further"
    ]
    assert nothing_written(project)
