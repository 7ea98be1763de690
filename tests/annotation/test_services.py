from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.accounts.models import Project, Role, User
from apps.annotation.models import Assignment, Comparison, Flag, Label
from apps.annotation.schema import Judgment
from apps.annotation.selectors import queue_progress
from apps.annotation.services import (
    assignment_next,
    assignment_skip,
    comparison_create,
    comparison_flag,
    comparisons_generate,
    label_submit,
    label_undo,
)
from apps.core.errors import ApplicationError
from apps.prompts.models import Prompt, Response
from apps.rubrics.services import rubric_create
from tests.factories import MembershipFactory, PromptFactory, ResponseFactory, UserFactory

pytestmark = pytest.mark.django_db


def configure(project: Project, **settings: object) -> Project:
    project.annotation_settings = {**project.annotation_settings, **settings}
    project.save(update_fields=["annotation_settings"])
    return project


def responses(project: Project, n: int, **prompt_fields: object) -> list[Response]:
    prompt = PromptFactory(project=project, **prompt_fields)
    return [ResponseFactory(prompt=prompt) for _ in range(n)]


def many_pairs(project: Project, n: int) -> None:
    """`n` prompts with two responses each, written in bulk (factories are slow at this size)."""
    prompts = Prompt.objects.bulk_create(
        Prompt(project=project, input=f"Q{i}?", content_hash=f"{project.pk}-q{i}") for i in range(n)
    )
    Response.objects.bulk_create(
        Response(prompt=prompt, text=f"Answer {side}.", content_hash=f"{prompt.pk}-{side}")
        for prompt in prompts
        for side in "xy"
    )


def annotators(project: Project, n: int) -> list[User]:
    users = [UserFactory(username=f"{project.slug}-a{i}") for i in range(n)]
    for user in users:
        MembershipFactory(project=project, user=user, role=Role.ANNOTATOR)
    return users


def judgment(key: str, **fields: object) -> Judgment:
    return Judgment.model_validate({"idempotency_key": f"judgment-{key}", "choice": "a", **fields})


def pairs(project: Project) -> set[tuple[int, int]]:
    return set(
        Comparison.objects.filter(project=project, kind=Comparison.Kind.PAIR).values_list(
            "response_a_id", "response_b_id"
        )
    )


# --- making comparisons -----------------------------------------------------------------


def test_it_makes_all_pairs_of_each_prompts_responses(project):  # type: ignore[no-untyped-def]
    r = responses(project, 3)
    responses(project, 1)  # a lone response makes no pair

    created = comparisons_generate(project=project)

    assert created == 3
    assert pairs(project) == {(r[0].pk, r[1].pk), (r[0].pk, r[2].pk), (r[1].pk, r[2].pk)}
    assert set(Comparison.objects.values_list("labels_wanted", "labels_done")) == {(3, 0)}
    assert comparisons_generate(project=project) == 0


def test_it_makes_k_random_pairs_that_cover_every_response(project):  # type: ignore[no-untyped-def]
    configure(project, pairing="random_pairs", pairs_per_prompt=3)
    r = responses(project, 6)

    assert comparisons_generate(project=project) == 3

    made = pairs(project)
    assert {pk for pair in made for pk in pair} == {x.pk for x in r}
    Comparison.objects.all().delete()
    comparisons_generate(project=project)
    assert pairs(project) == made  # seeded per prompt: the same data gives the same pairs


def test_it_pairs_neighbours_after_sorting_by_a_score(project):  # type: ignore[no-untyped-def]
    configure(project, pairing="adjacent_by_score", score_key="quality")
    prompt = PromptFactory(project=project)
    low = ResponseFactory(prompt=prompt, metadata={"quality": 0.1})
    high = ResponseFactory(prompt=prompt, metadata={"quality": 0.9})
    mid = ResponseFactory(prompt=prompt, metadata={"quality": 0.5})
    unscored = ResponseFactory(prompt=prompt, metadata={})

    comparisons_generate(project=project)

    assert pairs(project) == {
        (low.pk, mid.pk),
        (high.pk, mid.pk) if high.pk < mid.pk else (mid.pk, high.pk),
        (high.pk, unscored.pk),
    }


