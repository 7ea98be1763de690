from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.annotation.models import Comparison, Label
from apps.core.errors import ApplicationError
from apps.imports.models import ImportJob
from apps.imports.selectors import import_progress
from apps.imports.services import import_create, import_failed_files_delete, import_run
from apps.prompts.models import Prompt, Response
from tests.imports.files import (
    PAIR_ROWS,
    PROMPT_ROWS,
    csv_bytes,
    jsonl_bytes,
    parquet_bytes,
    upload,
)

pytestmark = pytest.mark.django_db

HH_PROMPT = "\n\nHuman: Hi\n\nAssistant: Hello.\n\nHuman: Tell me a joke\n\nAssistant:"
# As it is stored: a transcript is a conversation.
HH_MESSAGES = [
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello."},
    {"role": "user", "content": "Tell me a joke"},
]


def run(project, name: str, content: bytes) -> ImportJob:  # type: ignore[no-untyped-def]
    job = import_create(
        project=project, created_by=None, upload=upload(name, content), enqueue=False
    )
    finished = import_run(job_id=job.pk)
    assert finished is not None
    return finished


def nothing_written(project) -> bool:  # type: ignore[no-untyped-def]
    return (
        not Prompt.objects.filter(project=project).exists()
        and not Response.objects.filter(prompt__project=project).exists()
        and not Comparison.objects.filter(project=project).exists()
        and not Label.objects.filter(comparison__project=project).exists()
    )


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("prompts.jsonl", jsonl_bytes(PROMPT_ROWS)),
        ("prompts.csv", csv_bytes(PROMPT_ROWS)),
    ],
)
def test_it_imports_prompts_with_responses(project, name, content):  # type: ignore[no-untyped-def]
    job = run(project, name, content)

    assert job.status == ImportJob.Status.SUCCEEDED
    assert (job.rows_total, job.prompts_created, job.responses_created) == (2, 2, 5)
    # All pairs of each prompt's responses (3 + 1), to be labelled.
    assert (job.comparisons_created, job.labels_created, job.error_count) == (4, 0, 0)
    first, second = Prompt.objects.filter(project=project).order_by("id")
    assert first.input == "What is the capital of Australia?"
    assert first.references == ["Canberra"]
    assert first.metadata == {"kind": "factual"}
    assert first.group == "capitals"
    assert [(r.text, r.model) for r in first.responses.order_by("id")] == [
        ("Canberra.", "qwen2.5-7b-instruct"),
        ("Sydney is the capital.", "llama-3.1-8b-instruct"),
    ]
    assert second.input == PROMPT_ROWS[1]["prompt"]
    assert second.is_chat
    assert [r.text for r in second.responses.order_by("id")] == ["11", "12", "13"]


def test_it_imports_prompts_from_parquet_with_plain_and_chat_prompts(project):  # type: ignore[no-untyped-def]
    plain = [dict(PROMPT_ROWS[0])]
    chat = [dict(PROMPT_ROWS[1])]

    run(project, "plain.parquet", parquet_bytes(plain))
    job = run(project, "chat.parquet", parquet_bytes(chat))

    assert job.status == ImportJob.Status.SUCCEEDED
    assert (job.prompts_created, job.responses_created) == (1, 3)
    assert sorted(map(str, Prompt.objects.values_list("input", flat=True))) == sorted(
        [str(PROMPT_ROWS[0]["prompt"]), str(PROMPT_ROWS[1]["prompt"])]
    )
    assert Response.objects.filter(prompt__project=project).count() == 5


def _assert_pairs_imported(project, job: ImportJob, rows: list[dict]) -> None:  # type: ignore[no-untyped-def]
    assert job.status == ImportJob.Status.SUCCEEDED, job.errors
    assert (job.prompts_created, job.responses_created) == (len(rows), 2 * len(rows))
    assert (job.comparisons_created, job.labels_created) == (len(rows), len(rows))
    for label in Label.objects.filter(comparison__project=project).select_related(
        "comparison__response_a", "comparison__response_b"
    ):
        chosen = label.comparison.response_a if label.choice == "a" else label.comparison.response_b
        row = rows[label.metadata["row"] - 1]
        expected = row["chosen"] if isinstance(row["chosen"], str) else row["chosen"][-1]["content"]
        assert expected.endswith(chosen.text)
        assert label.source == Label.Source.IMPORT
        assert label.annotator is None
        assert label.metadata["import_id"] == job.pk
        assert label.comparison.labels_wanted == 0


