"""The user's own account (password, API token), who may create projects, and removing a
member from a project."""

from __future__ import annotations

import re

import pytest
from django.contrib import auth
from django.core import mail
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from apps.accounts.models import Project
from apps.accounts.services import membership_remove, token_issue
from apps.annotation.models import Assignment, Label
from apps.annotation.schema import Judgment
from apps.annotation.services import assignment_next, comparisons_generate, label_submit
from tests.conftest import PASSWORD, membership_of
from tests.factories import PromptFactory, ResponseFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def _api_status(key: str) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client.get("/api/v1/projects/").status_code


# --- API token ------------------------------------------------------------------------------


def test_the_account_page_shows_the_token_masked_with_copy_and_rotate(client, outsider):  # type: ignore[no-untyped-def]
    key = token_issue(user=outsider).key
    client.force_login(outsider)

    html = client.get(reverse("accounts:account")).content.decode()

    assert f'<input type="password" id="token-key" class="mono" readonly value="{key}">' in html
    assert 'data-copy="token-key"' in html
    assert f'action="{reverse("accounts:token_rotate")}"' in html


def test_a_user_without_a_token_creates_one(client, outsider):  # type: ignore[no-untyped-def]
    client.force_login(outsider)
    assert "You have no API token yet." in client.get(reverse("accounts:account")).content.decode()

    response = client.post(reverse("accounts:token_rotate"), follow=True)

    assert response.redirect_chain == [("/accounts/account/", 302)]
    key = Token.objects.get(user=outsider).key
    assert "API token created." in response.content.decode()
    assert _api_status(key) == 200


def test_rotating_on_the_page_refuses_the_old_key_at_once_even_when_cached(client, outsider):  # type: ignore[no-untyped-def]
    old = token_issue(user=outsider).key
    assert _api_status(old) == 200  # now in the token caches
    client.force_login(outsider)

    response = client.post(reverse("accounts:token_rotate"), follow=True)

    new = Token.objects.get(user=outsider).key
    assert new != old
    assert "New API token created; the old one no longer works." in response.content.decode()
    assert new in response.content.decode()
    assert _api_status(old) == 401
    assert _api_status(new) == 200


def test_the_account_pages_need_a_login_and_rotation_a_post(client, outsider):  # type: ignore[no-untyped-def]
    key = token_issue(user=outsider).key

    assert client.get(reverse("accounts:account")).status_code == 302
    assert client.post(reverse("accounts:token_rotate")).status_code == 302
    client.force_login(outsider)
    assert client.get(reverse("accounts:token_rotate")).status_code == 405
    assert Token.objects.get(user=outsider).key == key


def test_rotation_needs_the_csrf_token(outsider):  # type: ignore[no-untyped-def]
    from django.test import Client

    key = token_issue(user=outsider).key
    client = Client(enforce_csrf_checks=True)
    client.force_login(outsider)

    assert client.post(reverse("accounts:token_rotate")).status_code == 403
    assert Token.objects.get(user=outsider).key == key


# --- passwords ----------------------------------------------------------------------------


def test_a_user_changes_their_password(client, outsider):  # type: ignore[no-untyped-def]
    client.force_login(outsider)
    assert 'href="/accounts/password/change/"' in client.get("/accounts/account/").content.decode()

    wrong = client.post(
        reverse("accounts:password_change"),
        {"old_password": "nope", "new_password1": "plum-orchard-42",
         "new_password2": "plum-orchard-42"},
    )  # fmt: skip
    right = client.post(
        reverse("accounts:password_change"),
        {"old_password": PASSWORD, "new_password1": "plum-orchard-42",
         "new_password2": "plum-orchard-42"},
        follow=True,
    )  # fmt: skip

    assert wrong.status_code == 200
    assert wrong.context["form"].errors == {
        "old_password": ["Your old password was entered incorrectly. Please enter it again."]
    }
    assert right.redirect_chain == [("/accounts/password/change/done/", 302)]
    assert "Password changed" in right.content.decode()
    outsider.refresh_from_db()
    assert outsider.check_password("plum-orchard-42")
    assert auth.get_user(client) == outsider  # still signed in


