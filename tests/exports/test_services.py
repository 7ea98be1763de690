from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from apps.accounts.models import Project
from apps.core.errors import ApplicationError
from apps.exports.formats import annotator_pseudonym
from apps.exports.models import Export
from apps.exports.options import ExportOptions
from apps.exports.services import export_create, export_run
from tests.exports.factories import label, pair, prompt, ranking, read_rows
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def run(
    project: Project,
    export_format: str = "trl-preference",
    file_format: str = "jsonl",
    **options: Any,
) -> Export:
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
    return finished


def rows(export: Export, split: str = "train") -> list[dict[str, Any]]:
    from django.core.files.storage import default_storage

    entry = export.file_for(split)
    assert entry is not None, export.error
    return read_rows(default_storage.path(entry["path"]))


def test_it_writes_the_majority_vote_of_current_labels(project):
    ann1, ann2, ann3 = UserFactory(), UserFactory(), UserFactory()
    majority_b, a1, b1 = pair(project, "Q1", "one", "two")
    label(majority_b, ann1, "b")
    label(majority_b, ann2, "b")
    label(majority_b, ann3, "a")
    even, _, _ = pair(project, "Q2", "three", "four")
    label(even, ann1, "a")
    label(even, ann2, "b")
    superseded, _, _ = pair(project, "Q3", "five", "six")
    old = label(superseded, ann1, "b")
    label(superseded, ann1, "a", supersedes=old)
    imported, _, _ = pair(project, "Q4", "seven", "eight")
    label(imported, None, "b")

    export = run(project)

    assert export.status == Export.Status.SUCCEEDED, export.error
    assert rows(export) == [
        {"prompt": "Q1", "chosen": "two", "rejected": "one"},
        {"prompt": "Q3", "chosen": "five", "rejected": "six"},
        {"prompt": "Q4", "chosen": "eight", "rejected": "seven"},
    ]
    assert export.row_counts == {"train": 3}
    assert "left out, no consensus (votes split evenly): 1" in export.card
    assert "Raw agreement over the exported items: 0.333 (1 items" in export.card
    assert "Annotators: 3; imported labels: 1." in export.card


def test_it_excludes_or_writes_ties_and_both_bad_with_a_margin(project):
    annotator = UserFactory()
    tie, _, _ = pair(project, "tie?", "x", "y")
    label(tie, annotator, "tie")
    bad, _, _ = pair(project, "bad?", "p", "q")
    label(bad, annotator, "both_bad")
    strong, _, _ = pair(project, "strong?", "weak answer", "strong answer")
    label(strong, annotator, "b", strength=3)
    label(strong, UserFactory(), "b", strength=1)

    excluded = run(project, margin=True)
    written = run(project, margin=True, ties="write", both_bad="write")

    # The default scale has four steps: strengths 3 and 1 give (4/4 + 2/4) / 2.
    assert rows(excluded) == [
        {"prompt": "strong?", "chosen": "strong answer", "rejected": "weak answer", "margin": 0.75}
    ]
    assert rows(written) == [
        {"prompt": "tie?", "chosen": "x", "rejected": "y", "margin": 0.0},
        {"prompt": "bad?", "chosen": "p", "rejected": "q", "margin": 0.0},
        {"prompt": "strong?", "chosen": "strong answer", "rejected": "weak answer", "margin": 0.75},
    ]


def test_it_expands_rankings_into_pairs(project):
    comparison, (r1, r2, r3) = ranking(project, "rank these", ["first", "second", "third"])
    label(comparison, UserFactory(), ranking=[r3.pk, r1.pk, r2.pk])

    export = run(project)

    # In the ranking's own order: (1st, 2nd), (1st, 3rd), (2nd, 3rd).
    assert rows(export) == [
        {"prompt": "rank these", "chosen": "third", "rejected": "first"},
        {"prompt": "rank these", "chosen": "third", "rejected": "second"},
        {"prompt": "rank these", "chosen": "first", "rejected": "second"},
    ]


def test_it_keeps_chat_prompts_as_chat_in_conversational_form(project):
    chat = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi?"}]
    comparison, _, _ = pair(project, chat, "Hello.", "Go away.")
    label(comparison, UserFactory(), "a")
    plain, _, _ = pair(project, "Plain?", "yes", "no")
    label(plain, UserFactory(), "b")

    export = run(project, file_format="parquet")  # auto: the project has a chat prompt

    assert rows(export) == [
        {
            "prompt": chat,
            "chosen": [{"role": "assistant", "content": "Hello."}],
            "rejected": [{"role": "assistant", "content": "Go away."}],
        },
        {
            "prompt": [{"role": "user", "content": "Plain?"}],
            "chosen": [{"role": "assistant", "content": "no"}],
            "rejected": [{"role": "assistant", "content": "yes"}],
        },
    ]
    assert "prompt form: conversational" in export.card


