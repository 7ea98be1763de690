"""The `gold` column of TRL pair rows: the pair becomes a gold item whose answer is `chosen`."""

from __future__ import annotations

import pytest

from apps.annotation.models import Comparison, Label
from apps.imports.models import ImportJob
from tests.imports.files import csv_bytes, jsonl_bytes
from tests.imports.test_services import nothing_written, run

pytestmark = pytest.mark.django_db


def gold_items(project) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    """(prompt, answer's text, other text) of each gold comparison."""
    rows = []
    for comparison in Comparison.objects.filter(project=project, is_gold=True).select_related(
        "prompt", "response_a", "response_b"
    ):
        a, b = comparison.response_a.text, comparison.response_b.text
        rows.append(
            (comparison.prompt.input, *((a, b) if comparison.gold_choice == "a" else (b, a)))
        )
    return sorted(rows)


def test_gold_rows_become_gold_items_without_a_label(project):  # type: ignore[no-untyped-def]
    rows = [
        {"prompt": "Capital of Peru?", "chosen": "Lima.", "rejected": "Cusco.", "gold": True},
        {"prompt": "Say hi.", "chosen": "Hi!", "rejected": "No.", "gold": True},
        {"prompt": "2+2?", "chosen": "4", "rejected": "5", "gold": False},
        {"prompt": "3+3?", "chosen": "6", "rejected": "7"},
    ]

    job = run(project, "pairs.jsonl", jsonl_bytes(rows))

    assert job.status == ImportJob.Status.SUCCEEDED, job.errors
    assert (job.comparisons_created, job.labels_created) == (4, 2)
    assert gold_items(project) == [
        ("Capital of Peru?", "Lima.", "Cusco."),
        ("Say hi.", "Hi!", "No."),
    ]
    assert sorted(Label.objects.values_list("comparison__prompt__input", flat=True)) == [
        "2+2?", "3+3?",
    ]  # fmt: skip
    assert "gold" not in Label.objects.first().metadata


def test_gold_in_csv_reads_true_false_and_empty_cells(project):  # type: ignore[no-untyped-def]
    rows = [
        {"prompt": "A?", "chosen": "yes", "rejected": "no", "gold": "true"},
        {"prompt": "B?", "chosen": "up", "rejected": "down", "gold": "false"},
        {"prompt": "C?", "chosen": "left", "rejected": "right", "gold": ""},
    ]

    job = run(project, "pairs.csv", csv_bytes(rows))

    assert job.status == ImportJob.Status.SUCCEEDED, job.errors
    assert gold_items(project) == [("A?", "yes", "no")]
    assert job.labels_created == 2


def test_a_bad_gold_value_rejects_the_whole_file(project):  # type: ignore[no-untyped-def]
    rows = [
        {"prompt": "A?", "chosen": "yes", "rejected": "no", "gold": True},
        {"prompt": "B?", "chosen": "up", "rejected": "down", "gold": "maybe"},
    ]

    job = run(project, "pairs.jsonl", jsonl_bytes(rows))

    assert job.status == ImportJob.Status.FAILED
    assert job.errors == [
        "row 2, field gold: Input should be a valid boolean, unable to interpret input"
    ]
    assert nothing_written(project)


def test_contradicting_gold_rows_reject_the_whole_file(project):  # type: ignore[no-untyped-def]
    rows = [
        {"prompt": "Z?", "chosen": "ok", "rejected": "meh"},
        {"prompt": "A?", "chosen": "yes", "rejected": "no", "gold": True},
        {"prompt": "A?", "chosen": "no", "rejected": "yes", "gold": True},
    ]

    job = run(project, "pairs.jsonl", jsonl_bytes(rows))

    assert job.status == ImportJob.Status.FAILED
    assert job.errors == [
        "row 3, field gold: row 2 has this gold pair with chosen and rejected swapped"
    ]
    assert nothing_written(project)


def test_a_later_import_makes_an_existing_pair_gold(project):  # type: ignore[no-untyped-def]
    # First judged the other way round, so the gold answer is the response imported second.
    run(project, "first.jsonl", jsonl_bytes([{"prompt": "A?", "chosen": "no", "rejected": "yes"}]))

    gold_row = {"prompt": "A?", "chosen": "yes", "rejected": "no", "gold": True}
    job = run(project, "second.jsonl", jsonl_bytes([gold_row]))

    assert job.status == ImportJob.Status.SUCCEEDED, job.errors
    assert job.comparisons_created == 0
    assert gold_items(project) == [("A?", "yes", "no")]
    assert Comparison.objects.get().gold_choice == "b"  # "no" was written first: it is a