@pytest.mark.parametrize("encode", [jsonl_bytes, csv_bytes], ids=["jsonl", "csv"])
def test_it_imports_trl_pairs_in_standard_and_conversational_form(project, encode):  # type: ignore[no-untyped-def]
    ext = "jsonl" if encode is jsonl_bytes else "csv"
    job = run(project, f"pairs.{ext}", encode(PAIR_ROWS))

    _assert_pairs_imported(project, job, PAIR_ROWS)
    inputs = list(
        Prompt.objects.filter(project=project).order_by("id").values_list("input", flat=True)
    )
    assert inputs == [
        "Say hi.",
        [{"role": "user", "content": "2+2?"}],
        [{"role": "user", "content": "Capital of France?"}],
        HH_MESSAGES,
    ]
    hh = Prompt.objects.get(project=project, input=HH_MESSAGES)
    assert hh.metadata == {"transcript": HH_PROMPT}
    assert sorted(hh.responses.values_list("text", flat=True)) == [
        "What do you call a fish with no eyes? A fsh.",
        "Why did the scarecrow win an award? He was outstanding in his field.",
    ]


def test_it_imports_trl_pairs_from_parquet(project):  # type: ignore[no-untyped-def]
    standard = [PAIR_ROWS[0], {"prompt": "Say bye.", "chosen": "Bye!", "rejected": "Hi."}]
    conversational = [PAIR_ROWS[2]]

    first = run(project, "standard.parquet", parquet_bytes(standard))
    second = run(project, "chat.parquet", parquet_bytes(conversational))

    assert (first.comparisons_created, first.labels_created) == (2, 2)
    assert (second.comparisons_created, second.labels_created) == (1, 1)
    label = Label.objects.get(
        comparison__prompt__input=[{"role": "user", "content": "Capital of France?"}]
    )
    winner = label.comparison.response_a if label.choice == "a" else label.comparison.response_b
    assert winner.text == "Paris."


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("prompts.jsonl", jsonl_bytes(PROMPT_ROWS + PAIR_ROWS)),
        ("prompts.csv", csv_bytes(PROMPT_ROWS + PAIR_ROWS)),
    ],
)
def test_it_adds_nothing_when_the_same_file_is_imported_twice(project, name, content):  # type: ignore[no-untyped-def]
    first = run(project, name, content)
    counts = (
        Prompt.objects.count(),
        Response.objects.count(),
        Comparison.objects.count(),
        Label.objects.count(),
    )

    second = run(project, name, content)

    assert first.status == second.status == ImportJob.Status.SUCCEEDED
    assert counts == (6, 13, 8, 4)
    assert (second.prompts_created, second.responses_created) == (0, 0)
    assert (second.comparisons_created, second.labels_created) == (0, 0)
    assert counts == (
        Prompt.objects.count(),
        Response.objects.count(),
        Comparison.objects.count(),
        Label.objects.count(),
    )


def test_it_keeps_projects_apart_when_they_import_the_same_file(project):  # type: ignore[no-untyped-def]
    from tests.factories import ProjectFactory

    other = ProjectFactory()
    run(project, "pairs.jsonl", jsonl_bytes(PAIR_ROWS))
    job = run(other, "pairs.jsonl", jsonl_bytes(PAIR_ROWS))

    assert (job.prompts_created, job.labels_created) == (4, 4)
    assert Label.objects.filter(comparison__project=other).count() == 4


def test_it_merges_one_response_per_row_csv_into_prompts(project):  # type: ignore[no-untyped-def]
    content = (
        b"prompt,response,model,metadata.kind\n"
        b"Why is the sky blue?,Rayleigh scattering.,m1,science\n"
        b"Why is the sky blue?,Because it reflects the sea.,m2,science\n"
        b"Name a colour.,Red.,m1,\n"
    )

    job = run(project, "long.csv", content)

    assert (job.rows_total, job.prompts_created, job.responses_created) == (3, 2, 3)
    sky = Prompt.objects.get(project=project, input="Why is the sky blue?")
    assert sky.metadata == {"kind": "science"}
    assert list(sky.responses.order_by("id").values_list("model", flat=True)) == ["m1", "m2"]
    assert Prompt.objects.get(project=project, input="Name a colour.").metadata == {}