def test_it_makes_one_ranking_item_per_prompt(project):  # type: ignore[no-untyped-def]
    configure(project, mode="ranking", ranking_size=3)
    r = responses(project, 4)

    assert comparisons_generate(project=project) == 1
    assert comparisons_generate(project=project) == 0

    item = Comparison.objects.get()
    assert item.kind == Comparison.Kind.RANKING
    assert (item.response_a_id, item.response_b_id) == (None, None)
    assert set(item.ranked_responses.values_list("pk", flat=True)) == {x.pk for x in r[:3]}


def test_it_adds_new_responses_to_an_unlabelled_ranking(project):  # type: ignore[no-untyped-def]
    configure(project, mode="ranking", ranking_size=4)
    r = responses(project, 2)
    comparisons_generate(project=project)
    extra = ResponseFactory(prompt=r[0].prompt)

    comparisons_generate(project=project)

    item = Comparison.objects.get()
    assert set(item.ranked_responses.values_list("pk", flat=True)) == {r[0].pk, r[1].pk, extra.pk}


def test_it_creates_a_comparison_by_hand_and_refuses_bad_ones(project):  # type: ignore[no-untyped-def]
    r = responses(project, 3)
    other = responses(project, 1)[0]
    foreign = ResponseFactory()

    gold = comparison_create(
        project=project, response_ids=[r[1].pk, r[0].pk], priority=5, is_gold=True,
        gold_choice="b",
    )  # fmt: skip

    assert (gold.response_a_id, gold.response_b_id, gold.priority) == (r[0].pk, r[1].pk, 5)
    assert (gold.is_gold, gold.gold_choice, gold.labels_wanted) == (True, "b", 3)
    errors = {
        f"responses: comparison {gold.pk} already pairs them.": [r[0].pk, r[1].pk],
        f"responses: no response {foreign.pk} in this project.": [r[0].pk, foreign.pk],
        "responses: all responses must answer the same prompt.": [r[0].pk, other.pk],
        "responses: a comparison needs at least two responses.": [r[0].pk],
        "responses: the same response is listed twice.": [r[0].pk, r[0].pk],
    }
    for message, ids in errors.items():
        with pytest.raises(ApplicationError) as caught:
            comparison_create(project=project, response_ids=ids)
        assert caught.value.message == message
    assert Comparison.objects.count() == 1


# --- the queue --------------------------------------------------------------------------


def test_it_hands_out_the_highest_priority_item_first(project):  # type: ignore[no-untyped-def]
    (user,) = annotators(project, 1)
    r = responses(project, 3)
    comparisons_generate(project=project)
    urgent = Comparison.objects.get(response_a=r[1], response_b=r[2])
    Comparison.objects.filter(pk=urgent.pk).update(priority=10)

    assignment = assignment_next(project=project, user=user)

    assert assignment is not None
    assert assignment.comparison_id == urgent.pk
    assert assignment.status == Assignment.Status.LEASED
    assert sorted(assignment.display_order) == [r[1].pk, r[2].pk]
    # Asked again, they get the lease they hold; excluding it, a second one to prefetch.
    assert assignment_next(project=project, user=user) == assignment
    second = assignment_next(project=project, user=user, exclude=[assignment.pk])
    assert second is not None
    assert second.comparison_id != urgent.pk


def _plan_nodes(plan: dict[str, object]) -> list[dict[str, object]]:
    children = plan.get("Plans", [])
    return [plan, *(node for child in children for node in _plan_nodes(child))]  # type: ignore[attr-defined]


