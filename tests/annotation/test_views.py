"""The workbench pages and their htmx endpoints, through Django's test client."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from apps.accounts.models import Project, User
from apps.annotation.models import Assignment, Comparison, Flag, Label
from apps.annotation.services import comparison_create
from apps.prompts.models import Response
from apps.rubrics.models import Rubric, RubricVersion
from tests.factories import MembershipFactory, ProjectFactory, PromptFactory, ResponseFactory

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
SECRET_MODEL = "secret-model-name-7b"


def _configure(project: Project, **settings: Any) -> None:
    project.annotation_settings = {**project.annotation_settings, "overlap": 1, **settings}
    project.save(update_fields=["annotation_settings"])


def _pair(project: Project, *, texts: tuple[str, str] = ("First answer.", "Second answer."),
          prompt: str = "What is the capital of France?") -> Comparison:  # fmt: skip
    item = PromptFactory(project=project, input=prompt)
    a = ResponseFactory(prompt=item, text=texts[0], model=SECRET_MODEL)
    b = ResponseFactory(prompt=item, text=texts[1], model=SECRET_MODEL)
    return comparison_create(project=project, response_ids=[a.pk, b.pk])


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _open(client: Client, project: Project) -> Assignment:
    response = client.get(f"/projects/{project.slug}/annotate/")
    assert response.status_code == 200
    return Assignment.objects.get(
        status=Assignment.Status.LEASED, annotator=response.wsgi_request.user
    )


def _submit(client: Client, project: Project, assignment: Assignment, **data: Any) -> Any:
    data.setdefault("idempotency_key", f"key-{assignment.pk}-0001")
    return client.post(f"/projects/{project.slug}/annotate/{assignment.pk}/submit/", data, **HX)


def _rubric(project: Project) -> RubricVersion:
    rubric = Rubric.objects.create(project=project, name="Quality")
    return RubricVersion.objects.create(
        rubric=rubric,
        number=1,
        criteria=[
            {"name": "helpfulness", "scale": {"min": 1, "max": 5, "labels": {"1": "useless"}}},
            {"name": "honesty", "scale": {"min": 1, "max": 3}},
        ],
        error_categories=[{"name": "factual error"}, {"name": "unsafe"}],
    )


def test_it_shows_an_annotator_their_next_item_blind(project: Project, annotator: User) -> None:
    _configure(project)
    comparison = _pair(project)

    response = _client(annotator).get(f"/projects/{project.slug}/annotate/")

    assert response.status_code == 200
    html = response.content.decode()
    assignment = Assignment.objects.get()
    assert (assignment.comparison_id, assignment.annotator_id) == (comparison.pk, annotator.pk)
    left, right = (Response.objects.get(pk=pk).text for pk in assignment.display_order)
    assert html.index(left) < html.index(right)
    assert "What is the capital of France?" in html
    assert SECRET_MODEL not in html
    assert f'data-assignment="{assignment.pk}"' in html
    assert f"/projects/{project.slug}/annotate/next/?exclude={assignment.pk}" in html
    assert 'name="idempotency_key"' in html
    assert "<strong data-done>0</strong> done today" in html


def test_it_hides_the_workbench_from_non_members(project: Project, outsider: User) -> None:
    _pair(project)

    response = _client(outsider).get(f"/projects/{project.slug}/annotate/")

    assert response.status_code == 404
    assert Assignment.objects.count() == 0


def test_it_refuses_viewers_and_leases_nothing(project: Project, viewer: User) -> None:
    _pair(project)
    client = _client(viewer)

    page = client.get(f"/projects/{project.slug}/annotate/")
    prefetch = client.get(f"/projects/{project.slug}/annotate/next/")
    undo = client.post(f"/projects/{project.slug}/annotate/undo/", **HX)

    assert (page.status_code, prefetch.status_code, undo.status_code) == (403, 403, 403)
    assert Assignment.objects.count() == 0


def test_it_refuses_to_judge_another_annotators_item(project: Project, annotator: User) -> None:
    _configure(project, overlap=2)
    _pair(project)
    other = MembershipFactory(project=project, role="annotator").user
    theirs = _open(_client(other), project)

    response = _submit(_client(annotator), project, theirs, choice="left")

    assert response.status_code == 404
    assert Label.objects.count() == 0


def test_it_shows_an_empty_queue(project: Project, annotator: User) -> None:
    response = _client(annotator).get(f"/projects/{project.slug}/annotate/")

    assert response.status_code == 200
    assert "Nothing left to judge here" in response.content.decode()
    assert Assignment.objects.count() == 0


def test_it_records_one_label_and_answers_with_the_next_item(
    project: Project, annotator: User
) -> None:
    _configure(project)
    _pair(project)
    _pair(project, prompt="Second prompt?", texts=("Yes.", "No."))
    client = _client(annotator)
    first = _open(client, project)

    response = _submit(
        client, project, first, choice="left", strength="2", rationale="  Clearer.  ",
        seconds_spent="12.5",
    )  # fmt: skip

    assert response.status_code == 200
    label = Label.objects.get()
    left_is_a = first.display_order[0] == first.comparison.response_a_id
    assert (label.choice, label.strength, label.rationale, label.seconds_spent) == (
        "a" if left_is_a else "b", 2, "Clearer.", 12.5,
    )  # fmt: skip
    assert (label.annotator_id, label.assignment_id) == (annotator.pk, first.pk)
    first.refresh_from_db()
    assert first.status == Assignment.Status.DONE
    second = Assignment.objects.get(status=Assignment.Status.LEASED)
    html = response.content.decode()
    assert f'data-assignment="{second.pk}"' in html
    assert 'id="workbench-status" class="wb-status" hx-swap-oob="true"' in html
    assert "Undo last" in html


def test_a_double_submit_with_one_key_leaves_one_label(project: Project, annotator: User) -> None:
    _configure(project)
    _pair(project)
    client = _client(annotator)
    assignment = _open(client, project)

    first = _submit(client, project, assignment, choice="tie", idempotency_key="same-key-123")
    again = _submit(client, project, assignment, choice="tie", idempotency_key="same-key-123")

    assert (first.status_code, again.status_code) == (200, 200)
    assert Label.objects.count() == 1
    assert Label.objects.get().choice == "tie"
    assert Comparison.objects.get().labels_done == 1


@pytest.mark.parametrize(
    ("shown", "side", "expected"),
    [
        ("ab", "left", "a"),
        ("ab", "right", "b"),
        ("ba", "left", "b"),
        ("ba", "right", "a"),
    ],
)
def test_it_maps_the_side_shown_to_the_comparisons_choice(
    project: Project, annotator: User, shown: str, side: str, expected: str
) -> None:
    _configure(project)
    comparison = _pair(project)
    client = _client(annotator)
    assignment = _open(client, project)
    a, b = comparison.response_a_id, comparison.response_b_id
    assignment.display_order = [a, b] if shown == "ab" else [b, a]
    assignment.save(update_fields=["display_order"])

    response = _submit(client, project, assignment, choice=side)

    assert response.status_code == 200
    label = Label.objects.get()
    assert (label.choice, label.shown_order) == (expected, shown)


def test_it_shows_a_validation_error_and_saves_nothing(project: Project, annotator: User) -> None:
    _configure(project)
    _pair(project)
    client = _client(annotator)
    assignment = _open(client, project)

    response = _submit(client, project, assignment, strength="1")

    assert response.status_code == 422
    assert response["HX-Retarget"] == "#workbench-alert"
    assert "choice: pick which response is better" in response.content.decode()
    assert Label.objects.count() == 0
    assignment.refresh_from_db()
    assert assignment.status == Assignment.Status.LEASED


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"choice": "tie", "strength": "1"}, "strength only goes with choice"),
        ({"choice": "left", "strength": "9"}, "strength: must be from 0 to 3."),
        ({"choice": "left", "spans": "not json"}, "spans: could not read the marked spans."),
        ({"choice": "left", "idempotency_key": "short"}, "idempotency_key"),
    ],
)
def test_it_refuses_malformed_judgments(
    project: Project, annotator: User, data: dict[str, str], message: str
) -> None:
    _configure(project)
    _pair(project)
    client = _client(annotator)
    assignment = _open(client, project)

    response = _submit(client, project, assignment, **data)

    assert response.status_code == 422
    assert message in response.content.decode()
    assert Label.objects.count() == 0


def test_it_asks_for_a_rationale_when_the_project_requires_one(
    project: Project, annotator: User
) -> None:
    _configure(project, rationale_required=True)
    _pair(project)
    client = _client(annotator)
    assignment = _open(client, project)

    page = client.get(f"/projects/{project.slug}/annotate/").content.decode()
    response = _submit(client, project, assignment, choice="left", rationale="   ")

    assert 'class="wb-required">required' in page
    assert response.status_code == 422
    assert "rationale: this project asks for a short rationale." in response.content.decode()
    assert Label.objects.count() == 0


def test_it_records_ratings_and_spans_by_response(project: Project, annotator: User) -> None:
    rubric = _rubric(project)
    _configure(project, rubric_id=rubric.rubric_id, rate_criteria=True)
    comparison = _pair(project, texts=("Paris is in Germany.", "Paris."))
    client = _client(annotator)
    assignment = _open(client, project)
    a, b = comparison.response_a_id, comparison.response_b_id
    spans = [{"response": a, "start": 12, "end": 19, "category": "factual error", "note": "no"}]

    page = client.get(f"/projects/{project.slug}/annotate/").content.decode()
    response = _submit(
        client, project, assignment, choice="left",
        **{f"rating:{a}:helpfulness": "2", f"rating:{b}:helpfulness": "5",
           f"rating:{b}:honesty": "3"},
        spans=json.dumps(spans),
    )  # fmt: skip

    assert f'name="rating:{a}:helpfulness"' in page
    assert 'title="useless"' in page
    assert '<option value="factual error">factual error</option>' in page
    assert response.status_code == 200, response.content
    label = Label.objects.get()
    assert label.ratings == {str(a): {"helpfulness": 2}, str(b): {"helpfulness": 5, "honesty": 3}}
    assert label.spans == spans
    assert label.rubric_version_id == rubric.pk


def test_it_refuses_a_rating_off_the_scale(project: Project, annotator: User) -> None:
    rubric = _rubric(project)
    _configure(project, rubric_id=rubric.rubric_id, rate_criteria=True)
    comparison = _pair(project)
    client = _client(annotator)
    assignment = _open(client, project)

    response = _submit(
        client, project, assignment, choice="left",
        **{f"rating:{comparison.response_a_id}:honesty": "4"},
    )  # fmt: skip

    assert response.status_code == 422
    assert "ratings: honesty must be from 1 to 3." in response.content.decode()
    assert Label.objects.count() == 0


def test_it_skips_with_a_reason_and_answers_with_the_next_item(
    project: Project, annotator: User
) -> None:
    _configure(project)
    _pair(project)
    _pair(project, prompt="Another?", texts=("One.", "Two."))
    client = _client(annotator)
    first = _open(client, project)

    refused = client.post(
        f"/projects/{project.slug}/annotate/{first.pk}/skip/", {"reason": " "}, **HX
    )
    response = client.post(
        f"/projects/{project.slug}/annotate/{first.pk}/skip/", {"reason": "Cannot judge"}, **HX
    )

    assert refused.status_code == 422
    assert "reason: say why you skip this item." in refused.content.decode()
    assert response.status_code == 200
    first.refresh_from_db()
    assert (first.status, first.skip_reason) == (Assignment.Status.SKIPPED, "Cannot judge")
    second = Assignment.objects.get(status=Assignment.Status.LEASED)
    assert f'data-assignment="{second.pk}"' in response.content.decode()
    assert Label.objects.count() == 0


def test_it_flags_an_item_and_keeps_it_open(project: Project, annotator: User) -> None:
    _configure(project)
    comparison = _pair(project)
    client = _client(annotator)
    assignment = _open(client, project)

    refused = client.post(
        f"/projects/{project.slug}/annotate/{assignment.pk}/flag/", {"reason": ""}, **HX
    )
    response = client.post(
        f"/projects/{project.slug}/annotate/{assignment.pk}/flag/",
        {"reason": "Truncated text"},
        **HX,
    )

    assert refused.status_code == 422
    assert response.status_code == 200
    assert "Flagged for a reviewer" in response.content.decode()
    flag = Flag.objects.get()
    assert (flag.comparison_id, flag.user_id, flag.reason) == (
        comparison.pk,
        annotator.pk,
        "Truncated text",
    )
    assignment.refresh_from_db()
    assert assignment.status == Assignment.Status.LEASED


def test_undo_reopens_the_item_filled_in_and_a_new_judgment_supersedes(
    project: Project, annotator: User
) -> None:
    rubric = _rubric(project)
    _configure(project, rubric_id=rubric.rubric_id, rate_criteria=True)
    comparison = _pair(project)
    client = _client(annotator)
    assignment = _open(client, project)
    left = assignment.display_order[0]
    spans = [{"response": left, "start": 0, "end": 5, "category": "unsafe", "note": ""}]
    _submit(client, project, assignment, choice="right", strength="3", rationale="Terse <b>",
            spans=json.dumps(spans), **{f"rating:{left}:honesty": "2"})  # fmt: skip

    response = client.post(f"/projects/{project.slug}/annotate/undo/", **HX)

    assert response.status_code == 200
    html = response.content.decode()
    assignment.refresh_from_db()
    assert assignment.status == Assignment.Status.LEASED
    assert f'data-assignment="{assignment.pk}"' in html
    assert f'value="right" id="choice-right-{assignment.pk}" checked' in html
    assert f'value="3" id="strength-{assignment.pk}-3" checked' in html
    assert "Terse &lt;b&gt;</textarea>" in html
    assert "&quot;category&quot;: &quot;unsafe&quot;" in html
    assert 'value="2" id="rate-' in html
    assert "data-rating checked" in html
    assert "Undo last" not in html  # the item is open again: nothing left to undo

    again = _submit(client, project, assignment, choice="tie", idempotency_key="second-key-1")

    assert again.status_code == 200
    old, new = Label.objects.order_by("pk")
    assert (old.choice, new.choice, new.supersedes_id) == (
        "b" if left == comparison.response_a_id else "a", "tie", old.pk,
    )  # fmt: skip
    assert Comparison.objects.get().labels_done == 1


def test_undo_with_nothing_to_undo_says_so(project: Project, annotator: User) -> None:
    response = _client(annotator).post(f"/projects/{project.slug}/annotate/undo/", **HX)

    assert response.status_code == 422
    assert "There is no recent judgment to undo." in response.content.decode()


def test_prefetch_leases_a_second_item_and_excludes_the_one_on_screen(
    project: Project, annotator: User
) -> None:
    _configure(project)
    _pair(project)
    _pair(project, prompt="Another?", texts=("One.", "Two."))
    client = _client(annotator)
    first = _open(client, project)

    response = client.get(f"/projects/{project.slug}/annotate/next/?exclude={first.pk}", **HX)
    again = client.get(f"/projects/{project.slug}/annotate/next/?exclude={first.pk}", **HX)
    last = client.get(
        f"/projects/{project.slug}/annotate/next/?exclude={first.pk}&exclude={first.pk + 1}", **HX
    )

    second = Assignment.objects.exclude(pk=first.pk).get()
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith("<article")
    assert f'data-assignment="{second.pk}"' in html
    assert f'data-assignment="{second.pk}"' in again.content.decode()
    assert Assignment.objects.count() == 2
    assert second.pk == first.pk + 1
    assert "Nothing left to judge here" in last.content.decode()


def test_it_records_a_ranking_best_first(project: Project, annotator: User) -> None:
    _configure(project)
    prompt = PromptFactory(project=project)
    ids = [ResponseFactory(prompt=prompt, model=SECRET_MODEL).pk for _ in range(3)]
    comparison_create(project=project, response_ids=ids)
    client = _client(annotator)
    page = client.get(f"/projects/{project.slug}/annotate/").content.decode()
    assignment = Assignment.objects.get()
    order = [ids[2], ids[0], ids[1]]

    response = _submit(client, project, assignment, ranking=",".join(map(str, order)))

    assert "data-ranking-list" in page
    assert SECRET_MODEL not in page
    assert 'name="choice"' not in page
    assert response.status_code == 200
    label = Label.objects.get()
    assert (label.ranking, label.choice) == (order, "")


def test_it_escapes_hostile_text(project: Project, annotator: User) -> None:
    _configure(project)
    hostile = "<script>window.__pwned = 1</script><img src=x onerror=alert(1)>"
    _pair(project, prompt=f"Prompt {hostile}", texts=(f"A {hostile}", f"B {hostile}"))

    html = _client(annotator).get(f"/projects/{project.slug}/annotate/").content.decode()

    assert "<script>window.__pwned" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in html
    assert html.count("&lt;img src=x onerror=alert(1)&gt;") == 3


def test_it_keeps_carriage_returns_so_offsets_match_the_raw_text(
    project: Project, annotator: User
) -> None:
    _configure(project)
    _pair(project, texts=("line one\r\nline two", "plain"))

    annotator.show_raw_text = True
    annotator.save(update_fields=["show_raw_text"])

    html = _client(annotator).get(f"/projects/{project.slug}/annotate/").content.decode()

    assert '<span data-o="0">line one&#13;\nline two</span>' in html


def test_rendered_text_carries_the_raw_offsets_of_each_line(
    project: Project, annotator: User
) -> None:
    _configure(project)
    _pair(project, texts=("line one\r\nline **two**", "plain"))

    html = _client(annotator).get(f"/projects/{project.slug}/annotate/").content.decode()

    assert (
        '<p><span data-o="0">line one</span>\n'
        '<span data-o="10">line </span><strong><span data-o="17">two</span></strong></p>'
    ) in html


def test_a_form_post_without_javascript_redirects_back(project: Project, annotator: User) -> None:
    _configure(project)
    _pair(project)
    client = _client(annotator)
    assignment = _open(client, project)

    response = client.post(
        f"/projects/{project.slug}/annotate/{assignment.pk}/submit/",
        {"idempotency_key": "plain-form-1", "choice": "both_bad"},
    )

    assert response.status_code == 302
    assert response["Location"] == f"/projects/{project.slug}/annotate/"
    assert Label.objects.get().choice == "both_bad"


def test_my_work_lists_queues_and_recent_judgments_blind(project: Project, annotator: User) -> None:
    _configure(project)
    _pair(project)
    _pair(project, prompt="Second prompt?", texts=("Yes.", "No."))
    elsewhere = ProjectFactory(name="Elsewhere")
    MembershipFactory(project=elsewhere, user=annotator, role="viewer")
    client = _client(annotator)
    assignment = _open(client, project)
    _submit(client, project, assignment, choice="tie")

    response = client.get("/annotate/")

    assert response.status_code == 200
    html = response.content.decode()
    assert project.name in html
    assert "Elsewhere" not in html
    assert f'href="/projects/{project.slug}/annotate/">Start</a>' in html
    assert "<dd data-total-today>1</dd>" in html
    assert "Tie" in html
    assert SECRET_MODEL not in html