def test_it_keeps_unknown_response_keys_as_metadata(project):  # type: ignore[no-untyped-def]
    row = {
        "prompt": "Hi",
        "responses": [
            {"text": "Hello", "model": "m", "score": 0.5, "sampling_params": {"temperature": 0.7}}
        ],
    }

    run(project, "extra.jsonl", jsonl_bytes([row]))

    response = Response.objects.get(prompt__project=project)
    assert response.metadata == {"score": 0.5}
    assert response.sampling_params == {"temperature": 0.7}


def test_it_rejects_a_file_with_one_bad_row_and_writes_nothing(project):  # type: ignore[no-untyped-def]
    rows = [*PROMPT_ROWS, {"prompt": "Fine", "responses": [{"model": "m"}]}, *PAIR_ROWS]

    job = run(project, "mixed.jsonl", jsonl_bytes(rows))

    assert job.status == ImportJob.Status.FAILED
    assert job.errors == ["row 3, field responses.0.text: Field required"]
    assert job.error_count == 1
    assert (job.prompts_created, job.responses_created, job.labels_created) == (0, 0, 0)
    assert nothing_written(project)


def test_it_names_the_row_and_field_of_wrong_types_and_missing_fields(project):  # type: ignore[no-untyped-def]
    rows = [
        {"prompt": 5, "responses": [{"text": "4"}]},
        {"prompt": "x", "responses": []},
        {"prompt": "x", "responses": [{"text": 3}]},
        {"responses": [{"text": "a"}]},
        {"prompt": "x"},
        {"prompt": [{"role": "robot", "content": "beep"}], "responses": [{"text": "a"}]},
        {"prompt": "x", "responses": [{"text": "same"}, {"text": "same"}]},
        {"chosen": "Good"},
        {"chosen": "abc", "rejected": "abd"},
        {"prompt": "x", "chosen": "same", "rejected": "same"},
        ["not", "an", "object"],
    ]

    job = run(project, "bad.jsonl", jsonl_bytes(rows))

    assert job.status == ImportJob.Status.FAILED
    assert job.errors == [
        "row 1, field prompt: must be a non-empty string or a list of {role, content} messages",
        "row 2, field responses: List should have at least 1 item after validation, not 0",
        "row 3, field responses.0.text: Input should be a valid string",
        "row 4, field prompt: Field required",
        "row 5: expected `prompt` with `responses` or a `response`, or `chosen` and `rejected` "
        "(a TRL pair), or a published pair (SHP, HelpSteer2, HelpSteer3); a TRL prompt-only "
        "row has nothing to judge",
        "row 6, field prompt: message 0 has role 'robot'; expected one of system, developer, "
        "user, assistant, tool",
        "row 7, field responses.1.text: repeats an earlier response",
        "row 8, field rejected: Field required",
        "row 9, field chosen: without a `prompt`, chosen and rejected must share a transcript "
        "that ends at an assistant turn (e.g. '\\n\\nHuman: …\\n\\nAssistant:')",
        "row 10, field rejected: is the same response as chosen",
        "row 11: expected an object, got list",
    ]
    assert nothing_written(project)


def test_it_reports_broken_json_lines(project):  # type: ignore[no-untyped-def]
    content = jsonl_bytes(PROMPT_ROWS) + b'{"prompt": "x", "responses": [\n'

    job = run(project, "broken.jsonl", content)

    assert job.status == ImportJob.Status.FAILED
    assert job.errors == ["row 3: not valid JSON (Expecting value)"]
    assert nothing_written(project)


def test_it_reports_a_json_array_instead_of_json_lines(project):  # type: ignore[no-untyped-def]
    job = run(project, "array.json", json.dumps(PROMPT_ROWS).encode())

    assert job.errors == ["this is a JSON array; expected JSON Lines (one object per line)"]
    assert nothing_written(project)


def test_it_reports_an_unreadable_parquet_file(project):  # type: ignore[no-untyped-def]
    job = run(project, "broken.parquet", b"PAR1 this is not parquet")

    assert job.status == ImportJob.Status.FAILED
    assert job.errors[0].startswith("not a readable Parquet file (")


def test_it_reports_bad_json_cells_in_csv(project):  # type: ignore[no-untyped-def]
    content = b'prompt,responses\nHi,"[{""text"": ""Hello""}"\n'

    job = run(project, "cells.csv", content)

    assert job.errors == ["row 1, field responses: not valid JSON (Expecting ',' delimiter)"]