def test_a_user_resets_a_forgotten_password_by_email(client, outsider):  # type: ignore[no-untyped-def]
    login_page = client.get(reverse("accounts:login")).content.decode()
    assert '<a href="/accounts/password/reset/">Forgot password?</a>' in login_page

    sent = client.post(
        reverse("accounts:password_reset"), {"email": outsider.email.upper()}, follow=True
    )
    unknown = client.post(reverse("accounts:password_reset"), {"email": "nobody@example.org"})

    assert sent.redirect_chain == [("/accounts/password/reset/sent/", 302)]
    assert unknown.status_code == 302  # no hint whether an account has this address
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [outsider.email]
    assert message.subject == "Reset your Palate password"
    link = re.search(r"http://testserver(/accounts/password/reset/\S+/)", message.body).group(1)
    form = client.get(link, follow=True)
    assert "Choose a new password" in form.content.decode()
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "plum-orchard-42", "new_password2": "plum-orchard-42"},
        follow=True,
    )
    assert done.redirect_chain[-1] == ("/accounts/password/reset/done/", 302)
    outsider.refresh_from_db()
    assert outsider.check_password("plum-orchard-42")
    again = client.get(link, follow=True)
    assert "This link no longer works" in again.content.decode()


# --- who may create projects -------------------------------------------------------------


def test_only_staff_see_and_may_use_new_project_by_default(client, outsider, staff):  # type: ignore[no-untyped-def]
    client.force_login(outsider)
    page = client.get(reverse("accounts:project_list")).content.decode()
    refused = client.post(reverse("accounts:project_create"), {"name": "Mine"})
    api = APIClient()
    api.force_authenticate(outsider)
    api_refused = api.post("/api/v1/projects/", {"name": "Mine"}, format="json")
    client.force_login(staff)
    staff_page = client.get(reverse("accounts:project_list")).content.decode()

    assert "New project" not in page
    assert "Ask a project admin to add you." in page
    assert refused.status_code == 403
    assert api_refused.status_code == 403
    assert api_refused.json()["error"]["message"] == (
        "Only staff may create projects here; ask an administrator."
    )
    assert Project.objects.count() == 0
    assert "New project" in staff_page


def test_project_creators_all_lets_anyone_create(client, outsider, settings):  # type: ignore[no-untyped-def]
    settings.PROJECT_CREATORS = "all"
    client.force_login(outsider)

    page = client.get(reverse("accounts:project_list")).content.decode()
    response = client.post(reverse("accounts:project_create"), {"name": "Mine"})

    assert "New project" in page
    assert response.status_code == 302
    assert membership_of(outsider, Project.objects.get(name="Mine")).role == "admin"


# --- removing a member ----------------------------------------------------------------------


def test_removing_a_member_releases_their_leases_and_keeps_their_labels(
    project, admin_user, annotator
):  # type: ignore[no-untyped-def]
    prompt = PromptFactory(project=project)
    for _ in range(3):
        ResponseFactory(prompt=prompt)
    comparisons_generate(project=project)
    judged = assignment_next(project=project, user=annotator)
    label = label_submit(
        assignment=judged, user=annotator, judgment=Judgment(idempotency_key="remove-1", choice="a")
    ).label
    held = assignment_next(project=project, user=annotator)
    before = timezone.now()

    membership_remove(membership=membership_of(annotator, project))

    held.refresh_from_db()
    assert held.status == Assignment.Status.LEASED
    assert before <= held.expires_at <= timezone.now()
    assert Label.objects.get(pk=label.pk).annotator == annotator
    assert membership_of(annotator, project) is None
    assert Assignment.objects.filter(annotator=annotator).count() == 2


def test_the_remove_button_says_labels_stay(client, project, admin_user, annotator):  # type: ignore[no-untyped-def]
    client.force_login(admin_user)

    html = client.get(reverse("accounts:members", args=[project.slug])).content.decode()

    assert (
        f"Remove {annotator.username} from {project.name}? Their labels stay; the items they"
        " hold go back to the queue." in html
    )