def test_the_queue_does_not_read_comparisons_that_have_all_their_labels(project):  # type: ignore[no-untyped-def]
    """A long-running project's finished items stay out of every later `next`: the queue
    walks an index of the comparisons that still want labels (`comparison_open`)."""
    (user,) = annotators(project, 1)
    many_pairs(project, 300)
    comparisons_generate(project=project)
    first = Comparison.objects.filter(project=project).order_by("pk")
    finished = list(first.values_list("pk", flat=True)[:290])
    Comparison.objects.filter(pk__in=finished).update(labels_done=F("labels_wanted"))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE annotation_comparison")

    with CaptureQueriesContext(connection) as queries:
        assignment = assignment_next(project=project, user=user)
    (candidate,) = [q["sql"] for q in queries.captured_queries if "SKIP LOCKED" in q["sql"]]
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {candidate}")
        (plan,) = cursor.fetchone()[0]

    assert assignment is not None
    assert assignment.comparison_id not in finished
    (scan,) = [
        node
        for node in _plan_nodes(plan["Plan"])
        if node.get("Relation Name") == "annotation_comparison"
    ]
    # An index scan, or a bitmap scan of the index and then a sort of its few rows.
    read_with = {
        node.get("Index Name")
        for node in [scan, *scan.get("Plans", [])]
        if node.get("Parent Relationship") != "SubPlan"
    }
    assert read_with - {None} == {"comparison_open"}
    # Only the item just leased to this person (run again, the statement passes over it).
    assert scan.get("Rows Removed by Filter", 0) == 1


def test_it_never_gives_more_leases_than_the_overlap(project):  # type: ignore[no-untyped-def]
    configure(project, overlap=2)
    users = annotators(project, 3)
    responses(project, 2)
    responses(project, 2)
    comparisons_generate(project=project)
    first, second = Comparison.objects.order_by("pk")

    got = [assignment_next(project=project, user=user) for user in users]

    assert [a.comparison_id for a in got if a] == [first.pk, first.pk, second.pk]


def test_it_returns_an_item_when_its_lease_expires(project):  # type: ignore[no-untyped-def]
    configure(project, overlap=1, lease_minutes=10)
    alice, bob = annotators(project, 2)
    responses(project, 2)
    comparisons_generate(project=project)
    now = timezone.now()

    leased = assignment_next(project=project, user=alice, now=now)
    assert assignment_next(project=project, user=bob, now=now + timedelta(minutes=9)) is None

    later = assignment_next(project=project, user=bob, now=now + timedelta(minutes=11))

    assert later is not None
    assert leased is not None
    assert later.comparison_id == leased.comparison_id


def test_it_never_gives_one_person_an_item_they_labelled_or_skipped(project):  # type: ignore[no-untyped-def]
    (user,) = annotators(project, 1)
    responses(project, 2)
    responses(project, 2)
    comparisons_generate(project=project)

    first = assignment_next(project=project, user=user)
    label_submit(assignment=first, user=user, judgment=judgment("1"))
    second = assignment_next(project=project, user=user)
    assignment_skip(assignment=second, user=user, reason="I cannot read this language")

    assert assignment_next(project=project, user=user) is None
    assert queue_progress(project=project, user=user).remaining == 0
    assert Assignment.objects.get(pk=second.pk).status == Assignment.Status.SKIPPED


def test_it_mixes_in_gold_items_at_the_gold_rate(project, annotator):  # type: ignore[no-untyped-def]
    configure(project, gold_rate=0.25)
    many_pairs(project, 300)
    comparisons_generate(project=project)
    Comparison.objects.filter(pk__in=Comparison.objects.order_by("pk")[:150].values("pk")).update(
        is_gold=True, gold_choice="a", labels_wanted=0
    )

    handed = []
    for number in range(100):
        assignment = assignment_next(project=project, user=annotator)
        handed.append(assignment.comparison.is_gold)
        label_submit(assignment=assignment, user=annotator, judgment=judgment(f"gold-{number}"))

    # Binomial(100, 0.25): mean 25, sd 4.3; 8..42 fails about once in 10^4 runs.
    assert 8 <= sum(handed) <= 42


def test_it_draws_the_left_right_order_at_random_and_stores_it(project, annotator):  # type: ignore[no-untyped-def]
    many_pairs(project, 100)
    comparisons_generate(project=project)

    orders: Counter[str] = Counter()
    for number in range(100):
        assignment = assignment_next(project=project, user=annotator)
        label = label_submit(
            assignment=assignment, user=annotator, judgment=judgment(f"order-{number}")
        ).label
        orders[label.shown_order] += 1
        left = assignment.display_order[0]
        assert label.shown_order == ("ab" if left == assignment.comparison.response_a_id else "ba")

    # Binomial(100, 0.5): 28..72 holds in all but about 1 of 10^5 runs.
    assert set(orders) == {"ab", "ba"}
    assert 28 <= orders["ab"] <= 72


