"""A label's columns are declared once (apps.annotation.columns.LABEL_COLUMNS).

The test adds a column to the declaration, one read from an existing Label field, and
finds it in every output: the submit's answer (built by hand), the label list (the
serializer), the schema, and labels-raw on both export roads (COPY and Python) and in
Parquet's columns.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import pytest
from rest_framework import serializers

from apps.annotation import columns
from apps.annotation.api import LabelOutputSerializer, label_output
from apps.annotation.columns import LabelColumn
from apps.annotation.models import Comparison, Label
from apps.exports import lines
from apps.exports.options import ExportOptions
from apps.exports.outbox import DirectoryOutbox
from apps.exports.services import export_write
from tests.api import token_client
from tests.exports.factories import label, pair, read_rows
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
KEY = LabelColumn(
    "idempotency_key",
    "idempotency_key",
    partial(serializers.CharField, allow_null=True),
    export="idempotency_key",
    sql="coalesce(to_json(l.idempotency_key)::text, 'null')",
)


@pytest.fixture
def key_column(monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(columns, "LABEL_COLUMNS", (*columns.LABEL_COLUMNS, KEY))


def _export(project, tmp_path: Path, *, fast: bool, file_format: str = "jsonl") -> Path:  # type: ignore[no-untyped-def]
    lines.ENABLED = fast
    try:
        folder = tmp_path / ("fast" if fast else "python") / file_format
        name = f"labels-raw.{file_format}"
        export_write(
            project=project,
            export_format="labels-raw",
            file_format=file_format,
            options=ExportOptions(test_share=0),
            outbox=DirectoryOutbox(folder, {"train": name, "card": "README.md"}),
            advance=lambda count: None,
            now=NOW,
        )
    finally:
        lines.ENABLED = True
    return folder / name


def test_a_declared_column_is_in_every_output(project, admin_user, annotator, key_column, tmp_path):  # type: ignore[no-untyped-def]
    comparison = pair(project, "Which is kinder?", "Yes.", "No.")[0]
    Comparison.objects.filter(pk=comparison.pk).update(labels_wanted=1)
    client = token_client(annotator)
    leased = client.post(f"/api/v1/projects/{project.pk}/comparisons/next/", {}, format="json")
    assert leased.json()["comparison"] == comparison.pk
    imported = pair(project, "Which is shorter?", "A", "B")[0]
    label(imported, None, "b", idempotency_key=None)

    submitted = client.post(
        f"/api/v1/comparisons/{comparison.pk}/labels/",
        {"idempotency_key": "key-of-the-label", "choice": "a"},
        format="json",
    )
    listed = token_client(admin_user).get(f"/api/v1/projects/{project.pk}/labels/")
    schema = token_client(admin_user).get("/api/schema/", {"format": "json"})

    assert submitted.status_code == 201, submitted.content
    assert list(submitted.json())[-1] == "idempotency_key"
    assert submitted.json()["idempotency_key"] == "key-of-the-label"
    assert [row["idempotency_key"] for row in listed.json()["results"]] == [
        None,
        "key-of-the-label",
    ]
    mine = Label.objects.get(comparison=comparison)
    assert label_output(mine) == LabelOutputSerializer(mine).data
    label_schema = json.loads(schema.content)["components"]["schemas"]["Label"]["properties"]
    assert label_schema["idempotency_key"] == {"type": "string", "nullable": True}
    fast = _export(project, tmp_path, fast=True)
    python = _export(project, tmp_path, fast=False)
    assert fast.read_bytes() == python.read_bytes()
    rows = read_rows(fast)
    assert [(row["label_id"], row["idempotency_key"]) for row in rows] == [
        (mine.pk, "key-of-the-label"),
        (Label.objects.get(comparison=imported).pk, None),
    ]
    assert list(rows[0])[-2:] == ["created_at", "idempotency_key"]
    parquet = read_rows(_export(project, tmp_path, fast=False, file_format="parquet"))
    assert [row["idempotency_key"] for row in parquet] == ["key-of-the-label", None]


def test_without_the_added_column_no_output_has_it(project, annotator, tmp_path):  # type: ignore[no-untyped-def]
    comparison = pair(project, "Which is kinder?", "Yes.", "No.")[0]
    label(comparison, UserFactory(), "a", idempotency_key="key-of-the-label")

    mine = Label.objects.get()
    assert "idempotency_key" not in label_output(mine)
    assert "idempotency_key" not in read_rows(_export(project, tmp_path, fast=True))[0]
