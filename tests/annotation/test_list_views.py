"""The comparisons and labels pages (and the API filters they share), through Django's test
client: exact rows per filter, who sees what, bounded queries, pages."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from django.test import Client
from rest_framework.test import APIClient

from apps.accounts.models import Project, Role, User
from apps.annotation.models import Comparison, Label
from apps.annotation.services import comparison_create
from tests.factories import MembershipFactory, PromptFactory, ResponseFactory, UserFactory

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _pair(project: Project, prompt: str, models: tuple[str, str], **extra: object) -> Comparison:
    item = PromptFactory(project=project, input=prompt)
    a = ResponseFactory(prompt=item, text=f"{prompt} first", model=models[0])
    b = ResponseFactory(prompt=item, text=f"{prompt} second", model=models[1])
    return comparison_create(project=project, response_ids=[a.pk, b.pk], **extra)


def _label(comparison: Comparison, user: User | None, choice: str, **extra: object) -> Label:
    return Label.objects.create(
        comparison=comparison,
        annotator=user,
        source=Label.Source.ANNOTATOR if user else Label.Source.IMPORT,
        choice=choice,
        **extra,
    )


def _at(day: int) -> datetime:
    return datetime(2026, 3, day, 12, tzinfo=UTC)


@dataclass
class Data:
    france: Comparison
    haiku: Comparison
    recursion: Comparison
    ann: User
    other: User
    labels: dict[str, Label]


@pytest.fixture
def data(project: Project, annotator: User) -> Data:
    """Three pairs (the last one gold) and five labels by two annotators and an import; one
    of `annotator`'s labels is superseded by a later one."""
    other = UserFactory(username="other-annotator")
    MembershipFactory(project=project, user=other, role=Role.ANNOTATOR)
    france = _pair(project, "What is the capital of France?", ("llama-3", "gpt-4o"),
                   labels_wanted=2, priority=5)  # fmt: skip
    haiku = _pair(project, "Write a haiku about rain", ("llama-3", "mistral"), labels_wanted=2)
    recursion = _pair(project, "Explain recursion", ("qwen", "mistral"), labels_wanted=2,
                      is_gold=True, gold_choice="a", priority=9)  # fmt: skip
    first = _label(france, annotator, "b", shown_order="ab", seconds_spent=30.0)
    labels = {
        "france_first": first,
        "france_ann": _label(
            france, annotator, "a", supersedes=first, shown_order="ba", seconds_spent=12.0
        ),  # fmt: skip
        "france_other": _label(france, other, "a", seconds_spent=4.0),
        "haiku_ann": _label(haiku, annotator, "b", seconds_spent=50.0),
        "recursion_import": _label(recursion, None, "tie"),
    }
    Comparison.objects.filter(pk=france.pk).update(labels_done=2)
    Comparison.objects.filter(pk=haiku.pk).update(labels_done=1, created_at=_at(3))
    Comparison.objects.filter(pk=recursion.pk).update(created_at=_at(5))
    Comparison.objects.filter(pk=france.pk).update(created_at=_at(1))
    for name, day in [("france_first", 1), ("france_ann", 2), ("france_other", 2),
                      ("haiku_ann", 3), ("recursion_import", 5)]:  # fmt: skip
        Label.objects.filter(pk=labels[name].pk).update(created_at=_at(day))
    return Data(france, haiku, recursion, annotator, other, labels)


def _rows(response, kind: str) -> list[int]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.content[:500]
    return [int(pk) for pk in re.findall(rf'data-{kind}="(\d+)"', response.content.decode())]


def _comparisons(client: Client, project: Project, query: str = "") -> list[int]:
    return _rows(client.get(f"/projects/{project.slug}/comparisons/?{query}"), "comparison")


def _labels(client: Client, project: Project, query: str = "") -> list[int]:
    return _rows(client.get(f"/projects/{project.slug}/labels/?{query}"), "label")


