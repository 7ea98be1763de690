from __future__ import annotations

import pytest
from django.db.models import F

from apps.accounts.models import Role
from apps.annotation.models import Assignment, Comparison, Label
from apps.annotation.services import comparisons_generate
from apps.prompts.models import Response
from tests.api import FORBIDDEN, NOT_FOUND, token_client
from tests.factories import MembershipFactory, PromptFactory, ResponseFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair(project):  # type: ignore[no-untyped-def]
    prompt = PromptFactory(project=project, input=[{"role": "user", "content": "Hi <b>there</b>"}])
    a = ResponseFactory(prompt=prompt, text="First answer", model="secret-model-a")
    b = ResponseFactory(prompt=prompt, text="Second answer", model="secret-model-b")
    comparisons_generate(project=project)
    return Comparison.objects.get(), a, b


def lease(client, project) -> dict:  # type: ignore[no-untyped-def,type-arg]
    response = client.post(f"/api/v1/projects/{project.pk}/comparisons/next/", {}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def test_next_leases_an_item_without_model_names(project, annotator, pair):  # type: ignore[no-untyped-def]
    comparison, a, b = pair
    client = token_client(annotator)

    body = lease(client, project)

    assignment = Assignment.objects.get()
    order = assignment.display_order
    texts = {a.pk: "First answer", b.pk: "Second answer"}
    sides = {a.pk: "a", b.pk: "b"}
    assert body == {
        "assignment": assignment.pk,
        "comparison": comparison.pk,
        "kind": "pair",
        "expires_at": body["expires_at"],
        "prompt": {
            "id": comparison.prompt_id,
            "input": [{"role": "user", "content": "Hi <b>there</b>"}],
        },
        "responses": [{"id": pk, "text": texts[pk], "choice": sides[pk]} for pk in order],
        "strength_scale": [
            "negligibly better", "slightly better", "clearly better", "much better",
        ],
        "rationale_required": False,
    }  # fmt: skip
    assert "secret-model" not in str(body)
    # Asking again returns the same lease; with it excluded, nothing else is left.
    assert lease(client, project)["assignment"] == assignment.pk
    empty = client.post(
        f"/api/v1/projects/{project.pk}/comparisons/next/",
        {"exclude": [assignment.pk]},
        format="json",
    )
    assert empty.status_code == 204


def test_a_label_is_created_once_for_a_replayed_call(project, annotator, pair):  # type: ignore[no-untyped-def]
    comparison, a, b = pair
    client = token_client(annotator)
    lease(client, project)
    body = {
        "idempotency_key": "retry-0001",
        "choice": "b",
        "strength": 1,
        "rationale": "Shorter and right.",
        "ratings": {},
        "spans": [{"response": b.pk, "start": 0, "end": 6, "category": "style", "note": ""}],
        "seconds_spent": 4.5,
    }
    url = f"/api/v1/comparisons/{comparison.pk}/labels/"

    first = client.post(url, body, format="json")
    replay = client.post(url, body, format="json")

    assert first.status_code == 201, first.content
    assert replay.status_code == 200
    assert replay.json() == first.json()
    label = Label.objects.get()
    assert first.json() == {
        "id": label.pk,
        "comparison": comparison.pk,
        "annotator": annotator.pk,
        "source": "annotator",
        "choice": "b",
        "strength": 1,
        "ranking": [],
        "ratings": {},
        "spans": [{"response": b.pk, "start": 0, "end": 6, "category": "style", "note": ""}],
        "rationale": "Shorter and right.",
        "shown_order": label.shown_order,
        "seconds_spent": 4.5,
        "rubric_version": None,
        "supersedes": None,
        "created_at": first.json()["created_at"],
    }
    assert label.shown_order in {"ab", "ba"}


def test_a_label_needs_a_lease(project, annotator, pair):  # type: ignore[no-untyped-def]
    comparison, *_ = pair
    client = token_client(annotator)

    response = client.post(
        f"/api/v1/comparisons/{comparison.pk}/labels/",
        {"idempotency_key": "nolease-1", "choice": "a"},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["error"]["message"] == (
        "This comparison is not leased to you: ask for it with comparisons/next/."
    )
    assert Label.objects.count() == 0


def test_bad_judgments_are_a_400_naming_the_field(project, annotator, pair):  # type: ignore[no-untyped-def]
    comparison, *_ = pair
    client = token_client(annotator)
    lease(client, project)
    url = f"/api/v1/comparisons/{comparison.pk}/labels/"

    shape = client.post(url, {"idempotency_key": "short", "choice": "maybe"}, format="json")
    rule = client.post(url, {"idempotency_key": "rule-0001", "choice": "a", "strength": 9},
                       format="json")  # fmt: skip

    assert shape.status_code == 400
    details = shape.json()["error"]["details"]
    assert set(details) == {"idempotency_key", "choice"}
    assert rule.status_code == 400
    assert rule.json()["error"]["message"] == "strength: must be from 0 to 3."
    assert Label.objects.count() == 0


def test_outsiders_and_viewers_cannot_lease_or_label(project, pair, viewer, outsider):  # type: ignore[no-untyped-def]
    comparison, *_ = pair
    body = {"idempotency_key": "denied-01", "choice": "a"}

    for user, expected, status in [(outsider, NOT_FOUND, 404), (viewer, FORBIDDEN, 403)]:
        client = token_client(user)
        got = client.post(f"/api/v1/projects/{project.pk}/comparisons/next/", {}, format="json")
        label = client.post(f"/api/v1/comparisons/{comparison.pk}/labels/", body, format="json")
        assert (got.status_code, got.json()) == (status, expected)
        assert (label.status_code, label.json()) == (status, expected)

    assert Assignment.objects.count() == 0
    assert Label.objects.count() == 0


def test_who_may_label_is_answered_before_what_is_wrong_with_the_body(  # type: ignore[no-untyped-def]
    project, pair, viewer, outsider, annotator
):
    comparison, *_ = pair
    url = f"/api/v1/comparisons/{comparison.pk}/labels/"
    bad = {"idempotency_key": "x", "choice": "maybe"}

    answers = [token_client(user).post(url, bad, format="json") for user in (outsider, viewer)]
    not_leased = token_client(annotator).post(url, bad, format="json")

    assert [(a.status_code, a.json()) for a in answers] == [(404, NOT_FOUND), (403, FORBIDDEN)]
    assert not_leased.status_code == 400
    assert not_leased.json()["error"]["message"] == (
        "This comparison is not leased to you: ask for it with comparisons/next/."
    )


def test_a_removed_annotator_cannot_label_what_they_leased(project, annotator, pair):  # type: ignore[no-untyped-def]
    comparison, *_ = pair
    client = token_client(annotator)
    lease(client, project)
    annotator.memberships.update(role=Role.VIEWER)

    response = client.post(
        f"/api/v1/comparisons/{comparison.pk}/labels/",
        {"idempotency_key": "demoted-1", "choice": "a"},
        format="json",
    )

    assert (response.status_code, response.json()) == (403, FORBIDDEN)
    assert Label.objects.count() == 0


def test_labels_are_listed_with_filters_and_annotators_see_their_own(project, pair, annotator):  # type: ignore[no-untyped-def]
    comparison, *_ = pair
    other = UserFactory(username="other-annotator")
    MembershipFactory(project=project, user=other, role=Role.ANNOTATOR)
    designer = UserFactory(username="the-designer")
    MembershipFactory(project=project, user=designer, role=Role.DESIGNER)
    for number, user in enumerate([annotator, other]):
        client = token_client(user)
        lease(client, project)
        body = {"idempotency_key": f"list-000{number}", "choice": "a"}
        client.post(f"/api/v1/comparisons/{comparison.pk}/labels/", body, format="json")
    mine, theirs = Label.objects.order_by("pk")

    def ids(user, query: str = "") -> list[int]:  # type: ignore[no-untyped-def]
        response = token_client(user).get(f"/api/v1/projects/{project.pk}/labels/{query}")
        assert response.status_code == 200
        return [row["id"] for row in response.json()["results"]]

    assert ids(designer) == [mine.pk, theirs.pk]
    assert ids(designer, f"?annotator={other.pk}") == [theirs.pk]
    assert ids(designer, f"?comparison={comparison.pk + 1}") == []
    assert ids(designer, "?since=2999-01-01T00:00:00Z") == []
    assert ids(annotator) == [mine.pk]
    assert ids(annotator, f"?annotator={other.pk}") == []


def test_comparisons_are_listed_and_created_by_designers(project, designer, annotator):  # type: ignore[no-untyped-def]
    prompt = PromptFactory(project=project)
    r = [ResponseFactory(prompt=prompt) for _ in range(3)]
    client = token_client(designer)

    created = client.post(
        f"/api/v1/projects/{project.pk}/comparisons/",
        {"responses": [r[2].pk, r[0].pk], "priority": 7, "is_gold": True, "gold_choice": "b"},
        format="json",
    )
    ranking = client.post(
        f"/api/v1/projects/{project.pk}/comparisons/",
        {"responses": [x.pk for x in r]},
        format="json",
    )
    duplicate = client.post(
        f"/api/v1/projects/{project.pk}/comparisons/",
        {"responses": [r[0].pk, r[2].pk]},
        format="json",
    )
    denied = token_client(annotator).post(
        f"/api/v1/projects/{project.pk}/comparisons/", {"responses": [r[0].pk, r[1].pk]},
        format="json",
    )  # fmt: skip

    assert created.status_code == 201
    pair = Comparison.objects.get(kind="pair")
    assert created.json() == {
        "id": pair.pk, "project": project.pk, "prompt": prompt.pk, "kind": "pair",
        "responses": [r[0].pk, r[2].pk], "priority": 7, "labels_wanted": 3, "labels_done": 0,
        "is_gold": True, "gold_choice": "b", "created_at": created.json()["created_at"],
    }  # fmt: skip
    assert ranking.status_code == 201
    assert ranking.json()["kind"] == "ranking"
    assert ranking.json()["responses"] == [x.pk for x in r]
    assert duplicate.status_code == 400
    assert duplicate.json()["error"]["message"] == (
        f"responses: comparison {pair.pk} already pairs them."
    )
    assert (denied.status_code, denied.json()) == (403, FORBIDDEN)
    listed = client.get(f"/api/v1/projects/{project.pk}/comparisons/?is_gold=true").json()
    assert [row["id"] for row in listed["results"]] == [pair.pk]
    assert Comparison.objects.count() == 2


def test_skip_gives_the_item_back(project, annotator, pair):  # type: ignore[no-untyped-def]
    comparison, *_ = pair
    client = token_client(annotator)
    lease(client, project)

    missing = client.post(f"/api/v1/comparisons/{comparison.pk}/skip/", {}, format="json")
    skipped = client.post(f"/api/v1/comparisons/{comparison.pk}/skip/",
                          {"reason": "Not my language"}, format="json")  # fmt: skip

    assert missing.status_code == 400
    assert skipped.status_code == 204
    assert Assignment.objects.get().status == Assignment.Status.SKIPPED
    again = client.post(f"/api/v1/projects/{project.pk}/comparisons/next/", {}, format="json")
    assert again.status_code == 204


def test_next_and_submit_take_few_sql_statements(  # type: ignore[no-untyped-def]
    project, annotator, pair, django_assert_max_num_queries
):
    comparison, *_ = pair
    client = token_client(annotator)
    token_client(annotator)  # the token exists before counting

    # Counted with the savepoints that stand in for BEGIN and COMMIT in a test.
    with django_assert_max_num_queries(10):
        lease(client, project)
    with django_assert_max_num_queries(10):
        response = client.post(
            f"/api/v1/comparisons/{comparison.pk}/labels/",
            {"idempotency_key": "count-0001", "choice": "tie"},
            format="json",
        )
    assert response.status_code == 201


def _detail(comparison, a, b, *, blind):  # type: ignore[no-untyped-def]
    return {
        "id": comparison.pk,
        "project": comparison.project_id,
        "kind": "pair",
        "prompt": {
            "id": comparison.prompt_id,
            "input": [{"role": "user", "content": "Hi <b>there</b>"}],
        },
        "responses": [
            {"id": a.pk, "text": "First answer", "model": None if blind else "secret-model-a"},
            {"id": b.pk, "text": "Second answer", "model": None if blind else "secret-model-b"},
        ],
        "priority": 0,
        "labels_wanted": 3,
        "labels_done": 1,
        "labels_needed": 2,
        "is_gold": None if blind else True,
        "gold_choice": None if blind else "b",
        "created_at": comparison.created_at.isoformat().replace("+00:00", "Z"),
    }


def test_a_comparison_reads_in_full_for_viewers_and_blind_for_its_annotator(  # type: ignore[no-untyped-def]
    project, pair, annotator, viewer
):
    comparison, a, b = pair
    client = token_client(annotator)
    lease(client, project)
    labelled = client.post(
        f"/api/v1/comparisons/{comparison.pk}/labels/",
        {"idempotency_key": "detail-0001", "choice": "a"},
        format="json",
    )
    assert labelled.status_code == 201
    Comparison.objects.filter(pk=comparison.pk).update(is_gold=True, gold_choice="b")
    comparison.refresh_from_db()
    url = f"/api/v1/comparisons/{comparison.pk}/"

    full = token_client(viewer).get(url)
    blind = client.get(url)

    assert full.status_code == 200
    assert full.json() == _detail(comparison, a, b, blind=False)
    assert blind.status_code == 200
    assert blind.json() == _detail(comparison, a, b, blind=True)
    assert "secret-model" not in blind.content.decode()
    assert "detail-0001" not in full.content.decode()  # labels are listed elsewhere


def test_an_annotator_reads_only_comparisons_they_were_given(  # type: ignore[no-untyped-def]
    project, pair, annotator, outsider
):
    comparison, _, _ = pair
    url = f"/api/v1/comparisons/{comparison.pk}/"

    refused = token_client(annotator).get(url)

    assert refused.status_code == 403
    assert refused.json() == {
        "error": {
            "code": "permission_denied",
            "message": "Annotators see only the comparisons they were given: lease one with "
            "comparisons/next/.",
            "details": {},
        }
    }
    assert token_client(outsider).get(url).json() == NOT_FOUND
    assert token_client(annotator).get("/api/v1/comparisons/999999/").json() == NOT_FOUND


def test_a_designer_changes_priority_wanted_labels_and_gold(project, pair, designer):  # type: ignore[no-untyped-def]
    comparison, a, b = pair
    url = f"/api/v1/comparisons/{comparison.pk}/"
    client = token_client(designer)

    changed = client.patch(url, {"priority": 5, "labels_wanted": 1, "gold_choice": "b"},
                           format="json")  # fmt: skip

    assert changed.status_code == 200, changed.json()
    comparison.refresh_from_db()
    assert changed.json() == {
        **_detail(comparison, a, b, blind=False),
        "priority": 5,
        "labels_wanted": 1,
        "labels_done": 0,
        "labels_needed": 1,
    }
    assert (comparison.priority, comparison.labels_wanted, comparison.is_gold,
            comparison.gold_choice) == (5, 1, True, "b")  # fmt: skip
    ungold = client.patch(url, {"gold_choice": None}, format="json")
    assert (ungold.json()["is_gold"], ungold.json()["gold_choice"]) == (False, "")
    assert ungold.json()["priority"] == 5


def test_a_bad_comparison_change_is_400_and_changes_nothing(project, designer):  # type: ignore[no-untyped-def]
    prompt = PromptFactory(project=project)
    responses = [ResponseFactory(prompt=prompt).pk for _ in range(3)]
    client = token_client(designer)
    ranking = client.post(
        f"/api/v1/projects/{project.pk}/comparisons/",
        {"responses": responses, "priority": 2},
        format="json",
    ).json()
    url = f"/api/v1/comparisons/{ranking['id']}/"

    gold = client.patch(url, {"gold_choice": "a", "priority": 9}, format="json")
    huge = client.patch(url, {"priority": 2**31, "labels_wanted": 51}, format="json")

    assert gold.status_code == 400
    assert gold.json()["error"]["message"] == "Only pairs can be gold items."
    assert huge.json()["error"]["details"] == {
        "priority": ["Ensure this value is less than or equal to 2147483647."],
        "labels_wanted": ["Ensure this value is less than or equal to 50."],
    }
    item = Comparison.objects.get(pk=ranking["id"])
    assert (item.priority, item.labels_wanted, item.is_gold) == (2, 3, False)


def test_viewers_and_annotators_cannot_change_a_comparison(
    project, pair, viewer, annotator, outsider
):  # type: ignore[no-untyped-def]
    comparison, _, _ = pair
    url = f"/api/v1/comparisons/{comparison.pk}/"

    answers = [
        token_client(user).patch(url, {"priority": 7}, format="json").json()
        for user in (viewer, annotator, outsider)
    ]

    assert answers == [FORBIDDEN, FORBIDDEN, NOT_FOUND]
    assert Comparison.objects.get(pk=comparison.pk).priority == 0


def test_comparisons_are_filtered_by_prompt(project, pair, viewer):  # type: ignore[no-untyped-def]
    comparison, _, _ = pair
    other = PromptFactory(project=project)
    ResponseFactory(prompt=other)
    ResponseFactory(prompt=other)
    comparisons_generate(project=project)
    url = f"/api/v1/projects/{project.pk}/comparisons/"
    client = token_client(viewer)

    mine = client.get(url, {"prompt": comparison.prompt_id}).json()
    theirs = client.get(url, {"prompt": other.pk}).json()

    assert [row["id"] for row in mine["results"]] == [comparison.pk]
    assert [row["id"] for row in theirs["results"]] == [Comparison.objects.get(prompt=other).pk]
    assert client.get(url).json()["count"] == 2


def test_comparisons_are_filtered_by_whether_they_still_want_labels(project, pair, viewer):  # type: ignore[no-untyped-def]
    comparison, _, _ = pair
    other = PromptFactory(project=project)
    ResponseFactory(prompt=other)
    ResponseFactory(prompt=other)
    comparisons_generate(project=project)
    full = Comparison.objects.get(prompt=other)
    Comparison.objects.filter(pk=full.pk).update(labels_done=F("labels_wanted"))
    url = f"/api/v1/projects/{project.pk}/comparisons/"
    client = token_client(viewer)

    wanting = client.get(url, {"needs_labels": "true"}).json()["results"]
    done = client.get(url, {"needs_labels": "false"}).json()["results"]

    assert [row["id"] for row in wanting] == [comparison.pk]
    assert [(row["id"], row["labels_done"]) for row in done] == [(full.pk, full.labels_wanted)]


def test_the_hot_path_takes_few_statements_once_the_token_is_cached(  # type: ignore[no-untyped-def]
    project, annotator, django_assert_num_queries
):
    for i in range(2):
        prompt = PromptFactory(project=project)
        ResponseFactory(prompt=prompt, text=f"left {i}")
        ResponseFactory(prompt=prompt, text=f"right {i}")
    comparisons_generate(project=project)
    client = token_client(annotator)
    first = lease(client, project)  # reads and caches the token
    url = f"/api/v1/comparisons/{first['comparison']}/labels/"
    assert (
        client.post(url, {"idempotency_key": "warm-0001", "choice": "a"}, format="json").status_code
        == 201
    )

    # next: project, role and held lease; candidate under lock; lease (re-checked in the
    # same statement) and its texts. submit: the lease locked (with the role, comparison
    # and project); the label (if none stands yet), close and count in one statement.
    # Plus the savepoints that stand for BEGIN and COMMIT.
    with django_assert_num_queries(5):
        second = lease(client, project)
    with django_assert_num_queries(4):
        response = client.post(
            f"/api/v1/comparisons/{second['comparison']}/labels/",
            {"idempotency_key": "count-0002", "choice": "tie"},
            format="json",
        )

    assert response.status_code == 201
    assert second["comparison"] != first["comparison"]
    assert list(
        Label.objects.order_by("id").values_list("comparison_id", "choice", "annotator_id")
    ) == [
        (first["comparison"], "a", annotator.pk),
        (second["comparison"], "tie", annotator.pk),
    ]
    assert list(Comparison.objects.order_by("id").values_list("labels_done", flat=True)) == [1, 1]
    assert set(Assignment.objects.values_list("status", flat=True)) == {"done"}


def test_the_hot_paths_answers_are_what_their_serializers_give(project, annotator, pair):  # type: ignore[no-untyped-def]
    from apps.annotation.api import (
        AssignmentOutputSerializer,
        LabelOutputSerializer,
        assignment_output,
        label_output,
    )
    from apps.annotation.services import assignment_next

    comparison, a, b = pair
    assignment = assignment_next(project=project, user=annotator)
    label = Label.objects.create(
        comparison=comparison, annotator=annotator, assignment=assignment, choice="a",
        strength=2, ratings={str(a.pk): {"clarity": 3}}, rationale="Clear.", shown_order="ba",
        spans=[{"response": a.pk, "start": 0, "end": 5, "category": "style", "note": ""}],
        seconds_spent=3, idempotency_key="same-as-ever",
    )  # fmt: skip

    assert assignment_output(assignment) == AssignmentOutputSerializer(assignment).data
    assert label_output(label) == LabelOutputSerializer(label).data
    assert label_output(Label.objects.get()) == LabelOutputSerializer(Label.objects.get()).data


def test_a_lease_read_with_its_texts_answers_as_the_serializer(project, annotator):  # type: ignore[no-untyped-def]
    from apps.annotation.api import AssignmentOutputSerializer, assignment_output
    from apps.annotation.services import assignment_next
    from tests.annotation.test_services import configure

    configure(project, mode="ranking", ranking_size=3)
    prompt = PromptFactory(project=project, input="Rank these.")
    for text in ("one", "two", "three"):
        ResponseFactory(prompt=prompt, text=text)
    comparisons_generate(project=project)

    leased = assignment_next(project=project, user=annotator, with_texts=True)
    held = assignment_next(project=project, user=annotator, with_texts=True)  # read again

    assert leased.shown.prompt_input == "Rank these."
    texts = dict(Response.objects.values_list("pk", "text"))
    assert [text for _, text in leased.shown.responses] == [
        texts[pk] for pk in leased.display_order
    ]
    assert assignment_output(leased) == AssignmentOutputSerializer(leased).data
    assert assignment_output(held) == assignment_output(leased)


def test_a_bad_next_body_is_a_400_naming_the_field(project, annotator, pair):  # type: ignore[no-untyped-def]
    client = token_client(annotator)
    url = f"/api/v1/projects/{project.pk}/comparisons/next/"

    answers = [
        client.post(url, body, format="json")
        for body in ({"exclude": "7"}, {"exclude": [True]}, {"exclude": list(range(21))})
    ]

    assert [answer.status_code for answer in answers] == [400, 400, 400]
    assert all(set(answer.json()["error"]["details"]) == {"exclude"} for answer in answers)
    assert Assignment.objects.count() == 0
    # Ids given as strings are read as DRF reads them.
    assert client.post(url, {"exclude": ["1"]}, format="json").status_code == 200


def test_the_hot_paths_statements_are_prepared_on_the_connection(project, annotator, pair):  # type: ignore[no-untyped-def]
    from django.db import connection

    client = token_client(annotator)
    for _ in range(3):  # prepared on the second run
        lease(client, project)

    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = " ".join(row[0] for row in cursor.fetchall())
    assert "FROM annotation_assignment a" in prepared
    assert "JOIN accounts_membership m" in prepared
