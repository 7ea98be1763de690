"""Rubric pages: the editor's rows, saving (draft in place, used version → new), the diff,
roles, and the workbench showing the version in force."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from apps.accounts.models import User
from apps.annotation.models import Label
from apps.rubrics.models import Rubric, RubricVersion
from tests.rubrics.factories import label_under_rubric, rubric_of

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _form(**extra: str) -> dict[str, str]:
    """The editor's form with one criterion and one category."""
    return {
        "name": "Quality", "description": "How good", "guidelines": "Be fair.",
        "message": "", "criterion-0-name": "helpful", "criterion-0-description": "Answers it.",
        "criterion-0-min": "1", "criterion-0-max": "5",
        "criterion-0-labels": "1 = useless\r\n5 = complete",
        "criterion-0-weight": "2", "category-0-name": "factual error",
        "category-0-description": "Wrong fact.", **extra,
    }  # fmt: skip


def _state() -> list[Any]:
    return [
        list(Rubric.objects.values_list("pk", "name", "description")),
        list(RubricVersion.objects.order_by("pk").values_list("number", "criteria", "guidelines")),
    ]


def test_a_designer_creates_a_rubric_from_the_editor(project, designer):  # type: ignore[no-untyped-def]
    response = _client(designer).post(
        f"/projects/{project.slug}/rubrics/new/", _form(action="save"), **HX
    )

    rubric = Rubric.objects.get()
    assert response.status_code == 200
    assert response["HX-Redirect"] == f"/projects/{project.slug}/rubrics/{rubric.pk}/"
    version = rubric.versions.get()
    assert (rubric.name, rubric.description, version.guidelines, version.created_by) == (
        "Quality", "How good", "Be fair.", designer,
    )  # fmt: skip
    assert version.criteria == [
        {"name": "helpful", "description": "Answers it.", "weight": 2.0,
         "scale": {"min": 1, "max": 5, "labels": {"1": "useless", "5": "complete"}}},
    ]  # fmt: skip
    assert version.error_categories == [{"name": "factual error", "description": "Wrong fact."}]


def test_add_and_remove_buttons_change_the_rows_without_saving(project, designer):  # type: ignore[no-untyped-def]
    client = _client(designer)
    url = f"/projects/{project.slug}/rubrics/new/"

    added = client.post(url, _form(action="add_criterion"), **HX).content.decode()
    removed = client.post(url, _form(action="remove_category:0"), **HX).content.decode()

    assert 'name="criterion-1-name"' in added
    assert 'value="helpful"' in added
    assert "<!doctype html>" not in added  # the editor partial only
    assert 'name="category-0-name"' not in removed
    assert Rubric.objects.count() == 0


def test_bad_input_is_listed_by_criterion_and_saves_nothing(project, designer):  # type: ignore[no-untyped-def]
    rubric = rubric_of(project)
    before = _state()
    form = _form(action="save", **{"criterion-0-max": "five", "criterion-0-labels": "1 useless",
                                   "criterion-1-name": "tone", "criterion-1-min": "3",
                                   "criterion-1-max": "1", "criterion-1-weight": "1"})  # fmt: skip

    response = _client(designer).post(
        f"/projects/{project.slug}/rubrics/{rubric.pk}/edit/", form, **HX
    )
    shape = _client(designer).post(
        f"/projects/{project.slug}/rubrics/{rubric.pk}/edit/",
        _form(action="save", **{"criterion-0-labels": "<script>x</script> = 9"}), **HX,
    )  # fmt: skip

    assert response.status_code == 422
    html = response.content.decode()
    assert "criteria[0] (helpful).scale.max: &#x27;five&#x27; is not a whole number" in html
    assert "criteria[0] (helpful).scale.labels: line 1: write point = meaning" in html
    assert shape.status_code == 422
    assert (
        "criteria[0] (helpful).scale: label key &#x27;&lt;script&gt;x&lt;/script&gt;&#x27; "
        "is not a point of the scale" in shape.content.decode()
    )
    assert _state() == before


