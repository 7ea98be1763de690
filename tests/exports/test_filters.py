"""Filters and splits, exactly: each one's boundary, and the split rule by prompt and seed."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from apps.annotation.models import Comparison
from tests.exports.factories import label, pair
from tests.exports.test_services import rows, run
from tests.factories import ResponseFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def _in_test(content_hash: str, seed: int, share: float) -> bool:
    """The documented rule: sha256 of "<seed>:<content hash>", first 8 bytes / 2**64."""
    digest = hashlib.sha256(f"{seed}:{content_hash}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def test_the_split_is_exactly_the_documented_rule_and_keeps_prompts_whole(project):
    annotator = UserFactory()
    hashes = {}
    for n in range(30):
        comparison, a, _ = pair(project, f"prompt {n}", f"a{n}", f"b{n}")
        hashes[f"prompt {n}"] = comparison.prompt.content_hash
        label(comparison, annotator, "a")
        second = Comparison.objects.create(
            project=project,
            prompt=comparison.prompt,
            response_a=a,
            response_b=ResponseFactory(prompt=comparison.prompt, text=f"c{n}"),
        )
        label(second, annotator, "b")

    export = run(project, "labels-raw", test_share=0.25, seed=11)

    expected_test = {text for text, h in hashes.items() if _in_test(h, 11, 0.25)}
    test_rows, train_rows = rows(export, "test"), rows(export, "train")
    assert {row["prompt"] for row in test_rows} == expected_test
    assert {row["prompt"] for row in train_rows} == set(hashes) - expected_test
    assert export.row_counts == {"train": len(train_rows), "test": len(test_rows)}
    assert len(test_rows) == 2 * len(expected_test)
    assert 0 < len(expected_test) < 30  # the seed gives a real split
    assert "hash of its content and seed 11 falls below 0.25" in export.card


def test_gold_accuracy_at_the_threshold_is_kept_below_it_is_left_out(project):
    half, third = UserFactory(), UserFactory()
    for n, (half_choice, third_choice) in enumerate([("a", "a"), ("b", "b"), ("a", "b")]):
        gold, _, _ = pair(project, f"gold {n}", "right", "wrong")
        gold.is_gold, gold.gold_choice = True, "a"
        gold.save()
        if n < 2:
            label(gold, half, half_choice)  # 1 of 2 right: exactly 0.5
        label(gold, third, third_choice)  # 1 of 3 right
    item, _, _ = pair(project, "item", "x", "y")
    label(item, half, "b")
    label(item, third, "a")

    export = run(project, min_gold_accuracy=0.5)

    # Only `half` votes on the item: b wins alone.
    assert [row for row in rows(export) if row["prompt"] == "item"] == [
        {"prompt": "item", "chosen": "y", "rejected": "x"}
    ]
    assert "Annotators: 1; imported labels: 0." in export.card
    assert "labels of annotators with gold accuracy ≥ 0.5" in export.card


def test_the_date_range_includes_both_whole_days(project):
    from datetime import UTC, datetime

    annotator = UserFactory()
    times = {
        "before": datetime(2026, 3, 31, 23, 59, 59, tzinfo=UTC),
        "first moment": datetime(2026, 4, 1, 0, 0, 0, tzinfo=UTC),
        "last moment": datetime(2026, 4, 2, 23, 59, 59, 999999, tzinfo=UTC),
        "after": datetime(2026, 4, 3, 0, 0, 0, tzinfo=UTC),
    }
    for text, when in times.items():
        comparison, _, _ = pair(project, text, f"{text} a", f"{text} b")
        label(comparison, annotator, "a", created_at=when)

    export = run(project, "labels-raw", labelled_from="2026-04-01", labelled_to="2026-04-02")

    assert [(row["prompt"], row["created_at"]) for row in rows(export)] == [
        ("first moment", "2026-04-01T00:00:00+00:00"),
        ("last moment", "2026-04-02T23:59:59.999999+00:00"),
    ]