def test_comparison_filters_give_exact_rows(project: Project, designer: User, data: Data) -> None:
    client = _client(designer)
    france, haiku, recursion = data.france.pk, data.haiku.pk, data.recursion.pk
    assert _comparisons(client, project) == [recursion, france, haiku]  # priority first
    assert _comparisons(client, project, "sort=oldest") == [france, haiku, recursion]
    assert _comparisons(client, project, "sort=most_labels") == [france, haiku, recursion]
    assert _comparisons(client, project, "is_gold=true") == [recursion]
    assert _comparisons(client, project, "is_gold=false") == [france, haiku]
    assert _comparisons(client, project, "needs_labels=true") == [recursion, haiku]
    assert _comparisons(client, project, "needs_labels=false") == [france]
    assert _comparisons(client, project, "model=mistral&sort=oldest") == [haiku, recursion]
    assert _comparisons(client, project, "model=gpt-4o") == [france]
    assert _comparisons(client, project, "search=HAIKU") == [haiku]
    assert _comparisons(client, project, "since=2026-03-02&until=2026-03-03") == [haiku]
    assert _comparisons(client, project, "since=2026-03-04") == [recursion]
    # An invalid part is ignored; the valid ones still filter.
    assert _comparisons(client, project, "is_gold=maybe&model=gpt-4o&since=never") == [france]


def test_comparison_rows_show_sources_labels_agreement_and_status(
    project: Project, designer: User, data: Data
) -> None:
    html = _client(designer).get(f"/projects/{project.slug}/comparisons/?sort=oldest")
    text = re.sub(r"\s+", " ", html.content.decode())
    row = text.split(f'data-comparison="{data.france.pk}"')[1].split("</tr>")[0]
    sources = '<span class="badge badge-model">llama-3</span> <span class="muted">vs</span> '
    assert sources + '<span class="badge badge-model">gpt-4o</span>' in row
    assert "2 / 2" in row
    assert "2 of 2 chose <strong>a</strong>" in row  # the superseded 'b' is not counted
    assert "complete" in row
    assert f'href="/projects/{project.slug}/prompts/{data.france.prompt_id}/"' in row
    assert f'href="/projects/{project.slug}/review/{data.france.pk}/"' in row
    gold = text.split(f'data-comparison="{data.recursion.pk}"')[1].split("</tr>")[0]
    assert ">gold<" in gold
    assert "1 of 1 chose <strong>tie</strong>" in gold
    assert "open" in gold
    _label(data.haiku, data.other, "a")
    html = _client(designer).get(f"/projects/{project.slug}/comparisons/?search=haiku")
    assert "split, 1 each of 2" in html.content.decode()


def test_label_filters_give_exact_rows(project: Project, viewer: User, data: Data) -> None:
    client = _client(viewer)
    labels = {name: label.pk for name, label in data.labels.items()}
    everything = sorted(labels.values(), reverse=True)
    assert _labels(client, project) == everything  # newest first
    assert _labels(client, project, "sort=oldest") == everything[::-1]
    assert _labels(client, project, "sort=slowest") == [
        labels["haiku_ann"], labels["france_first"], labels["france_ann"],
        labels["france_other"], labels["recursion_import"],
    ]  # fmt: skip
    assert _labels(client, project, f"annotator={data.ann.pk}&sort=oldest") == [
        labels["france_first"], labels["france_ann"], labels["haiku_ann"],
    ]  # fmt: skip
    assert _labels(client, project, "choice=a&sort=oldest") == [
        labels["france_ann"], labels["france_other"],
    ]  # fmt: skip
    assert _labels(client, project, "current=false") == [labels["france_first"]]
    assert labels["france_first"] not in _labels(client, project, "current=true")
    assert _labels(client, project, "is_gold=true") == [labels["recursion_import"]]
    assert _labels(client, project, "model=gpt-4o&current=true&sort=oldest") == [
        labels["france_ann"], labels["france_other"],
    ]  # fmt: skip
    assert _labels(client, project, "search=haiku") == [labels["haiku_ann"]]
    assert _labels(client, project, f"comparison={data.haiku.pk}") == [labels["haiku_ann"]]
    assert _labels(client, project, "since=2026-03-02&until=2026-03-02&sort=oldest") == [
        labels["france_ann"], labels["france_other"],
    ]  # fmt: skip


