"""Exports follow the project's consensus (issue 5): reviewer decisions, then the rule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from apps.accounts.services import project_update
from apps.annotation.review import consensus_compute, review_decide
from apps.exports.models import Export
from tests.exports.factories import label, pair, ranking
from tests.exports.test_services import rows, run
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def _use_rule(project, rule: str) -> None:  # type: ignore[no-untyped-def]
    project_update(
        project=project,
        annotation_settings={**project.annotation_settings, "consensus": rule},
    )
    project.refresh_from_db()


def test_a_reviewer_decision_overrides_the_majority(project):
    one, two, three = UserFactory(), UserFactory(), UserFactory()
    reviewed, a1, b1 = pair(project, "reviewed", "majority pick", "reviewer pick")
    for user, choice in ((one, "a"), (two, "a"), (three, "b")):
        label(reviewed, user, choice, strength=0)
    tied, _, _ = pair(project, "tied", "left", "right")
    label(tied, one, "a")
    label(tied, two, "b")
    plain, _, _ = pair(project, "plain", "yes", "no")
    label(plain, one, "a", strength=1)
    review_decide(comparison=reviewed, reviewer=one, choice="a", note="first thought")
    review_decide(comparison=reviewed, reviewer=two, choice="b", strength=3)
    review_decide(comparison=tied, reviewer=one, choice="tie")

    export = run(project, margin=True, soft_label=True, ties="write")

    assert export.status == Export.Status.SUCCEEDED, export.error
    # The latest decision counts; its own strength (3 of 0..3) gives the margin.
    assert rows(export) == [
        {
            "prompt": "reviewed",
            "chosen": "reviewer pick",
            "rejected": "majority pick",
            "margin": 1.0,
            "p_chosen": 1.0,
        },
        {"prompt": "tied", "chosen": "left", "rejected": "right", "margin": 0.0, "p_chosen": 0.5},
        {"prompt": "plain", "chosen": "yes", "rejected": "no", "margin": 0.5, "p_chosen": 1.0},
    ]
    assert "Consensus (the project's setting `majority`): a reviewer's decision" in export.card
    assert "Items decided by a reviewer: 2." in export.card


def test_reviewed_items_pass_the_minimum_agreement(project):
    users = [UserFactory() for _ in range(3)]
    reviewed, _, _ = pair(project, "reviewed", "r-a", "r-b")
    unreviewed, _, _ = pair(project, "unreviewed", "u-a", "u-b")
    for comparison in (reviewed, unreviewed):
        for user, choice in zip(users, "aab", strict=True):
            label(comparison, user, choice)
    review_decide(comparison=reviewed, reviewer=users[0], choice="b")

    export = run(project, min_agreement=0.9)
    raw = run(project, "labels-raw", min_agreement=0.9)

    assert rows(export) == [{"prompt": "reviewed", "chosen": "r-b", "rejected": "r-a"}]
    assert "left out, agreement below the minimum: 1" in export.card
    assert {row["prompt"] for row in rows(raw)} == {"reviewed"}
    assert "left out, comparison agreement below the minimum: 1" in raw.card


def test_dawid_skene_setting_chooses_what_the_reliable_annotators_say(project):
    """Two careful annotators and three who always answer b: the majority is always b,
    Dawid–Skene finds that the three carry no information and follows the careful two."""
    _use_rule(project, "dawid_skene")
    careful = [UserFactory(), UserFactory()]
    always_b = [UserFactory(), UserFactory(), UserFactory()]
    truth = "aabbabab"
    for n, answer in enumerate(truth):
        comparison, _, _ = pair(project, f"Q{n}", f"a{n}", f"b{n}")
        for user in careful:
            label(comparison, user, answer)
        for user in always_b:
            label(comparison, user, "b")

    export = run(project, soft_label=True)

    assert export.status == Export.Status.SUCCEEDED, export.error
    assert [row["chosen"] for row in rows(export)] == [f"{t}{n}" for n, t in enumerate(truth)]
    # The same answers as issue 5's consensus of the project, item by item.
    by_prompt = {c.prompt.input: c.pk for c in project.comparisons.select_related("prompt")}
    decided = consensus_compute(project=project)
    assert [decided[by_prompt[f"Q{n}"]].choice for n in range(len(truth))] == list(truth)
    # p_chosen is the posterior of issue 5's consensus, for the chosen side.
    assert [row["p_chosen"] for row in rows(export)] == [
        pytest.approx(r.p_a if r.choice == "a" else 1 - r.p_a, abs=1e-12)
        for r in (decided[by_prompt[f"Q{n}"]] for n in range(len(truth)))
    ]
    assert min(row["p_chosen"] for row in rows(export)) > 0.99
    assert "Consensus (the project's setting `dawid_skene`)" in export.card

    _use_rule(project, "majority")
    majority = run(project)
    assert [row["chosen"] for row in rows(majority)] == [f"b{n}" for n in range(len(truth))]


def test_dawid_skene_covers_ranking_pairs(project):
    _use_rule(project, "dawid_skene")
    comparison, (r1, r2, r3) = ranking(project, "rank these", ["first", "second", "third"])
    label(comparison, UserFactory(), ranking=[r3.pk, r1.pk, r2.pk])
    label(comparison, UserFactory(), ranking=[r3.pk, r1.pk, r2.pk])

    export = run(project)

    assert rows(export) == [
        {"prompt": "rank these", "chosen": "third", "rejected": "first"},
        {"prompt": "rank these", "chosen": "third", "rejected": "second"},
        {"prompt": "rank these", "chosen": "first", "rejected": "second"},
    ]
