from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.exports.writers import file_sha256
from tests.exports.factories import label, pair, read_rows
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_export_data_writes_the_file_and_its_card(project, tmp_path):
    for n in range(3):
        comparison, _, _ = pair(project, f"Q{n}", f"good {n}", f"bad {n}")
        label(comparison, UserFactory(), "b")
    out = tmp_path / "prefs.jsonl"
    stdout = StringIO()

    call_command(
        "export_data",
        project.slug,
        "--format",
        "trl-preference",
        "--out",
        str(out),
        "--options",
        json.dumps({"margin": True}),
        stdout=stdout,
    )

    assert read_rows(out) == [
        {"prompt": f"Q{n}", "chosen": f"bad {n}", "rejected": f"good {n}", "margin": 0.0}
        for n in range(3)
    ]
    card = (tmp_path / "prefs.README.md").read_text()
    assert f"| train | prefs.jsonl | 3 | `{file_sha256(out)}` |" in card
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prefs.README.md", "prefs.jsonl"]
    assert f"{out}: 3 rows" in stdout.getvalue()


def test_export_data_splits_into_two_files(project, tmp_path):
    for n in range(20):
        comparison, _, _ = pair(project, f"Q{n}", f"good {n}", f"bad {n}")
        label(comparison, UserFactory(), "a")

    call_command(
        "export_data",
        project.slug,
        "--format",
        "labels-raw",
        "--out",
        str(tmp_path / "raw.parquet"),
        "--test-share",
        "0.5",
        "--seed",
        "1",
        stdout=StringIO(),
    )

    train = read_rows(tmp_path / "raw-train.parquet")
    test = read_rows(tmp_path / "raw-test.parquet")
    assert len(train) + len(test) == 20
    assert {r["prompt_id"] for r in train}.isdisjoint({r["prompt_id"] for r in test})


def test_export_data_refuses_an_unknown_extension_and_writes_nothing(project, tmp_path):
    with pytest.raises(CommandError, match=r"Unsupported file type \(\.txt\)"):
        call_command(
            "export_data",
            project.slug,
            "--format",
            "trl-preference",
            "--out",
            str(tmp_path / "x.txt"),
        )

    assert list(tmp_path.iterdir()) == []