def test_the_page_and_the_api_list_the_same_labels(
    project: Project, viewer: User, data: Data
) -> None:
    api = APIClient()
    api.force_authenticate(viewer)
    query = "model=mistral&current=true&sort=newest"
    answer = api.get(f"/api/v1/projects/{project.pk}/labels/?{query}")
    assert answer.status_code == 200
    from_api = [row["id"] for row in answer.json()["results"]]
    assert from_api == [data.labels["recursion_import"].pk, data.labels["haiku_ann"].pk]
    assert _labels(_client(viewer), project, query) == from_api
    answer = api.get(f"/api/v1/projects/{project.pk}/comparisons/?search=capital&sort=oldest")
    assert [row["id"] for row in answer.json()["results"]] == [data.france.pk]


def test_an_annotator_sees_only_their_own_labels_blind(project: Project, data: Data) -> None:
    client = _client(data.ann)
    labels = data.labels
    own = [labels["haiku_ann"].pk, labels["france_ann"].pk, labels["france_first"].pk]
    assert _labels(client, project) == own
    # Another annotator's id filters nothing more in: the filter is not offered.
    assert _labels(client, project, f"annotator={data.other.pk}") == own
    html = client.get(f"/projects/{project.slug}/labels/").content.decode()
    assert "other-annotator" not in html
    assert 'name="annotator"' not in html
    # Blind: no gold or model filter, no model names, no links to the data pages.
    assert 'name="is_gold"' not in html
    assert 'name="model"' not in html
    assert "gpt-4o" not in html
    assert "/prompts/" not in html
    assert _labels(client, project, "is_gold=true&model=gpt-4o") == own
    # Where the preferred answer was shown: a, shown on the right ("ba").
    row = html.split(f'data-label="{labels["france_ann"].pk}"')[1].split("</tr>")[0]
    assert "(right)" in row
    # Through the API the same person may not ask by gold or model either.
    api = APIClient()
    api.force_authenticate(data.ann)
    refused = api.get(f"/api/v1/projects/{project.pk}/labels/?is_gold=true")
    assert refused.status_code == 400
    assert "blind" in refused.json()["error"]["message"]
    answer = api.get(f"/api/v1/projects/{project.pk}/labels/?sort=newest")
    assert [row["id"] for row in answer.json()["results"]] == own


def test_who_may_open_the_lists(
    project: Project, admin_user: User, designer: User, viewer: User, annotator: User,
    outsider: User, data: Data,
) -> None:  # fmt: skip
    comparisons, labels = (
        f"/projects/{project.slug}/comparisons/",
        f"/projects/{project.slug}/labels/",
    )
    for user in (admin_user, designer, viewer):
        assert _client(user).get(comparisons).status_code == 200
        assert len(_labels(_client(user), project)) == 5
    assert _client(annotator).get(comparisons).status_code == 403
    assert _client(annotator).get(labels).status_code == 200
    assert _client(outsider).get(comparisons).status_code == 404
    assert _client(outsider).get(labels).status_code == 404
    anonymous = Client().get(labels)
    assert anonymous.status_code == 302


def test_names_of_annotators_are_shown_to_roles_that_see_everyones_labels(
    project: Project, viewer: User, data: Data
) -> None:
    html = _client(viewer).get(f"/projects/{project.slug}/labels/").content.decode()
    row = html.split(f'data-label="{data.labels["france_other"].pk}"')[1].split("</tr>")[0]
    assert "other-annotator" in row
    imported = html.split(f'data-label="{data.labels["recursion_import"].pk}"')[1]
    assert "Imported" in imported.split("</tr>")[0]