def test_it_refuses_the_standard_form_for_a_project_with_chat_prompts(project):
    prompt(project, [{"role": "user", "content": "Hi"}])

    with pytest.raises(ApplicationError, match="prompt_form: this project has chat prompts"):
        export_create(
            project=project,
            user=None,
            export_format="trl-preference",
            file_format="jsonl",
            options=ExportOptions(prompt_form="standard"),
        )

    assert not Export.objects.exists()


def test_it_filters_by_label_date(project):
    annotator = UserFactory()
    for day, text in [(1, "early"), (15, "middle"), (28, "late")]:
        comparison, _, _ = pair(project, text, f"{text} a", f"{text} b")
        label(comparison, annotator, "a", created_at=datetime(2026, 2, day, 12, tzinfo=UTC))

    export = run(project, labelled_from="2026-02-15", labelled_to="2026-02-15")

    assert [row["prompt"] for row in rows(export)] == ["middle"]
    assert "labels made on or after 2026-02-15; labels made on or before 2026-02-15" in export.card


def test_it_filters_by_agreement(project):
    users = [UserFactory() for _ in range(4)]
    unanimous, _, _ = pair(project, "unanimous", "a1", "b1")
    for user in users:
        label(unanimous, user, "a")
    three_of_four, _, _ = pair(project, "three of four", "a2", "b2")
    for user, choice in zip(users, "aaab", strict=True):
        label(three_of_four, user, choice)

    strict = run(project, min_agreement=0.8)
    loose = run(project, min_agreement=0.75)

    assert [row["prompt"] for row in rows(strict)] == ["unanimous"]
    assert [row["prompt"] for row in rows(loose)] == ["unanimous", "three of four"]
    assert "left out, agreement below the minimum: 1" in strict.card


def test_it_leaves_out_annotators_below_a_gold_accuracy(project):
    good, bad, newcomer = UserFactory(), UserFactory(), UserFactory()
    gold, _, _ = pair(project, "gold", "right", "wrong")
    gold.is_gold, gold.gold_choice = True, "a"
    gold.save()
    label(gold, good, "a")
    label(gold, bad, "b")
    item, _, _ = pair(project, "item", "x", "y")
    label(item, bad, "a")
    label(item, newcomer, "b")

    export = run(project, "labels-raw", min_gold_accuracy=0.5)

    assert [(row["prompt"], row["annotator"]) for row in rows(export)] == [
        ("gold", annotator_pseudonym(good.pk)),
        ("item", annotator_pseudonym(newcomer.pk)),
    ]


def test_it_filters_by_prompt_group_and_metadata(project):
    annotator = UserFactory()
    for text, group, metadata in [
        ("in", "g1", {"lang": "en", "n": 1}),
        ("wrong group", "g2", {"lang": "en", "n": 1}),
        ("wrong metadata", "g1", {"lang": "fr", "n": 1}),
    ]:
        comparison, _, _ = pair(
            project, text, f"{text} a", f"{text} b", group=group, metadata=metadata
        )
        label(comparison, annotator, "a")

    export = run(project, prompt_group="g1", metadata={"lang": "en"})

    assert [row["prompt"] for row in rows(export)] == ["in"]


def test_it_splits_by_prompt_with_the_seed(project):
    users = [UserFactory() for _ in range(2)]
    for n in range(40):
        comparison, _, _ = pair(project, f"prompt {n}", f"a{n}", f"b{n}")
        label(comparison, users[0], "a")
        # a second pair for the same prompt
        from tests.factories import ResponseFactory

        extra = ResponseFactory(prompt=comparison.prompt, text=f"c{n}")
        from apps.annotation.models import Comparison

        second = Comparison.objects.create(
            project=project,
            prompt=comparison.prompt,
            response_a=comparison.response_a,
            response_b=extra,
        )
        label(second, users[1], "b")

    first = run(project, test_share=0.3, seed=7)
    again = run(project, test_share=0.3, seed=7)
    other = run(project, test_share=0.3, seed=8)

    train = {row["prompt"] for row in rows(first, "train")}
    test = {row["prompt"] for row in rows(first, "test")}
    assert train.isdisjoint(test)
    assert train | test == {f"prompt {n}" for n in range(40)}
    assert 0 < len(test) < 40
    assert first.row_counts == {"train": 2 * len(train), "test": 2 * len(test)}
    assert {row["prompt"] for row in rows(again, "test")} == test
    assert {row["prompt"] for row in rows(other, "test")} != test