def _in_threads(count: int, work) -> list[object]:  # type: ignore[no-untyped-def]
    results: list[object] = [None] * count
    errors: list[BaseException] = []
    start = threading.Barrier(count)

    def run(index: int) -> None:
        try:
            start.wait()
            results[index] = work(index)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return results


@pytest.mark.django_db(transaction=True)
def test_it_keeps_overlap_with_many_annotators_at_once():  # type: ignore[no-untyped-def]
    from tests.factories import ProjectFactory

    project = configure(ProjectFactory(), overlap=2)
    users = annotators(project, 16)
    for _ in range(6):
        responses(project, 2)
    comparisons_generate(project=project)

    def work(index: int) -> list[int]:
        got = []
        for _ in range(3):
            assignment = assignment_next(project=project, user=users[index])
            if assignment is None:
                break
            got.append(assignment.comparison_id)
            label_submit(assignment=assignment, user=users[index],
                         judgment=judgment(f"t{index}-{assignment.pk}"))  # fmt: skip
        return got

    results = _in_threads(16, work)

    for got in results:
        assert len(got) == len(set(got))  # nobody got one item twice
    per_item = Counter(pk for got in results for pk in got)
    assert per_item == dict.fromkeys(Comparison.objects.values_list("pk", flat=True), 2)
    assert set(Comparison.objects.values_list("labels_done", flat=True)) == {2}
    assert Label.objects.count() == 12


@pytest.mark.django_db(transaction=True)
def test_a_concurrent_double_submit_leaves_one_label():  # type: ignore[no-untyped-def]
    from tests.factories import ProjectFactory

    project = ProjectFactory()
    (user,) = annotators(project, 1)
    responses(project, 2)
    comparisons_generate(project=project)
    assignment = assignment_next(project=project, user=user)

    results = _in_threads(
        8, lambda _: label_submit(assignment=assignment, user=user, judgment=judgment("same"))
    )

    assert Label.objects.count() == 1
    assert sum(result.created for result in results) == 1
    assert {result.label.pk for result in results} == {Label.objects.get().pk}
    assert Comparison.objects.get().labels_done == 1


# --- judgments --------------------------------------------------------------------------


@pytest.fixture
def leased(project, annotator):  # type: ignore[no-untyped-def]
    responses(project, 2)
    comparisons_generate(project=project)
    return assignment_next(project=project, user=annotator)


def test_it_records_a_judgment_and_closes_the_lease(project, annotator, leased):  # type: ignore[no-untyped-def]
    a, b = leased.comparison.response_a_id, leased.comparison.response_b_id
    submitted = label_submit(
        assignment=leased,
        user=annotator,
        judgment=judgment(
            "full",
            choice="b",
            strength=2,
            rationale="  B cites a source.  ",
            seconds_spent=12.5,
            spans=[{"response": a, "start": 0, "end": 6, "category": "wrong", "note": "no"}],
        ),  # fmt: skip
    )

    label = submitted.label
    assert submitted.created
    assert (label.choice, label.strength, label.rationale) == ("b", 2, "B cites a source.")
    assert label.seconds_spent == 12.5
    assert label.spans == [{"response": a, "start": 0, "end": 6, "category": "wrong", "note": "no"}]
    assert (label.annotator, label.assignment, label.source) == (annotator, leased, "annotator")
    assert label.metadata == {"display_order": leased.display_order}
    assert sorted(leased.display_order) == [a, b]
    leased.refresh_from_db()
    assert leased.status == Assignment.Status.DONE
    assert Comparison.objects.get().labels_done == 1
    assert queue_progress(project=project, user=annotator).done_today == 1


def test_a_repeated_key_returns_the_first_label(project, annotator, leased):  # type: ignore[no-untyped-def]
    first = label_submit(assignment=leased, user=annotator, judgment=judgment("k1"))
    again = label_submit(assignment=leased, user=annotator, judgment=judgment("k1", choice="b"))

    assert (again.created, again.label.pk, again.label.choice) == (False, first.label.pk, "a")
    assert Label.objects.count() == 1