def test_saving_a_draft_edits_it_and_saving_a_used_version_adds_one(project, designer, annotator):  # type: ignore[no-untyped-def]
    rubric = rubric_of(project)
    client = _client(designer)
    url = f"/projects/{project.slug}/rubrics/{rubric.pk}/edit/"

    assert "saving edits it" in client.get(url).content.decode()
    client.post(url, _form(action="save", guidelines="Draft edit"))
    assert list(rubric.versions.values_list("number", "guidelines")) == [(1, "Draft edit")]

    label = label_under_rubric(project, rubric, annotator)
    assert "saving makes version 2" in client.get(url).content.decode()
    response = client.post(url, _form(action="save", guidelines="Second", message="Tighter"))

    assert response.status_code == 302
    versions = rubric.versions.order_by("number")
    assert list(versions.values_list("number", "guidelines", "message")) == [
        (1, "Draft edit", "First version"), (2, "Second", "Tighter"),
    ]  # fmt: skip
    label.refresh_from_db()
    assert label.rubric_version.number == 1
    page = client.get(response["Location"]).content.decode()
    assert "Version 1 is in use, so it stays as it was: your changes are version 2." in page


def test_the_diff_page_escapes_what_people_wrote(project, designer, annotator):  # type: ignore[no-untyped-def]
    rubric = rubric_of(project, guidelines="Old line")
    label_under_rubric(project, rubric, annotator)
    _client(designer).post(
        f"/projects/{project.slug}/rubrics/{rubric.pk}/edit/",
        _form(action="save", guidelines="<img src=x onerror=alert(1)>",
              **{"criterion-0-name": "<b>bold</b>"}),
    )  # fmt: skip

    html = (
        _client(annotator)
        .get(f"/projects/{project.slug}/rubrics/{rubric.pk}/diff/")
        .content.decode()
    )

    assert "Added <strong>&lt;b&gt;bold&lt;/b&gt;</strong>" in html
    assert "Removed <strong>helpful</strong>" in html
    assert "Removed <strong>concise</strong>" in html
    assert '<span class="diff-line diff-removed">- Old line</span>' in html
    assert '<span class="diff-line diff-added">+ &lt;img src=x onerror=alert(1)&gt;</span>' in html
    assert "<img src=x" not in html


@pytest.mark.parametrize("who", ["annotator", "viewer"])
def test_readers_see_the_rubric_but_not_the_editor(project, who, request):  # type: ignore[no-untyped-def]
    rubric = rubric_of(project, guidelines="**Read** both")
    client = _client(request.getfixturevalue(who))
    before = _state()

    page = client.get(f"/projects/{project.slug}/rubrics/{rubric.pk}/").content.decode()
    edit = client.get(f"/projects/{project.slug}/rubrics/{rubric.pk}/edit/")
    save = client.post(
        f"/projects/{project.slug}/rubrics/{rubric.pk}/edit/", _form(action="save", name="Mine")
    )

    assert "<p><strong>Read</strong> both</p>" in page
    assert "/edit/" not in page
    assert (edit.status_code, save.status_code) == (403, 403)
    assert _state() == before


def test_the_workbench_shows_the_version_in_force_and_labels_keep_theirs(
    project, designer, annotator
):  # type: ignore[no-untyped-def]
    rubric = rubric_of(project, guidelines="Rubric *guidelines*")
    first = label_under_rubric(project, rubric, annotator)
    _client(designer).post(
        f"/projects/{project.slug}/rubrics/{rubric.pk}/edit/",
        _form(action="save", guidelines="v2 text"),
    )

    page = _client(annotator).get(f"/projects/{project.slug}/annotate/").content.decode()

    assert "· rubric Quality v2" in page
    assert "<p>v2 text</p>" in page
    second = label_under_rubric(project, rubric, annotator, key="second")
    first.refresh_from_db()
    assert (first.rubric_version.number, second.rubric_version.number) == (1, 2)
    assert Label.objects.count() == 2


def test_enter_in_a_text_box_neither_saves_nor_removes_a_row(project, designer):  # type: ignore[no-untyped-def]
    rubric = rubric_of(project)
    url = f"/projects/{project.slug}/rubrics/{rubric.pk}/edit/"
    before = _state()

    page = _client(designer).get(url).content.decode()
    refreshed = _client(designer).post(url, _form(action="refresh"), **HX).content.decode()

    first_button = page[page.index('<form id="rubric-editor"') :].split("<button", 2)[1]
    assert 'name="action" value="refresh"' in first_button
    assert 'name="criterion-0-name" value="helpful"' in refreshed
    assert 'name="category-0-name" value="factual error"' in refreshed
    assert _state() == before
