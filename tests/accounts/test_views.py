from __future__ import annotations

import re

import pytest
from django.contrib import auth
from django.urls import reverse

from apps.accounts.forms import ProjectSettingsForm
from apps.accounts.models import Membership, Project, Role
from apps.accounts.settings_schema import AnnotationSettings
from apps.annotation.models import Comparison, Label
from tests.conftest import PASSWORD, membership_of
from tests.factories import (
    MembershipFactory,
    ProjectFactory,
    PromptFactory,
    ResponseFactory,
    UserFactory,
)
from tests.page_factories import ImportJobFactory, RubricFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def settings_data(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "name": "Helpfulness v2",
        "description": "Second round.",
        "guidelines": "# Rules\n\nPrefer **correct** answers.",
        "mode": "ranking",
        "overlap": "5",
        "strength_scale": "a bit better\n\nmuch better\n",
        "gold_rate": "0.1",
        "lease_minutes": "30",
        "rationale_required": "on",
        "rubric_id": "",
        "ranking_size": "6",
        "pairing": "random_pairs",
        "pairs_per_prompt": "2",
        "score_key": "quality",
        "undo_minutes": "3",
        "consensus": "dawid_skene",
        "gold_pause_below": "0.7",
        "gold_min_items": "4",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


# --- login, logout ------------------------------------------------------------------


def test_it_logs_in_with_username_and_password(client, admin_user):  # type: ignore[no-untyped-def]
    response = client.post(
        reverse("accounts:login"), {"username": admin_user.username, "password": PASSWORD}
    )
    assert response.status_code == 302
    assert response.url == "/projects/"
    assert auth.get_user(client).pk == admin_user.pk


def test_it_refuses_a_wrong_password(client, admin_user):  # type: ignore[no-untyped-def]
    response = client.post(
        reverse("accounts:login"), {"username": admin_user.username, "password": "nope"}
    )
    assert response.status_code == 200
    assert "Please enter a correct username and password." in response.content.decode()
    assert not auth.get_user(client).is_authenticated


def test_it_logs_out_with_a_post(client, admin_user):  # type: ignore[no-untyped-def]
    client.force_login(admin_user)
    response = client.post(reverse("accounts:logout"))
    assert response.status_code == 302
    assert response.url == "/accounts/login/"
    assert not auth.get_user(client).is_authenticated


def test_it_shows_a_logout_form_in_the_top_bar(client, admin_user):  # type: ignore[no-untyped-def]
    client.force_login(admin_user)
    html = client.get("/projects/").content.decode()
    assert '<form method="post" action="/accounts/logout/">' in html


def test_it_redirects_the_root_to_the_project_list(client, admin_user):  # type: ignore[no-untyped-def]
    client.force_login(admin_user)
    response = client.get("/")
    assert response.status_code == 302
    assert response.url == "/projects/"


def test_it_sends_anonymous_visitors_to_the_login_page(client, project):  # type: ignore[no-untyped-def]
    response = client.get(f"/projects/{project.slug}/")
    assert response.status_code == 302
    assert response.url == f"/accounts/login/?next=/projects/{project.slug}/"


def test_it_renders_pages_without_inline_script_or_style(client, admin_user, project):  # type: ignore[no-untyped-def]
    client.force_login(admin_user)
    inside = f"/projects/{project.slug}"
    for path in ("/projects/", f"{inside}/", f"{inside}/settings/", f"{inside}/members/"):
        html = client.get(path).content.decode()
        assert re.findall(r"<script(?![^>]*\ssrc=)", html) == [], path
        assert re.findall(r"\sstyle=|<style", html) == [], path
        assert '<meta name="htmx-config" content=\'{"includeIndicatorStyles": false' in html


# --- project list and creation --------------------------------------------------------


def test_it_lists_only_the_users_projects_with_role_and_counts(client, designer, project):  # type: ignore[no-untyped-def]
    prompt = PromptFactory(project=project)
    ResponseFactory(prompt=prompt)
    ResponseFactory(prompt=prompt)
    PromptFactory(project=project)
    other = ProjectFactory(name="Someone else's project")
    PromptFactory(project=other)
    client.force_login(designer)

    response = client.get(reverse("accounts:project_list"))

    assert response.status_code == 200
    rows = response.context["rows"]
    assert [(p.slug, p.prompt_count, p.response_count, r) for p, r in rows] == [
        (project.slug, 2, 2, Role.DESIGNER)
    ]
    html = response.content.decode()
    assert project.name in html
    assert "Someone else" not in html


def test_it_creates_a_project_with_its_creator_as_admin(client, staff):  # type: ignore[no-untyped-def]
    client.force_login(staff)
    response = client.post(
        reverse("accounts:project_create"), {"name": "Code review", "description": "PR diffs"}
    )
    project = Project.objects.get(name="Code review")
    assert response.status_code == 302
    assert response.url == f"/projects/{project.slug}/"
    assert project.slug == "code-review"
    assert project.description == "PR diffs"
    assert membership_of(staff, project).role == Role.ADMIN


def test_it_refuses_a_project_without_a_name(client, staff):  # type: ignore[no-untyped-def]
    client.force_login(staff)
    response = client.post(reverse("accounts:project_create"), {"name": "   "})
    assert response.status_code == 200
    assert response.context["form"].errors == {"name": ["This field is required."]}
    assert Project.objects.count() == 0


# --- overview -------------------------------------------------------------------------


def test_it_shows_the_overview_with_counts_and_guidelines(client, admin_user, project):  # type: ignore[no-untyped-def]
    prompt = PromptFactory(project=project)
    first, second = ResponseFactory(prompt=prompt), ResponseFactory(prompt=prompt)
    comparison = Comparison.objects.create(
        project=project, prompt=prompt, response_a=first, response_b=second
    )
    old = Label.objects.create(comparison=comparison, annotator=admin_user, choice="a")
    Label.objects.create(comparison=comparison, annotator=admin_user, choice="b", supersedes=old)
    ImportJobFactory(project=project, original_name="first-batch.jsonl", created_by=admin_user)
    client.force_login(admin_user)

    response = client.get(reverse("accounts:project_detail", args=[project.slug]))

    assert response.status_code == 200
    assert response.context["counts"] == {
        "prompts": 1,
        "responses": 2,
        "comparisons": 1,
        "labels": 1,
    }
    html = response.content.decode()
    assert "<p>Prefer the <strong>more helpful</strong> answer.</p>" in html
    assert "first-batch.jsonl" in html


def test_it_shows_annotators_the_tabs_their_role_allows(client, annotator, project):  # type: ignore[no-untyped-def]
    ImportJobFactory(project=project, original_name="hidden-batch.jsonl")
    client.force_login(annotator)
    html = client.get(reverse("accounts:project_detail", args=[project.slug])).content.decode()
    assert f'href="/projects/{project.slug}/members/"' in html
    assert f'href="/projects/{project.slug}/prompts/"' not in html
    assert f'href="/projects/{project.slug}/imports/"' not in html
    assert f'href="/projects/{project.slug}/settings/"' not in html
    assert "hidden-batch.jsonl" not in html


def test_it_shows_admins_every_tab(client, admin_user, project):  # type: ignore[no-untyped-def]
    client.force_login(admin_user)
    html = client.get(reverse("accounts:project_detail", args=[project.slug])).content.decode()
    for tab in ("prompts", "imports", "members", "settings"):
        assert f'href="/projects/{project.slug}/{tab}/"' in html


def test_it_answers_404_to_non_members(client, outsider, project):  # type: ignore[no-untyped-def]
    client.force_login(outsider)
    response = client.get(reverse("accounts:project_detail", args=[project.slug]))
    assert response.status_code == 404
    assert "404.html" in [t.name for t in response.templates]
    assert project.name not in response.content.decode()


# --- settings -------------------------------------------------------------------------


def test_it_covers_every_annotation_setting_in_the_settings_form(project):  # type: ignore[no-untyped-def]
    form = ProjectSettingsForm(project=project)
    assert set(AnnotationSettings.model_fields) <= set(form.fields)


def test_it_shows_the_current_settings(client, admin_user, project):  # type: ignore[no-untyped-def]
    client.force_login(admin_user)
    response = client.get(reverse("accounts:project_settings", args=[project.slug]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "negligibly better\nslightly better\nclearly better\nmuch better</textarea>" in html
    assert '<input type="number" name="overlap" value="3"' in html


def test_it_saves_settings_for_an_admin(client, admin_user, project):  # type: ignore[no-untyped-def]
    rubric = RubricFactory(project=project, name="Helpfulness")
    client.force_login(admin_user)

    response = client.post(
        reverse("accounts:project_settings", args=[project.slug]),
        settings_data(rubric_id=str(rubric.pk), rate_criteria="on"),
    )

    assert response.status_code == 302
    assert response.url == f"/projects/{project.slug}/settings/"
    project.refresh_from_db()
    assert project.name == "Helpfulness v2"
    assert project.description == "Second round."
    assert project.guidelines == "# Rules\n\nPrefer **correct** answers."
    assert project.annotation_settings == {
        "mode": "ranking",
        "overlap": 5,
        "strength_scale": ["a bit better", "much better"],
        "rubric_id": rubric.pk,
        "rate_criteria": True,
        "gold_rate": 0.1,
        "lease_minutes": 30,
        "rationale_required": True,
        "ranking_size": 6,
        "pairing": "random_pairs",
        "pairs_per_prompt": 2,
        "score_key": "quality",
        "undo_minutes": 3,
        "consensus": "dawid_skene",
        "gold_pause_below": 0.7,
        "gold_min_items": 4,
        "show_reference_to_annotators": False,
    }


def test_it_lets_an_admin_show_reference_answers_to_annotators(client, admin_user, project):  # type: ignore[no-untyped-def]
    client.force_login(admin_user)

    response = client.post(
        reverse("accounts:project_settings", args=[project.slug]),
        settings_data(show_reference_to_annotators="on"),
    )

    assert response.status_code == 302
    project.refresh_from_db()
    assert project.annotation_settings["show_reference_to_annotators"] is True
    assert AnnotationSettings().show_reference_to_annotators is False


def test_it_switches_model_text_to_raw_and_back_for_this_user_only(client, annotator, designer):  # type: ignore[no-untyped-def]
    client.force_login(annotator)

    response = client.post(
        reverse("accounts:text_view"), {"raw": "1", "next": "/projects/x/annotate/?a=1"}
    )

    assert (response.status_code, response.url) == (302, "/projects/x/annotate/?a=1")
    annotator.refresh_from_db()
    designer.refresh_from_db()
    assert (annotator.show_raw_text, designer.show_raw_text) == (True, False)

    response = client.post(reverse("accounts:text_view"), {"raw": "0", "next": "/projects/"})

    annotator.refresh_from_db()
    assert (response.url, annotator.show_raw_text) == ("/projects/", False)


def test_the_text_view_switch_never_redirects_off_site(client, annotator):  # type: ignore[no-untyped-def]
    client.force_login(annotator)

    response = client.post(
        reverse("accounts:text_view"), {"raw": "1", "next": "https://evil.example/"}
    )

    assert (response.status_code, response.url) == (302, "/projects/")
    assert client.get(reverse("accounts:text_view")).status_code == 405


def test_it_shows_settings_errors_next_to_fields_and_saves_nothing(client, admin_user, project):  # type: ignore[no-untyped-def]
    before = dict(project.annotation_settings)
    client.force_login(admin_user)

    response = client.post(
        reverse("accounts:project_settings", args=[project.slug]),
        settings_data(overlap="0", gold_rate="1.5", name=""),
    )

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert errors == {
        "name": ["This field is required."],
        "overlap": ["Ensure this value is greater than or equal to 1."],
        "gold_rate": ["Ensure this value is less than or equal to 1.0."],
    }
    assert '<p class="error" id="id_overlap_error">' in response.content.decode()
    project.refresh_from_db()
    assert project.annotation_settings == before
    assert project.name != ""


def test_it_reports_schema_errors_of_the_strength_scale(client, admin_user, project):  # type: ignore[no-untyped-def]
    before = dict(project.annotation_settings)
    client.force_login(admin_user)

    response = client.post(
        reverse("accounts:project_settings", args=[project.slug]),
        settings_data(strength_scale="better\nbetter"),
    )

    assert response.status_code == 200
    assert response.context["form"].errors == {
        "strength_scale": ["strength labels must be distinct"]
    }
    project.refresh_from_db()
    assert project.annotation_settings == before


def test_it_offers_only_the_projects_rubrics(client, admin_user, project):  # type: ignore[no-untyped-def]
    foreign = RubricFactory(name="Foreign rubric")
    before = dict(project.annotation_settings)
    client.force_login(admin_user)

    response = client.post(
        reverse("accounts:project_settings", args=[project.slug]),
        settings_data(rubric_id=str(foreign.pk)),
    )

    assert response.status_code == 200
    assert list(response.context["form"].errors) == ["rubric_id"]
    project.refresh_from_db()
    assert project.annotation_settings == before


def test_it_refuses_settings_to_a_designer(client, designer, project):  # type: ignore[no-untyped-def]
    before = (project.name, dict(project.annotation_settings))
    client.force_login(designer)

    page = client.get(reverse("accounts:project_settings", args=[project.slug]))
    post = client.post(reverse("accounts:project_settings", args=[project.slug]), settings_data())

    assert page.status_code == 403
    assert post.status_code == 403
    assert "403.html" in [t.name for t in post.templates]
    project.refresh_from_db()
    assert (project.name, project.annotation_settings) == before


def test_it_hides_settings_from_non_members(client, outsider, project):  # type: ignore[no-untyped-def]
    before = project.name
    client.force_login(outsider)
    response = client.post(
        reverse("accounts:project_settings", args=[project.slug]), settings_data()
    )
    assert response.status_code == 404
    project.refresh_from_db()
    assert project.name == before


# --- members --------------------------------------------------------------------------


def test_it_shows_members_to_a_viewer_without_the_admin_controls(
    client, viewer, admin_user, project
):  # type: ignore[no-untyped-def]
    client.force_login(viewer)
    response = client.get(reverse("accounts:members", args=[project.slug]))
    assert response.status_code == 200
    html = response.content.decode()
    assert admin_user.username in html
    assert viewer.username in html
    assert "Add a member" not in html
    assert 'name="role"' not in html
    assert "Remove" not in html


def test_it_shows_admins_the_member_controls(client, admin_user, viewer, project):  # type: ignore[no-untyped-def]
    client.force_login(admin_user)
    html = client.get(reverse("accounts:members", args=[project.slug])).content.decode()
    membership = membership_of(viewer, project)
    assert "Add or invite a member" in html
    assert f'hx-post="/projects/{project.slug}/members/{membership.pk}/role/"' in html
    assert f'hx-post="/projects/{project.slug}/members/{membership.pk}/remove/"' in html


def test_it_adds_a_member_by_email_with_htmx(client, admin_user, project):  # type: ignore[no-untyped-def]
    newcomer = UserFactory(username="newcomer", email="New.Comer@example.org")
    client.force_login(admin_user)

    response = client.post(
        reverse("accounts:member_add", args=[project.slug]),
        {"identifier": "new.comer@example.org", "role": "designer"},
        **HTMX,
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="members"')
    assert "<html" not in html
    assert "newcomer added as designer." in html
    assert membership_of(newcomer, project).role == Role.DESIGNER


def test_it_adds_a_member_by_username_without_javascript(client, admin_user, project):  # type: ignore[no-untyped-def]
    newcomer = UserFactory(username="newcomer")
    client.force_login(admin_user)

    response = client.post(
        reverse("accounts:member_add", args=[project.slug]),
        {"identifier": "newcomer", "role": "viewer"},
        follow=True,
    )

    assert response.redirect_chain == [(f"/projects/{project.slug}/members/", 302)]
    assert "newcomer added as viewer." in response.content.decode()
    assert membership_of(newcomer, project).role == Role.VIEWER


def test_it_tells_when_no_user_has_the_username(client, admin_user, project):  # type: ignore[no-untyped-def]
    client.force_login(admin_user)
    response = client.post(
        reverse("accounts:member_add", args=[project.slug]),
        {"identifier": "ghost", "role": "viewer"},
        **HTMX,
    )
    assert response.status_code == 422
    assert response.context["form"].errors == {
        "identifier": [
            "No user is named 'ghost'. To invite someone new, enter their e-mail address."
        ]
    }
    assert Membership.objects.filter(project=project).count() == 1
    assert project.invitations.count() == 0


def test_it_shows_the_service_error_for_an_existing_member(client, admin_user, viewer, project):  # type: ignore[no-untyped-def]
    client.force_login(admin_user)
    response = client.post(
        reverse("accounts:member_add", args=[project.slug]),
        {"identifier": viewer.username, "role": "designer"},
        **HTMX,
    )
    assert response.status_code == 422
    assert f"{viewer.username} is already a member of this project." in response.content.decode()
    assert membership_of(viewer, project).role == Role.VIEWER


def test_it_refuses_member_changes_to_a_designer(client, designer, viewer, project):  # type: ignore[no-untyped-def]
    newcomer = UserFactory(username="newcomer")
    membership = membership_of(viewer, project)
    client.force_login(designer)

    add = client.post(
        reverse("accounts:member_add", args=[project.slug]),
        {"identifier": "newcomer", "role": "admin"},
    )
    role = client.post(
        reverse("accounts:member_role", args=[project.slug, membership.pk]), {"role": "admin"}
    )
    remove = client.post(reverse("accounts:member_remove", args=[project.slug, membership.pk]))

    assert [add.status_code, role.status_code, remove.status_code] == [403, 403, 403]
    assert membership_of(newcomer, project) is None
    assert membership_of(viewer, project).role == Role.VIEWER


def test_it_changes_a_role_with_htmx(client, admin_user, viewer, project):  # type: ignore[no-untyped-def]
    membership = membership_of(viewer, project)
    client.force_login(admin_user)

    response = client.post(
        reverse("accounts:member_role", args=[project.slug, membership.pk]),
        {"role": "annotator"},
        **HTMX,
    )

    assert response.status_code == 200
    assert f"{viewer.username} is now annotator." in response.content.decode()
    membership.refresh_from_db()
    assert membership.role == Role.ANNOTATOR


def test_it_reloads_the_page_when_admins_change_their_own_role(client, admin_user, project):  # type: ignore[no-untyped-def]
    MembershipFactory(project=project, user=UserFactory(username="other-admin"), role=Role.ADMIN)
    membership = membership_of(admin_user, project)
    client.force_login(admin_user)

    response = client.post(
        reverse("accounts:member_role", args=[project.slug, membership.pk]),
        {"role": "designer"},
        **HTMX,
    )

    assert response.status_code == 200
    assert response["HX-Refresh"] == "true"
    membership.refresh_from_db()
    assert membership.role == Role.DESIGNER


def test_it_keeps_the_last_admin(client, admin_user, project):  # type: ignore[no-untyped-def]
    membership = membership_of(admin_user, project)
    client.force_login(admin_user)

    demote = client.post(
        reverse("accounts:member_role", args=[project.slug, membership.pk]),
        {"role": "viewer"},
        **HTMX,
    )
    remove = client.post(
        reverse("accounts:member_remove", args=[project.slug, membership.pk]), **HTMX
    )

    for response in (demote, remove):
        assert response.status_code == 422
        html = response.content.decode()
        assert '<div class="alert alert-error" role="alert">' in html
        assert "A project must keep at least one admin." in html
    membership.refresh_from_db()
    assert membership.role == Role.ADMIN


def test_it_shows_the_last_admin_error_without_javascript(client, admin_user, project):  # type: ignore[no-untyped-def]
    membership = membership_of(admin_user, project)
    client.force_login(admin_user)

    response = client.post(
        reverse("accounts:member_remove", args=[project.slug, membership.pk]), follow=True
    )

    assert response.redirect_chain == [(f"/projects/{project.slug}/members/", 302)]
    assert "A project must keep at least one admin." in response.content.decode()
    assert membership_of(admin_user, project) is not None


def test_it_refuses_an_unknown_role(client, admin_user, viewer, project):  # type: ignore[no-untyped-def]
    membership = membership_of(viewer, project)
    client.force_login(admin_user)
    response = client.post(
        reverse("accounts:member_role", args=[project.slug, membership.pk]),
        {"role": "owner"},
        **HTMX,
    )
    assert response.status_code == 422
    assert "Choose one of the roles." in response.content.decode()
    membership.refresh_from_db()
    assert membership.role == Role.VIEWER


def test_it_removes_a_member_with_htmx(client, admin_user, viewer, project):  # type: ignore[no-untyped-def]
    membership = membership_of(viewer, project)
    client.force_login(admin_user)

    response = client.post(
        reverse("accounts:member_remove", args=[project.slug, membership.pk]), **HTMX
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert f"{viewer.username} removed from the project." in html
    assert f'id="membership-{membership.pk}"' not in html
    assert membership_of(viewer, project) is None


def test_it_sends_an_admin_who_left_back_to_the_project_list(client, admin_user, project):  # type: ignore[no-untyped-def]
    other_admin = UserFactory(username="other-admin")
    MembershipFactory(project=project, user=other_admin, role=Role.ADMIN)
    membership = membership_of(admin_user, project)
    client.force_login(admin_user)

    response = client.post(
        reverse("accounts:member_remove", args=[project.slug, membership.pk]), **HTMX
    )

    assert response.status_code == 200
    assert response["HX-Redirect"] == "/projects/"
    assert membership_of(admin_user, project) is None


def test_it_does_not_touch_memberships_of_another_project(client, admin_user, project):  # type: ignore[no-untyped-def]
    elsewhere = MembershipFactory(role=Role.VIEWER)
    client.force_login(admin_user)
    response = client.post(
        reverse("accounts:member_role", args=[project.slug, elsewhere.pk]), {"role": "admin"}
    )
    assert response.status_code == 404
    elsewhere.refresh_from_db()
    assert elsewhere.role == Role.VIEWER
