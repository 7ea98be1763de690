from __future__ import annotations

import pytest

from apps.accounts.models import Project, Role, User
from apps.annotation.models import Comparison, Flag, Label, ReviewDecision
from apps.annotation.review import (
    agreement_compute,
    annotator_resume,
    comparison_mark_gold,
    consensus_compute,
    gold_accuracy,
    review_decide,
    review_queue,
)
from apps.annotation.schema import Judgment
from apps.annotation.services import assignment_next, comparison_flag, label_submit
from apps.core.errors import ApplicationError
from tests.annotation.test_services import configure, many_pairs
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def people(project: Project, n: int) -> list[User]:
    users = [UserFactory(username=f"{project.slug}-r{i}") for i in range(n)]
    for user in users:
        MembershipFactory(project=project, user=user, role=Role.ANNOTATOR)
    return users


def judge(project: Project, user: User, choices: dict[int, str], **extra: object) -> None:
    """Lease and answer until this person has judged every comparison in `choices`."""
    for _ in range(len(choices) + 5):
        assignment = assignment_next(project=project, user=user)
        if assignment is None:
            return
        choice = choices[assignment.comparison_id]
        fields = {"strength": 1} if choice in ("a", "b") else {}
        label_submit(
            assignment=assignment, user=user,
            judgment=Judgment.model_validate({
                "idempotency_key": f"{user.pk}-{assignment.comparison_id}-review",
                "choice": choice, **fields, **extra,
            }),
        )  # fmt: skip


@pytest.fixture
def items(project):  # type: ignore[no-untyped-def]
    configure(project, overlap=3)
    many_pairs(project, 4)
    from apps.annotation.services import comparisons_generate

    comparisons_generate(project=project)
    return list(Comparison.objects.order_by("pk").values_list("pk", flat=True))


def test_disagreeing_and_flagged_items_wait_for_review(project, items):  # type: ignore[no-untyped-def]
    one, two, three = people(project, 3)
    agree, split, flagged, untouched = items
    judge(project, one, {agree: "a", split: "a", flagged: "b", untouched: "b"})
    judge(project, two, {agree: "a", split: "b", flagged: "b", untouched: "b"})
    comparison_flag(comparison=Comparison.objects.get(pk=flagged), user=two, reason="Cut off")

    assert list(review_queue(project=project).values_list("pk", flat=True)) == [split, flagged]

    reviewer = UserFactory(username="reviewer")
    decision = review_decide(
        comparison=Comparison.objects.get(pk=split), reviewer=reviewer, choice="b", strength=2,
        note=" B is right ",
    )  # fmt: skip
    review_decide(comparison=Comparison.objects.get(pk=flagged), reviewer=reviewer, choice="b")

    assert (decision.choice, decision.strength, decision.note) == ("b", 2, "B is right")
    assert list(review_queue(project=project)) == []
    assert Flag.objects.get().resolved_at is not None
    # The reviewer's decision is kept apart: annotators' labels are untouched.
    assert Label.objects.filter(comparison_id=split).count() == 2


def test_consensus_is_the_review_then_the_majority(project, items):  # type: ignore[no-untyped-def]
    one, two, three = people(project, 3)
    majority, tied, reviewed, _ = items
    judge(project, one, {majority: "a", tied: "a", reviewed: "a", _: "tie"})
    judge(project, two, {majority: "a", tied: "b", reviewed: "a", _: "tie"})
    judge(project, three, {majority: "b", tied: "tie", reviewed: "a", _: "both_bad"})
    review_decide(comparison=Comparison.objects.get(pk=reviewed), reviewer=one, choice="b")

    result = consensus_compute(project=project)

    assert result[majority].choice == "a"
    assert result[majority].p_a == pytest.approx(2 / 3)
    assert (result[majority].rule, result[majority].labels) == ("majority", 3)
    assert result[tied].choice is None  # a, b and tie once each
    assert result[tied].p_a == pytest.approx(0.5)
    assert (result[reviewed].choice, result[reviewed].p_a, result[reviewed].rule) == (
        "b", 0.0, "review",
    )  # fmt: skip


def test_dawid_skene_consensus_follows_the_reliable_annotators(project, items):  # type: ignore[no-untyped-def]
    configure(project, consensus="dawid_skene")
    users = people(project, 3)
    for user in users:
        judge(project, user, dict.fromkeys(items, "a"))

    result = consensus_compute(project=project)

    assert {item: r.choice for item, r in result.items()} == dict.fromkeys(items, "a")
    assert all(r.rule == "dawid_skene" and r.p_a > 0.9 for r in result.values())


