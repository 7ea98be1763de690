"""Each format round-trips: written as JSONL, Parquet and CSV, read back exactly."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from django.core.files.storage import default_storage

from apps.exports.models import Export
from apps.exports.options import ExportOptions
from apps.exports.services import export_create, export_run
from apps.rewards.models import Score
from apps.rubrics.models import Rubric, RubricVersion
from tests.exports.factories import label, pair, read_rows
from tests.factories import UserFactory
from tests.rewards.factories import TEXT_SPEC, version_of

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def run(project, export_format: str, file_format: str, **options: Any) -> Export:  # type: ignore[no-untyped-def]
    export = export_create(
        project=project,
        user=None,
        export_format=export_format,
        file_format=file_format,
        options=ExportOptions(**options),
        enqueue=False,
    )
    finished = export_run(export_id=export.pk)
    assert finished is not None
    assert finished.status == Export.Status.SUCCEEDED, finished.error
    return finished


def read_back(export: Export) -> list[dict[str, Any]]:
    path = default_storage.path(export.files[0]["path"])
    if export.file_format != "csv":
        return read_rows(path)
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def as_csv(row: dict[str, Any]) -> dict[str, str]:
    """What the CSV writer promises: nested values as JSON, None empty, the rest as text."""

    def cell(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, list | dict):
            return json.dumps(value, ensure_ascii=False)
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    return {key: cell(value) for key, value in row.items()}


@pytest.fixture
def rated(project):  # type: ignore[no-untyped-def]
    """Two labelled pairs under a rubric, one of them chat, with ratings and spans."""
    rubric = Rubric.objects.create(project=project, name="Quality")
    version = RubricVersion.objects.create(
        rubric=rubric,
        number=1,
        criteria=[
            {"name": "helpful", "description": "Helps."},
            {"name": "honest", "description": "True."},
        ],
    )
    ann1, ann2 = UserFactory(), UserFactory()
    first, a, b = pair(
        project,
        [{"role": "user", "content": 'Ünïcode, "quotes", commas?'}],
        'a, "quoted"\nanswer',
        "b answer",
    )
    label(
        first,
        ann1,
        "a",
        strength=1,
        rubric_version=version,
        ratings={str(a.pk): {"helpful": 4, "honest": 5}, str(b.pk): {"helpful": 2}},
        spans=[{"response": b.pk, "start": 0, "end": 1, "category": "wrong", "note": ""}],
    )
    label(first, ann2, "a", rubric_version=version, ratings={str(a.pk): {"helpful": 5}})
    second, c, d = pair(project, "Plain", "c", "d")
    label(second, ann1, "b", rubric_version=version)
    return {"a": a, "b": b, "c": c, "d": d, "version": version}


@pytest.mark.parametrize("file_format", ["jsonl", "parquet", "csv"])
def test_trl_preference_round_trips(project, rated, file_format):
    export = run(project, "trl-preference", file_format, margin=True)

    expected = [
        {
            "prompt": [{"role": "user", "content": 'Ünïcode, "quotes", commas?'}],
            "chosen": [{"role": "assistant", "content": 'a, "quoted"\nanswer'}],
            "rejected": [{"role": "assistant", "content": "b answer"}],
            "margin": 0.5,
        },
        {
            "prompt": [{"role": "user", "content": "Plain"}],
            "chosen": [{"role": "assistant", "content": "d"}],
            "rejected": [{"role": "assistant", "content": "c"}],
            "margin": 0.0,
        },
    ]
    if file_format == "csv":
        expected = [as_csv(row) for row in expected]
    assert read_back(export) == expected


@pytest.mark.parametrize("file_format", ["jsonl", "parquet", "csv"])
def test_labels_raw_round_trips(project, rated, file_format):
    reference = run(project, "labels-raw", "jsonl")
    export = run(project, "labels-raw", file_format)

    expected = read_rows(default_storage.path(reference.files[0]["path"]))
    assert len(expected) == 3
    assert expected[0]["ratings"] == [
        {"response_id": rated["a"].pk, "criterion": "helpful", "value": 4},
        {"response_id": rated["a"].pk, "criterion": "honest", "value": 5},
        {"response_id": rated["b"].pk, "criterion": "helpful", "value": 2},
    ]
    if file_format == "csv":
        expected = [as_csv(row) for row in expected]
    assert read_back(export) == expected
    assert f"Quality v1 (id {rated['version'].pk})" in export.card


@pytest.mark.parametrize("file_format", ["jsonl", "parquet", "csv"])
def test_ratings_round_trip_with_means_and_counts(project, rated, file_format):
    export = run(project, "ratings", file_format)

    chat = [{"role": "user", "content": 'Ünïcode, "quotes", commas?'}]
    expected = [
        {
            "prompt_id": rated["a"].prompt_id,
            "prompt": chat,
            "response_id": rated["a"].pk,
            "response": 'a, "quoted"\nanswer',
            "model": "demo-model-7b",
            "labels": 2,
            "helpful": 4.5,
            "helpful_count": 2,
            "honest": 5.0,
            "honest_count": 1,
        },
        {
            "prompt_id": rated["b"].prompt_id,
            "prompt": chat,
            "response_id": rated["b"].pk,
            "response": "b answer",
            "model": "demo-model-7b",
            "labels": 1,
            "helpful": 2.0,
            "helpful_count": 1,
            "honest": None,
            "honest_count": 0,
        },
    ]
    if file_format == "csv":
        expected = [as_csv(row) for row in expected]
    assert read_back(export) == expected
    assert export.items_total == 4  # every response was looked at; two were rated


@pytest.mark.parametrize("file_format", ["jsonl", "parquet", "csv"])
def test_rewards_round_trip_with_components(project, rated, file_format):
    version = version_of(project, TEXT_SPEC)
    Score.objects.create(
        version=version, response=rated["c"], total=1.5, components={"cites": 1.0, "words": -0.5}
    )
    Score.objects.create(
        version=version, response=rated["d"], total=None, components={"cites": 0.0, "words": None}
    )

    export = run(
        project, "rewards", file_format, reward_version_id=version.pk, prompt_form="conversational"
    )

    plain = [{"role": "user", "content": "Plain"}]
    expected = [
        {
            "prompt_id": rated["c"].prompt_id,
            "prompt": plain,
            "response_id": rated["c"].pk,
            "response": "c",
            "model": "demo-model-7b",
            "total": 1.5,
            "components": {"cites": 1.0, "words": -0.5},
        },
        {
            "prompt_id": rated["d"].prompt_id,
            "prompt": plain,
            "response_id": rated["d"].pk,
            "response": "d",
            "model": "demo-model-7b",
            "total": None,
            "components": {"cites": 0.0, "words": None},
        },
    ]
    if file_format == "csv":
        expected = [as_csv(row) for row in expected]
    assert read_back(export) == expected
    assert f"Reward function version: {version}." in export.card


@pytest.mark.parametrize("options", [{}, {"pseudonymise_annotators": False, "test_share": 0.5}])
def test_labels_raw_jsonl_lines_are_the_rows_encoded_whole(project, rated, options):
    """The JSONL path encodes each comparison's shared columns once and splices them into
    every label's line: the bytes must be exactly orjson's encoding of the whole row (the
    Parquet path builds the rows as dicts)."""
    lines = run(project, "labels-raw", "jsonl", **options)
    rows = run(project, "labels-raw", "parquet", **options)

    for jsonl_file, parquet_file in zip(lines.files, rows.files, strict=True):
        written = Path(default_storage.path(jsonl_file["path"])).read_bytes()
        rows_back = read_rows(default_storage.path(parquet_file["path"]))
        assert written == b"".join(
            orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE) for row in rows_back
        )
    assert sum(lines.row_counts.values()) == 3
    assert lines.row_counts == rows.row_counts


def test_labels_raw_created_at_is_isoformat_whatever_the_fraction(project, annotator):
    """Postgres drops a fraction's trailing zeros (`.12`); the export writes isoformat()."""
    times = [
        datetime(2026, 4, 1, 8, 30, 0, 120000, tzinfo=UTC),
        datetime(2026, 4, 1, 8, 30, 1, tzinfo=UTC),
        datetime(2026, 4, 1, 8, 30, 2, 1, tzinfo=UTC),
    ]
    for number, when in enumerate(times):
        comparison, _, _ = pair(project, f"q{number}", "a", "b")
        label(comparison, annotator, "a", created_at=when)

    for file_format in ("jsonl", "parquet"):
        export = run(project, "labels-raw", file_format)
        assert [row["created_at"] for row in read_back(export)] == [
            "2026-04-01T08:30:00.120000+00:00",
            "2026-04-01T08:30:01+00:00",
            "2026-04-01T08:30:02.000001+00:00",
        ]
