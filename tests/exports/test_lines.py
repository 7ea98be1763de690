"""JSON Lines from Postgres' COPY (apps.exports.lines) are the bytes of the Python road.

Each test exports one project both ways through `export_write` (the Python road with
`lines.ENABLED` off) and compares every file written, data card included: the same rows,
in the same order, with the same keys, types and texts, and the same figures.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from apps.accounts.services import project_update
from apps.annotation.review import review_decide
from apps.exports import lines
from apps.exports.options import ExportOptions
from apps.exports.outbox import DirectoryOutbox
from apps.exports.services import export_splits, export_write
from apps.rubrics.models import Rubric, RubricVersion
from tests.exports.factories import label, pair, ranking
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)

# Texts that JSON, COPY and the splicing of lines must all carry through unchanged.
AWKWARD = [
    'quotes " and \\" and a backslash \\ at the end \\',
    "C:\\new\\table \\N \\. \\\\ \\x1e",
    "lines\nand\r\nreturns\rand\ttabs",
    "control \x01 \x02 \x1c \x1d \x1e \x1f \x7f and \u2028 \u2029",
    "unicode: é ß 中文 — and emoji 😀🎉",
    '{"a": [1, 2], "json": "looking"}',
    "",
]


def _write(project, export_format: str, tmp_path: Path, *, fast: bool, **options: Any):  # type: ignore[no-untyped-def]
    """The files of one export (name → bytes) and how its progress advanced."""
    lines.ENABLED = fast
    try:
        parsed = ExportOptions(**options)
        names = {split: f"{export_format}-{split}.jsonl" for split in export_splits(parsed)}
        names["card"] = "README.md"
        folder = tmp_path / ("fast" if fast else "python") / export_format
        steps: list[int] = []
        result = export_write(
            project=project,
            export_format=export_format,
            file_format="jsonl",
            options=parsed,
            outbox=DirectoryOutbox(folder, names),
            advance=steps.append,
            now=NOW,
        )
    finally:
        lines.ENABLED = True
    files = {path.name: path.read_bytes() for path in sorted(folder.iterdir())}
    for path in folder.iterdir():
        path.unlink()
    return files, result, steps


def _same_both_ways(project, export_format: str, tmp_path: Path, **options: Any):  # type: ignore[no-untyped-def]
    fast, fast_result, fast_steps = _write(project, export_format, tmp_path, fast=True, **options)
    slow, slow_result, slow_steps = _write(project, export_format, tmp_path, fast=False, **options)
    assert fast.keys() == slow.keys()
    for name in fast:
        assert fast[name] == slow[name], name
    assert fast_result.row_counts == slow_result.row_counts
    assert [f["sha256"] for f in fast_result.files] == [f["sha256"] for f in slow_result.files]
    assert fast_result.items == slow_result.items == sum(fast_steps) == sum(slow_steps)
    return {name: _rows(data) for name, data in fast.items() if name.endswith(".jsonl")}


def _rows(data: bytes) -> list[dict[str, Any]]:
    # Lines end with "\n" only (splitlines() would also cut at U+2028 and the like).
    return [json.loads(line) for line in data.decode().split("\n")[:-1]]


def _labelled(project, *, chat: bool = True):  # type: ignore[no-untyped-def]
    """A project with most of what labels can hold, in awkward texts."""
    rubric = Rubric.objects.create(project=project, name="Quality")
    version = RubricVersion.objects.create(
        rubric=rubric,
        number=1,
        criteria=[{"name": "helpful", "description": "."}, {"name": "Ünïcode", "description": "."}],
    )
    ann = [UserFactory(username=name) for name in ("alice", 'bob "the" \\ builder', "chloé")]
    created = [
        datetime(2026, 4, 1, 8, 30, 0, tzinfo=UTC),
        datetime(2026, 4, 1, 8, 30, 1, 120000, tzinfo=UTC),
        datetime(2026, 4, 2, 8, 30, 2, 1, tzinfo=UTC),
        datetime(2026, 4, 3, 23, 59, 59, 999999, tzinfo=UTC),
    ]
    for n, text in enumerate(AWKWARD):
        comparison, a, b = pair(
            project,
            f"{n}: {text}",
            f"a {n} {text}",
            f"b {n} {AWKWARD[(n + 2) % len(AWKWARD)]}",
            group="g1" if n % 2 else "g2",
            metadata={"lang": "en" if n % 3 else "fr", "n": n},
        )
        label(
            comparison,
            ann[0],
            "a",
            strength=n % 5 if n % 5 < 4 else None,
            ratings={str(b.pk): {"helpful": 4, "Ünïcode": 1}, str(a.pk): {"helpful": 2}},
            spans=[
                {"response": a.pk, "start": 0, "end": 2, "category": "wrong", "note": text},
                {"response": b.pk, "start": 1, "end": 3},
            ],
            rationale=text,
            shown_order=["ab", "ba", ""][n % 3],
            seconds_spent=[12.0, 12.5, None, 1e-06, 1234.125, 1.5e15, 0.001][n],
            rubric_version=version,
            created_at=created[n % 4],
        )
        old = label(comparison, ann[1], "b", strength=1, created_at=created[(n + 1) % 4])
        label(comparison, ann[1], ["b", "a", "tie"][n % 3], supersedes=old, strength=2)
        label(comparison, ann[2], ["a", "both_bad", "b", "tie"][n % 4], seconds_spent=7.0)
        if n % 2:
            label(comparison, None, "b")  # imported: no annotator
    even, _, _ = pair(project, "split evenly", "left", "right")
    label(even, ann[0], "a")
    label(even, ann[1], "b")
    ties, _, _ = pair(project, "a tie", "same", "same too")
    label(ties, ann[0], "tie", strength=3)
    label(ties, ann[2], "tie")
    bad, _, _ = pair(project, "both bad", "wrong", "worse")
    label(bad, ann[2], "both_bad")
    gold, _, _ = pair(project, "gold", "right", "wrong")
    gold.is_gold, gold.gold_choice = True, "a"
    gold.save()
    label(gold, ann[0], "a")
    label(gold, ann[1], "b")
    reviewed, _, _ = pair(project, "reviewed", "majority", "reviewer")
    label(reviewed, ann[0], "a", strength=0)
    label(reviewed, ann[2], "a")
    review_decide(comparison=reviewed, reviewer=ann[0], choice="b", strength=2)
    pair(project, "never labelled", "x", "y")
    ranked, responses = ranking(project, "rank these \\ please", ["one\n", "two \\", "three 😀"])
    label(ranked, ann[0], ranking=[responses[2].pk, responses[0].pk, responses[1].pk])
    label(ranked, ann[1], ranking=[responses[0].pk, responses[2].pk, responses[1].pk], strength=1)
    label(ranked, None, ranking=[responses[2].pk, responses[1].pk, responses[0].pk])
    if chat:
        chat_prompt = [
            {"role": "system", "content": 'Be brief \\ and "exact"\n'},
            {"role": "user", "content": "Hi 😀?"},
        ]
        talk, _, _ = pair(project, chat_prompt, "Hello.", "Go away.\t!")
        label(talk, ann[0], "a", strength=3)
        label(talk, ann[2], "a")
    return project


LABELS_RAW_OPTIONS = [
    {},
    {"pseudonymise_annotators": False},
    {"test_share": 0.5, "seed": 3},
    {"min_agreement": 0.6},
    {"min_gold_accuracy": 0.75},
    {"labelled_from": "2026-04-02", "labelled_to": "2026-04-02"},
    {"prompt_group": "g1", "metadata": {"lang": "en"}},
]


@pytest.mark.parametrize("options", LABELS_RAW_OPTIONS)
def test_labels_raw_is_the_same_both_ways(project, tmp_path, options):
    _labelled(project)

    files = _same_both_ways(project, "labels-raw", tmp_path, **options)

    assert any(files.values())


TRL_OPTIONS = [
    {},
    {"margin": True, "soft_label": True},
    {"ties": "write", "both_bad": "write", "margin": True},
    {"test_share": 0.5, "seed": 3},
    {"min_agreement": 0.7, "soft_label": True},
    {"min_gold_accuracy": 0.75},
    {"labelled_from": "2026-04-02", "prompt_group": "g2"},
]


@pytest.mark.parametrize("options", TRL_OPTIONS)
def test_trl_preference_is_the_same_both_ways(project, tmp_path, options):
    _labelled(project)

    files = _same_both_ways(project, "trl-preference", tmp_path, **options)

    assert any(files.values())


@pytest.mark.parametrize("export_format", ["labels-raw", "trl-preference"])
def test_the_standard_form_is_the_same_both_ways(project, tmp_path, export_format):
    _labelled(project, chat=False)

    files = _same_both_ways(project, export_format, tmp_path, prompt_form="standard", margin=True)

    assert all(isinstance(row["prompt"], str) for rows in files.values() for row in rows)


@pytest.mark.parametrize("export_format", ["labels-raw", "trl-preference"])
def test_dawid_skene_is_the_same_both_ways(project, tmp_path, export_format):
    _labelled(project)
    project_update(
        project=project,
        annotation_settings={**project.annotation_settings, "consensus": "dawid_skene"},
    )
    project.refresh_from_db()

    _same_both_ways(project, export_format, tmp_path, min_agreement=0.5, soft_label=True)


def test_texts_come_out_as_they_went_in(project, tmp_path):
    _labelled(project)

    rows = _same_both_ways(project, "labels-raw", tmp_path)["labels-raw-train.jsonl"]

    # The project has a chat prompt: every prompt is a list of messages.
    assert all(isinstance(row["prompt"], list) for row in rows)
    prompts = [row["prompt"][-1]["content"] for row in rows]
    assert {f"{n}: {text}" for n, text in enumerate(AWKWARD)} <= set(prompts)
    first = next(row for row in rows if row["prompt"][-1]["content"] == f"1: {AWKWARD[1]}")
    assert first["responses"] == [f"a 1 {AWKWARD[1]}", f"b 1 {AWKWARD[3]}"]
    assert first["rationale"] == AWKWARD[1]
    assert first["spans"][0]["note"] == AWKWARD[1]
    assert first["seconds_spent"] == 12.5
    assert [row["seconds_spent"] for row in rows[:1]] == [12.0]
    assert isinstance(rows[0]["seconds_spent"], float)
    assert rows[0]["ratings"][0]["criterion"] == "helpful"
    assert {row["created_at"][19:] for row in rows} >= {"+00:00", ".120000+00:00"}


def test_chunks_and_groups_of_any_size_give_the_same_bytes(project, tmp_path, monkeypatch):
    _labelled(project)
    whole, _, _ = _write(project, "labels-raw", tmp_path, fast=True, test_share=0.5)
    monkeypatch.setattr(lines, "CHUNK", 3)
    monkeypatch.setattr(lines, "GROUP", 2)

    chunked, result, steps = _write(project, "labels-raw", tmp_path, fast=True, test_share=0.5)

    assert chunked == whole
    assert len(steps) > 3  # progress between chunks
    assert sum(steps) == result.items


def test_only_postgres_takes_the_fast_road(project, monkeypatch):
    from django.db import connection

    assert lines.applies("labels-raw")
    assert lines.applies("trl-preference")
    assert not lines.applies("ratings")
    assert not lines.applies("rewards")
    monkeypatch.setattr(connection, "vendor", "sqlite")
    assert not lines.applies("labels-raw")


def test_superseded_labels_left_out_by_lookup_as_by_list(project, tmp_path, monkeypatch):
    _labelled(project)
    listed, _, _ = _write(project, "labels-raw", tmp_path, fast=True)
    monkeypatch.setattr(lines, "SUPERSEDED_LISTED", 0)  # too many to list: looked up

    looked_up, _, _ = _write(project, "labels-raw", tmp_path, fast=True)

    assert looked_up == listed


# --- reading ahead on a second connection (a worker's export: outside any transaction) ---


def _export_copy_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "export-copy"]


def _connections(*, settled_at: int | None = None) -> int:
    """Connections to the test database; with settled_at, waits (up to 5 s) for the count
    to come down to it, since a server process ends a moment after its client closes."""
    from django.db import connection

    deadline = time.monotonic() + 5
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            )
            count = cursor.fetchone()[0]
        if settled_at is None or count <= settled_at or time.monotonic() > deadline:
            return count
        time.sleep(0.05)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("export_format", ["labels-raw", "trl-preference"])
def test_reading_ahead_gives_the_bytes_of_the_python_road(
    project, tmp_path, monkeypatch, export_format
):
    _labelled(project)
    readers: list[str] = []
    copied = lines._copied

    def recorded(sql, chunks):  # type: ignore[no-untyped-def]
        readers.append(threading.current_thread().name)
        return copied(sql, chunks)

    monkeypatch.setattr(lines, "_copied", recorded)
    monkeypatch.setattr(lines, "CHUNK", 3)
    monkeypatch.setattr(lines, "GROUP", 2)
    monkeypatch.setattr(lines, "AHEAD", 1)  # the reader waits on the writer at every row

    _same_both_ways(project, export_format, tmp_path, test_share=0.5, seed=3, margin=True)

    assert readers == ["export-copy"]
    assert not _export_copy_threads()


@pytest.mark.django_db(transaction=True)
def test_a_failed_export_stops_the_reader_and_closes_its_connection(project, tmp_path, monkeypatch):
    _labelled(project)
    monkeypatch.setattr(lines, "CHUNK", 2)
    monkeypatch.setattr(lines, "GROUP", 1)
    monkeypatch.setattr(lines, "AHEAD", 1)
    before = _connections()
    options = ExportOptions()

    def advance(count: int) -> None:
        raise RuntimeError("progress could not be written")

    with pytest.raises(RuntimeError, match="progress could not be written"):
        export_write(
            project=project,
            export_format="labels-raw",
            file_format="jsonl",
            options=options,
            outbox=DirectoryOutbox(tmp_path, {"train": "t.jsonl", "card": "README.md"}),
            advance=advance,
            now=NOW,
        )

    assert not _export_copy_threads()
    assert _connections(settled_at=before) == before
    assert list(tmp_path.iterdir()) == []  # nothing half-written left


@pytest.mark.django_db(transaction=True)
def test_a_failure_on_the_readers_connection_fails_the_export(project, tmp_path, monkeypatch):
    _labelled(project)
    monkeypatch.setattr(lines, "WORK_MEM", "a lot")  # Postgres refuses it in the reader

    with pytest.raises(Exception, match="work_mem"):
        export_write(
            project=project,
            export_format="trl-preference",
            file_format="jsonl",
            options=ExportOptions(),
            outbox=DirectoryOutbox(tmp_path, {"train": "t.jsonl", "card": "README.md"}),
            advance=lambda count: None,
            now=NOW,
        )

    assert not _export_copy_threads()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "text",
    [
        "2026-04-01 08:30:00+00",
        "2026-04-01 08:30:01.12+00",
        "2026-04-01 08:30:01.5+00",
        "2026-04-01 08:30:01.12345+00",
        "2026-04-02 08:30:02.000001+00",
        "2026-04-03 23:59:59.999999+00",
        "0999-01-01 00:00:00.25+00",
    ],
)
def test_postgres_times_are_written_as_isoformat_writes_them(text):
    assert lines._timestamp(text.encode()) == datetime.fromisoformat(text).isoformat().encode()