def test_htmx_gets_the_table_alone(project: Project, designer: User, data: Data) -> None:
    response = _client(designer).get(f"/projects/{project.slug}/labels/?choice=b", **HX)
    html = response.content.decode()
    assert "<html" not in html
    assert 'id="filters"' not in html
    assert _rows(response, "label") == [data.labels["haiku_ann"].pk, data.labels["france_first"].pk]
    page = _client(designer).get(f"/projects/{project.slug}/labels/?choice=b").content.decode()
    assert "<html" in page
    assert '<option value="b" selected>' in page


def _many(project: Project, n: int, annotators: list[User], start: int = 0) -> None:
    for i in range(start, start + n):
        comparison = _pair(project, f"Prompt number {i}", (f"model-{i % 3}", f"model-{i % 5}x"))
        for user in annotators:
            _label(comparison, user, "a", rubric_version=None)


def test_list_pages_run_a_bounded_number_of_queries(
    project: Project, designer: User, annotator: User, django_assert_max_num_queries
) -> None:  # type: ignore[no-untyped-def]
    client, own = _client(designer), _client(annotator)
    other = UserFactory(username="second")
    MembershipFactory(project=project, user=other, role=Role.ANNOTATOR)
    for n in (2, 20):
        _many(project, n if n == 2 else n - 2, [annotator, other], start=n)
        with django_assert_max_num_queries(9):
            assert len(_comparisons(client, project)) == n
        with django_assert_max_num_queries(9):
            assert len(_labels(client, project)) == 2 * n
        with django_assert_max_num_queries(9):
            assert len(_labels(own, project)) == n


def test_lists_are_paginated(project: Project, designer: User, annotator: User) -> None:
    _many(project, 60, [annotator])
    client = _client(designer)
    first = _comparisons(client, project, "sort=oldest")
    second = client.get(f"/projects/{project.slug}/comparisons/?sort=oldest&page=2")
    assert len(first) == 50
    assert len(_rows(second, "comparison")) == 10
    html = second.content.decode()
    assert "Showing 51–60 of 60 comparisons." in html
    # The previous page keeps the filters and order.
    assert f'href="/projects/{project.slug}/comparisons/?sort=oldest&amp;page=1"' in html
    assert len(_labels(client, project, "page=2")) == 10


def test_a_ranking_item_lists_its_sources_and_is_found_by_any_of_them(
    project: Project, designer: User, data: Data
) -> None:
    item = PromptFactory(project=project, input="Rank these summaries")
    responses = [ResponseFactory(prompt=item, text=f"Summary {m}", model=m)
                 for m in ("phi-3", "gemma-2", "llama-3")]  # fmt: skip
    ranking = comparison_create(project=project, response_ids=[r.pk for r in responses])
    client = _client(designer)
    assert _comparisons(client, project, "model=gemma-2") == [ranking.pk]
    assert _comparisons(client, project, "model=llama-3&sort=oldest") == [
        data.france.pk, data.haiku.pk, ranking.pk,
    ]  # fmt: skip
    html = client.get(f"/projects/{project.slug}/comparisons/?search=summaries").content.decode()
    row = re.sub(r"\s+", " ", html).split(f'data-comparison="{ranking.pk}"')[1].split("</tr>")[0]
    assert ">ranking<" in row
    assert re.findall(r'badge-model">([^<]+)<', row) == ["phi-3", "gemma-2", "llama-3"]


def test_prompts_are_shown_as_text(project: Project, designer: User, annotator: User) -> None:
    comparison = _pair(project, "<script>alert(1)</script> Hi", ("m1", "m2"))
    _label(comparison, annotator, "a")
    for client, path in [(_client(designer), "comparisons"), (_client(annotator), "labels")]:
        html = client.get(f"/projects/{project.slug}/{path}/").content.decode()
        assert "&lt;script&gt;alert(1)&lt;/script&gt; Hi" in html
        assert "<script>alert(1)" not in html