def test_it_refuses_another_persons_key_or_item(project, annotator, leased):  # type: ignore[no-untyped-def]
    label_submit(assignment=leased, user=annotator, judgment=judgment("mine"))
    (other,) = annotators(project, 1)
    theirs = assignment_next(project=project, user=other)

    with pytest.raises(ApplicationError, match="already used for another judgment"):
        label_submit(assignment=theirs, user=other, judgment=judgment("mine"))
    with pytest.raises(ApplicationError, match="not assigned to you"):
        label_submit(assignment=theirs, user=annotator, judgment=judgment("x1"))
    assert Label.objects.count() == 1


def test_a_reused_key_is_refused_before_a_judgment_that_does_not_fit(project, annotator, leased):  # type: ignore[no-untyped-def]
    label_submit(assignment=leased, user=annotator, judgment=judgment("once"))
    (other,) = annotators(project, 1)
    theirs = assignment_next(project=project, user=other)

    with pytest.raises(ApplicationError, match="already used for another judgment"):
        label_submit(assignment=theirs, user=other, judgment=judgment("once", strength=9))
    assert Label.objects.count() == 1
    theirs.refresh_from_db()
    assert theirs.status == Assignment.Status.LEASED


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"choice": None}, "choice: pick a, b, tie or both_bad."),
        ({"strength": 4}, "strength: must be from 0 to 3."),
        ({"choice": None, "ranking": [1, 2]}, "ranking: this item is a pair; send a choice."),
        ({"spans": [{"response": 0, "start": 0, "end": 1, "category": "c"}]},
         "spans[1]: response 0 is not in this item."),
        ({"ratings": {"0": {"helpful": 3}}}, "ratings: response 0 is not in this item."),
    ],
)  # fmt: skip
def test_it_refuses_a_judgment_that_does_not_fit_and_saves_nothing(  # type: ignore[no-untyped-def]
    annotator, leased, fields, message
):
    with pytest.raises(ApplicationError) as caught:
        label_submit(assignment=leased, user=annotator, judgment=judgment("bad", **fields))

    assert caught.value.message == message
    assert Label.objects.count() == 0
    leased.refresh_from_db()
    assert leased.status == Assignment.Status.LEASED
    assert Comparison.objects.get().labels_done == 0


def test_it_checks_ratings_spans_and_rationale_against_the_rubric(project, annotator, leased):  # type: ignore[no-untyped-def]
    rubric = rubric_create(
        project=project, name="Quality",
        criteria=[{"name": "helpful", "scale": {"min": 1, "max": 5}}],
        error_categories=[{"name": "factual error"}],
    )  # fmt: skip
    configure(project, rubric_id=rubric.pk, rate_criteria=True, rationale_required=True)
    leased.refresh_from_db()
    a = leased.comparison.response_a_id
    text_length = len(Response.objects.get(pk=a).text)
    cases = {
        "ratings: helpful must be from 1 to 5.": {"ratings": {a: {"helpful": 6}}},
        "ratings: no criterion 'tone' in the rubric.": {"ratings": {a: {"tone": 3}}},
        "spans[1]: end is past the end of the response.": {
            "spans": [{"response": a, "start": 0, "end": text_length + 1, "category": "x"}]
        },
        "spans[1]: category must be one of factual error.": {
            "spans": [{"response": a, "start": 0, "end": 2, "category": "typo"}]
        },
        "rationale: this project asks for a short rationale.": {"rationale": "  "},
    }
    for number, (message, fields) in enumerate(cases.items()):
        fields = {"rationale": "ok"} | fields
        with pytest.raises(ApplicationError) as caught:
            label_submit(
                assignment=leased, user=annotator, judgment=judgment(f"r{number}", **fields)
            )
        assert caught.value.message == message

    label = label_submit(
        assignment=leased, user=annotator,
        judgment=judgment(
            "good", rationale="A is right", ratings={a: {"helpful": 5}},
            spans=[{"response": a, "start": 0, "end": 2, "category": "factual error"}],
        ),
    ).label  # fmt: skip

    assert label.ratings == {str(a): {"helpful": 5}}
    assert label.rubric_version == rubric.versions.get()