def test_it_writes_one_raw_row_per_current_label(project):
    admin = UserFactory(username="alice")
    comparison, a, b = pair(project, "Q", "left text", "right text")
    old = label(comparison, admin, "a")
    current = label(
        comparison,
        admin,
        "b",
        supersedes=old,
        strength=2,
        ratings={str(b.pk): {"helpful": 4}, str(a.pk): {"helpful": 2, "honest": 5}},
        spans=[{"response": a.pk, "start": 0, "end": 4, "category": "wrong", "note": "no"}],
        rationale="B is right.",
        shown_order="ba",
        seconds_spent=12.5,
    )
    imported = label(comparison, None, "a")

    pseudonymous = run(project, "labels-raw")
    named = run(project, "labels-raw", pseudonymise_annotators=False)

    expected = {
        "label_id": current.pk,
        "comparison_id": comparison.pk,
        "kind": "pair",
        "is_gold": False,
        "prompt_id": comparison.prompt_id,
        "prompt": "Q",
        "response_ids": [a.pk, b.pk],
        "responses": ["left text", "right text"],
        "annotator": annotator_pseudonym(admin.pk),
        "source": "annotator",
        "choice": "b",
        "strength": 2,
        "strength_label": "clearly better",
        "ranking": [],
        "ratings": [
            {"response_id": a.pk, "criterion": "helpful", "value": 2},
            {"response_id": a.pk, "criterion": "honest", "value": 5},
            {"response_id": b.pk, "criterion": "helpful", "value": 4},
        ],
        "spans": [{"response": a.pk, "start": 0, "end": 4, "category": "wrong", "note": "no"}],
        "rationale": "B is right.",
        "shown_order": "ba",
        "seconds_spent": 12.5,
        "rubric_version_id": None,
        "created_at": current.created_at.isoformat(),
    }
    written = rows(pseudonymous)
    assert written[0] == expected
    assert [row["label_id"] for row in written] == [current.pk, imported.pk]
    assert (written[1]["annotator"], written[1]["source"]) == (None, "import")
    assert rows(named)[0]["annotator"] == "alice"
    assert "alice" not in Path(pseudonymous.files[0]["path"]).name


def test_only_an_admin_may_turn_pseudonymisation_off(project, designer, admin_user):
    options = ExportOptions(pseudonymise_annotators=False)
    with pytest.raises(ApplicationError, match="only a project admin"):
        export_create(
            project=project,
            user=designer,
            export_format="labels-raw",
            file_format="jsonl",
            options=options,
            enqueue=False,
        )

    export = export_create(
        project=project,
        user=admin_user,
        export_format="labels-raw",
        file_format="jsonl",
        options=options,
        enqueue=False,
    )

    assert list(Export.objects.values_list("pk", flat=True)) == [export.pk]


def test_it_queues_the_export_on_commit(project, designer, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        export = export_create(
            project=project,
            user=designer,
            export_format="trl-preference",
            file_format="jsonl",
            options=ExportOptions(),
        )

    assert len(callbacks) == 1
    assert export.status == Export.Status.QUEUED
    assert export.created_by == designer


def test_a_failed_export_leaves_no_file_and_a_failed_status(project, settings):
    annotator = UserFactory()
    good, _, _ = pair(project, "fine", "a", "b")
    label(good, annotator, "a")
    # A chat turn whose content is not text cannot go into a Parquet string column.
    broken, _, _ = pair(project, [{"role": "user", "content": 42}], "c", "d")
    label(broken, annotator, "a")

    export = run(project, file_format="parquet", test_share=0.5)

    assert export.status == Export.Status.FAILED
    assert "ArrowTypeError" in export.error or "ArrowInvalid" in export.error
    assert (export.files, export.row_counts, export.card) == ([], {}, "")
    exports_dir = Path(settings.MEDIA_ROOT) / "exports"
    assert [p for p in exports_dir.rglob("*") if p.is_file()] == []


def test_it_runs_a_claimed_export_only_once(project):
    export = run(project)

    assert export_run(export_id=export.pk) == export
    assert Export.objects.get(pk=export.pk).status == Export.Status.SUCCEEDED