def test_low_gold_accuracy_pauses_the_queue_until_an_admin_resumes(project, admin_user):  # type: ignore[no-untyped-def]
    configure(project, gold_pause_below=0.75, gold_min_items=2, overlap=1)
    many_pairs(project, 6)
    from apps.annotation.services import comparisons_generate

    comparisons_generate(project=project)
    gold = list(Comparison.objects.order_by("pk")[:3])
    for comparison in gold:
        comparison_mark_gold(comparison=comparison, gold_choice="a")
    (annotator,) = people(project, 1)
    ids = list(Comparison.objects.order_by("pk").values_list("pk", flat=True))
    configure(project, gold_rate=1.0)
    # Right on the first gold item, wrong on the second: 1/2 = 50% < 75%.
    answers = {ids[0]: "a", ids[1]: "b", ids[2]: "b"}
    for _ in range(2):
        assignment = assignment_next(project=project, user=annotator)
        label_submit(assignment=assignment, user=annotator, judgment=Judgment(
            idempotency_key=f"gold-item-{assignment.comparison_id}",
            choice=answers[assignment.comparison_id],
        ))  # fmt: skip

    assert gold_accuracy(project=project, user=annotator).share == 0.5
    with pytest.raises(ApplicationError, match="paused: Gold accuracy 1/2 \\(50%\\)"):
        assignment_next(project=project, user=annotator)

    annotator_resume(project=project, user=annotator, by=admin_user)
    assert assignment_next(project=project, user=annotator) is not None
    with pytest.raises(ApplicationError, match="is not paused"):
        annotator_resume(project=project, user=annotator, by=admin_user)


def test_gold_answers_and_review_choices_are_checked(project, items):  # type: ignore[no-untyped-def]
    comparison = Comparison.objects.get(pk=items[0])
    reviewer = UserFactory(username="checker")

    with pytest.raises(ApplicationError, match="gold_choice: must be"):
        comparison_mark_gold(comparison=comparison, gold_choice="left")
    with pytest.raises(ApplicationError, match="strength: goes with a or b, from 0 to 3"):
        review_decide(comparison=comparison, reviewer=reviewer, choice="tie", strength=1)
    assert ReviewDecision.objects.count() == 0
    comparison_mark_gold(comparison=comparison, gold_choice=None)
    comparison.refresh_from_db()
    assert (comparison.is_gold, comparison.gold_choice) == (False, "")


def test_agreement_figures_count_the_items_they_use(project, items):  # type: ignore[no-untyped-def]
    one, two, three = people(project, 3)
    first, second, third, fourth = items
    judge(project, one, {first: "a", second: "a", third: "b", fourth: "tie"})
    judge(project, two, {first: "a", second: "b", third: "b", fourth: "tie"})
    judge(project, three, {first: "a", second: "a", third: "b", fourth: "a"})

    figures = agreement_compute(project=project)

    # Agreeing pairs: first 3/3, second 1/3, third 3/3, fourth 1/3 → 8/12.
    assert figures["choice"]["raw"]["value"] == pytest.approx(8 / 12)
    assert figures["choice"]["raw"]["n_items"] == 4
    assert (figures["labels"], figures["annotators"]) == (12, 3)
    low, high = figures["choice"]["raw"]["interval"]
    assert 0 <= low <= 8 / 12 <= high <= 1
    assert figures["choice"]["alpha"]["n_items"] == 4
    assert figures["strength"]["n_items"] == 4
    assert len(figures["kappa"]) == 3


def test_the_review_queue_holds_exactly_the_disagreeing_undecided_pairs(project, items):  # type: ignore[no-untyped-def]
    one, two, _ = people(project, 3)
    tie_vs_bad, single, split, agreeing = items
    Comparison.objects.filter(pk=single).update(labels_wanted=1)  # full after one label
    judge(project, one, {tie_vs_bad: "tie", single: "a", split: "a", agreeing: "b"})
    judge(project, two, {tie_vs_bad: "both_bad", split: "b", agreeing: "b"})
    # Undo: `two` changes the last judgment to disagree; only current labels count.
    from apps.annotation.services import label_undo

    reopened = label_undo(project=project, user=two)
    assert reopened.comparison_id == agreeing
    label_submit(assignment=reopened, user=two,
                 judgment=Judgment(idempotency_key="two-agreeing-again", choice="a"))  # fmt: skip

    # tie vs both-bad disagree; one label alone does not; the changed judgment now does.
    assert list(review_queue(project=project).values_list("pk", flat=True)) == [
        tie_vs_bad, split, agreeing,
    ]  # fmt: skip

    review_decide(comparison=Comparison.objects.get(pk=split), reviewer=one, choice="a")
    assert list(review_queue(project=project).values_list("pk", flat=True)) == [
        tie_vs_bad, agreeing,
    ]  # fmt: skip