def test_undo_reopens_the_item_and_the_next_judgment_supersedes(project, annotator, leased):  # type: ignore[no-untyped-def]
    first = label_submit(assignment=leased, user=annotator, judgment=judgment("u1")).label

    reopened = label_undo(project=project, user=annotator)
    second = label_submit(
        assignment=reopened, user=annotator, judgment=judgment("u2", choice="tie")
    ).label

    assert reopened.pk == leased.pk
    assert second.supersedes == first
    assert list(Label.objects.filter(superseded_by__isnull=True)) == [second]
    assert Label.objects.count() == 2
    assert Comparison.objects.get().labels_done == 1
    assert queue_progress(project=project, user=annotator).done_today == 1
    with pytest.raises(ApplicationError, match="already labelled"):
        label_submit(assignment=reopened, user=annotator, judgment=judgment("u3"))


def test_after_undo_a_replayed_first_judgment_returns_the_first_label(project, annotator, leased):  # type: ignore[no-untyped-def]
    first = label_submit(assignment=leased, user=annotator, judgment=judgment("r1")).label
    reopened = label_undo(project=project, user=annotator)

    replay = label_submit(assignment=reopened, user=annotator, judgment=judgment("r1"))

    assert (replay.created, replay.label.pk) == (False, first.pk)
    assert Label.objects.count() == 1
    reopened.refresh_from_db()
    assert reopened.status == Assignment.Status.LEASED
    assert Comparison.objects.get().labels_done == 1


@pytest.mark.django_db(transaction=True)
def test_a_concurrent_double_press_with_two_keys_leaves_one_label():  # type: ignore[no-untyped-def]
    from tests.factories import ProjectFactory

    project = ProjectFactory()
    (user,) = annotators(project, 1)
    responses(project, 2)
    comparisons_generate(project=project)
    assignment = assignment_next(project=project, user=user)

    def submit(number: int) -> object:
        try:
            return label_submit(assignment=assignment, user=user, judgment=judgment(f"p{number}"))
        except ApplicationError as exc:
            return str(exc)

    results = _in_threads(6, submit)

    assert Label.objects.count() == 1
    assert sum(not isinstance(result, str) for result in results) == 1
    assert {r for r in results if isinstance(r, str)} == {
        "You already labelled this item; undo it to change your judgment."
    }
    assert Comparison.objects.get().labels_done == 1


def test_undo_is_refused_after_the_window(project, annotator, leased):  # type: ignore[no-untyped-def]
    label_submit(assignment=leased, user=annotator, judgment=judgment("w1"))

    with pytest.raises(ApplicationError, match="no recent judgment"):
        label_undo(project=project, user=annotator, now=timezone.now() + timedelta(minutes=6))
    leased.refresh_from_db()
    assert leased.status == Assignment.Status.DONE


def test_a_ranking_is_stored_in_order(project, annotator):  # type: ignore[no-untyped-def]
    configure(project, mode="ranking", ranking_size=3)
    r = responses(project, 3)
    comparisons_generate(project=project)
    assignment = assignment_next(project=project, user=annotator)
    order = [r[2].pk, r[0].pk, r[1].pk]

    with pytest.raises(ApplicationError, match="order every response"):
        label_submit(assignment=assignment, user=annotator,
                     judgment=judgment("k", choice=None, ranking=order[:2]))  # fmt: skip
    label = label_submit(
        assignment=assignment, user=annotator, judgment=judgment("k2", choice=None, ranking=order)
    ).label

    assert (label.choice, label.ranking, label.shown_order) == ("", order, "")
    assert sorted(assignment.display_order) == sorted(order)


def test_a_flag_is_kept_for_review(project, annotator, leased):  # type: ignore[no-untyped-def]
    flag = comparison_flag(
        comparison=leased.comparison, user=annotator, reason=" Prompt is cut off "
    )

    assert (flag.reason, flag.user, flag.resolved_at) == ("Prompt is cut off", annotator, None)
    with pytest.raises(ApplicationError, match="say what is wrong"):
        comparison_flag(comparison=leased.comparison, user=annotator, reason=" ")
    assert Flag.objects.count() == 1