def test_it_reports_at_most_50_errors_but_counts_them_all(project):  # type: ignore[no-untyped-def]
    rows = [{"prompt": "x", "responses": [{"model": "m"}]} for _ in range(120)]

    job = run(project, "many.jsonl", jsonl_bytes(rows))

    assert job.error_count == 120
    assert len(job.errors) == 50
    assert job.errors[49] == "row 50, field responses.0.text: Field required"


def test_it_fails_a_file_with_only_blank_lines(project):  # type: ignore[no-untyped-def]
    job = run(project, "blank.jsonl", b"\n\n  \n")

    assert job.status == ImportJob.Status.FAILED
    assert job.errors == ["the file has no rows"]


def test_it_refuses_an_empty_file_and_creates_no_job(project):  # type: ignore[no-untyped-def]
    with pytest.raises(ApplicationError, match=r"^empty\.jsonl is empty\.$"):
        import_create(project=project, created_by=None, upload=upload("empty.jsonl", b""))

    assert not ImportJob.objects.exists()


def test_it_refuses_an_unknown_file_type(project):  # type: ignore[no-untyped-def]
    with pytest.raises(ApplicationError, match=r"Unsupported file type \(\.txt\)"):
        import_create(project=project, created_by=None, upload=upload("notes.txt", b"hello"))

    assert not ImportJob.objects.exists()


def test_it_refuses_a_file_over_the_upload_limit(project, settings):  # type: ignore[no-untyped-def]
    settings.IMPORT_MAX_UPLOAD_BYTES = 100

    with pytest.raises(ApplicationError) as refused:
        import_create(project=project, created_by=None, upload=upload("big.jsonl", b"x" * 101))

    assert refused.value.message == (
        "big.jsonl is 101\xa0bytes; the upload limit is 100\xa0bytes (IMPORT_MAX_UPLOAD_BYTES)."
    )
    assert not ImportJob.objects.exists()


def test_it_queues_the_job_for_a_worker_only_after_commit(
    project, django_capture_on_commit_callbacks
):  # type: ignore[no-untyped-def]
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = import_create(
            project=project, created_by=None, upload=upload("a.jsonl", jsonl_bytes(PROMPT_ROWS))
        )

    assert len(callbacks) == 1
    assert job.status == ImportJob.Status.QUEUED
    assert import_progress(job=job).phase == "queued"


def test_it_runs_a_job_only_once(project):  # type: ignore[no-untyped-def]
    job = run(project, "a.jsonl", jsonl_bytes(PROMPT_ROWS))
    finished_at = job.finished_at

    again = import_run(job_id=job.pk)

    assert again is not None
    assert again.finished_at == finished_at
    assert Prompt.objects.filter(project=project).count() == 2


def test_it_reports_full_progress_when_done(project):  # type: ignore[no-untyped-def]
    job = run(project, "a.jsonl", jsonl_bytes(PROMPT_ROWS))

    progress = import_progress(job=job)

    assert (progress.rows_processed, progress.fraction, progress.phase) == (2, 1.0, "succeeded")


def test_it_deletes_the_files_of_failed_imports_after_the_retention_period(project, settings):  # type: ignore[no-untyped-def]
    settings.IMPORT_FAILED_RETENTION_HOURS = 24
    bad = jsonl_bytes([{"prompt": "x", "responses": [{"model": "m"}]}])
    old_failure = run(project, "old.jsonl", bad)
    recent_failure = run(project, "recent.jsonl", bad)
    old_success = run(project, "fine.jsonl", jsonl_bytes(PROMPT_ROWS))
    now = timezone.now()
    ImportJob.objects.filter(pk__in=[old_failure.pk, old_success.pk]).update(
        finished_at=now - timedelta(hours=25)
    )
    ImportJob.objects.filter(pk=recent_failure.pk).update(finished_at=now - timedelta(hours=23))
    old_name = old_failure.file.name
    storage = old_failure.file.storage
    assert storage.exists(old_name)

    deleted = import_failed_files_delete()

    assert deleted == 1
    assert not storage.exists(old_name)
    old_failure.refresh_from_db()
    assert old_failure.file.name == ""
    assert (old_failure.status, old_failure.error_count) == (ImportJob.Status.FAILED, 1)
    assert old_failure.errors == ["row 1, field responses.0.text: Field required"]
    assert storage.exists(recent_failure.file.name)
    assert storage.exists(old_success.file.name)
    assert import_failed_files_delete() == 0
