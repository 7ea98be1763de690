"""Rubric versioning: a draft is edited in place, a version in use is never changed."""

from __future__ import annotations

import pytest

from apps.core.errors import ApplicationError
from apps.rubrics.diff import rubric_diff
from apps.rubrics.models import Rubric, RubricVersion
from apps.rubrics.selectors import rubric_version_is_used
from apps.rubrics.services import rubric_create, rubric_save
from tests.rewards.factories import version_of
from tests.rubrics.factories import CATEGORIES, CRITERIA, label_under_rubric, rubric_of

pytestmark = pytest.mark.django_db

CLARITY = {"name": "clarity", "description": "Easy to follow.",
           "scale": {"min": 0, "max": 2, "labels": {"0": "muddled"}}, "weight": 0.5}  # fmt: skip


def _versions(rubric: Rubric) -> list[tuple[int, list, str]]:
    return [
        (v.number, [c["name"] for c in v.criteria], v.guidelines)
        for v in RubricVersion.objects.filter(rubric=rubric).order_by("number")
    ]


def test_saving_a_draft_edits_it_in_place(project, designer):  # type: ignore[no-untyped-def]
    rubric = rubric_of(project)
    draft = rubric.versions.get()

    version, created = rubric_save(
        rubric=rubric, criteria=[*CRITERIA, CLARITY], error_categories=CATEGORIES,
        guidelines="Be fair and brief.", message="Add clarity", created_by=designer,
    )  # fmt: skip

    assert (version.pk, created) == (draft.pk, False)
    assert _versions(rubric) == [(1, ["helpful", "concise", "clarity"], "Be fair and brief.")]
    assert version.message == "Add clarity"


def test_saving_a_version_that_labels_use_adds_a_new_one(project, designer, annotator):  # type: ignore[no-untyped-def]
    rubric = rubric_of(project)
    used = rubric.versions.get()
    label = label_under_rubric(project, rubric, annotator)
    frozen = (used.criteria, used.error_categories, used.guidelines, used.updated_at)

    version, created = rubric_save(
        rubric=rubric, criteria=[CLARITY], error_categories=[], guidelines="New.",
        message="Only clarity", created_by=designer,
    )  # fmt: skip

    assert created is True
    assert (version.number, version.message, version.created_by) == (2, "Only clarity", designer)
    used.refresh_from_db()
    assert (used.criteria, used.error_categories, used.guidelines, used.updated_at) == frozen
    label.refresh_from_db()
    assert label.rubric_version_id == used.pk
    assert _versions(rubric) == [(1, ["helpful", "concise"], "Be fair."), (2, ["clarity"], "New.")]


def test_a_version_a_reward_function_judges_by_is_in_use(project, designer):  # type: ignore[no-untyped-def]
    rubric = rubric_of(project)
    used = rubric.versions.get()
    assert rubric_version_is_used(version=used) is False
    version_of(project, {
        "components": [{"name": "judge", "type": "rubric_judge", "rubric_version": used.pk}],
        "combine": {"op": "weighted_sum", "weights": {"judge": 1.0}},
    })  # fmt: skip

    version, created = rubric_save(
        rubric=rubric, criteria=CRITERIA, error_categories=[], guidelines="Be fair."
    )

    assert rubric_version_is_used(version=used) is True
    assert (version.number, created) == (2, True)
    used.refresh_from_db()
    assert used.error_categories == CATEGORIES


def test_saving_unchanged_content_writes_nothing(project, annotator):  # type: ignore[no-untyped-def]
    rubric = rubric_of(project)
    label_under_rubric(project, rubric, annotator)
    before = rubric.versions.get().updated_at

    version, created = rubric_save(
        rubric=rubric, criteria=CRITERIA, error_categories=CATEGORIES, guidelines="Be fair."
    )

    assert (version.number, created, version.updated_at) == (1, False, before)
    assert RubricVersion.objects.count() == 1


def test_invalid_content_names_the_criterion_and_changes_nothing(project):  # type: ignore[no-untyped-def]
    rubric = rubric_of(project)
    bad = [CRITERIA[0], {"name": "tone", "scale": {"min": 1, "max": 3, "labels": {"7": "x"}}},
           {"name": "", "weight": -1}]  # fmt: skip

    with pytest.raises(ApplicationError) as caught:
        rubric_save(rubric=rubric, criteria=bad, error_categories=CATEGORIES, guidelines="x")

    assert caught.value.extra["rubric"] == [
        "criteria[1] (tone).scale: label key '7' is not a point of the scale",
        "criteria[2].name: String should have at least 1 character",
        "criteria[2].weight: Input should be greater than or equal to 0",
    ]
    assert _versions(rubric) == [(1, ["helpful", "concise"], "Be fair.")]


def test_a_rubric_name_is_unique_in_a_project(project):  # type: ignore[no-untyped-def]
    rubric_of(project)

    with pytest.raises(ApplicationError) as caught:
        rubric_create(project=project, name="Quality", criteria=[], error_categories=[])

    assert caught.value.message == "This project already has a rubric named 'Quality'."
    assert Rubric.objects.count() == 1


def test_the_diff_lists_criteria_added_removed_changed_and_the_guidelines_lines(project, annotator):  # type: ignore[no-untyped-def]
    rubric = rubric_of(project, guidelines="Read both.\nPick the better one.\n<b>Be fair</b>.")
    label_under_rubric(project, rubric, annotator)
    helpful = {**CRITERIA[0], "weight": 3.0, "scale": {"min": 1, "max": 5, "labels": {"5": "all"}}}
    new, _ = rubric_save(
        rubric=rubric, criteria=[helpful, CLARITY],
        error_categories=[{"name": "factual error", "description": "A wrong fact."},
                          {"name": "unsafe"}],
        guidelines="Read both.\nPick the better one.\n<b>Be kind</b>.",
    )  # fmt: skip

    diff = rubric_diff(old=rubric.versions.get(number=1), new=new)

    assert (diff.criteria_added, diff.criteria_removed) == (["clarity"], ["concise"])
    changed = diff.criteria_changed
    assert [(c.name, [(f.field, f.old, f.new) for f in c.changes]) for c in changed] == [
        ("helpful", [("scale", "1–5 (1 = useless, 5 = complete)", "1–5 (5 = all)"),
                     ("weight", "2", "3")]),
    ]  # fmt: skip
    assert (diff.categories_added, diff.categories_removed) == (["unsafe"], [])
    assert [(c.name, [(f.old, f.new) for f in c.changes]) for c in diff.categories_changed] == [
        ("factual error", [("Wrong fact.", "A wrong fact.")])
    ]
    assert [(line.kind, line.text) for line in diff.guidelines] == [
        ("gap", "@@ -1,3 +1,3 @@"),
        ("same", "Read both."),
        ("same", "Pick the better one."),
        ("removed", "<b>Be fair</b>."),
        ("added", "<b>Be kind</b>."),
    ]
    assert diff.is_empty is False
