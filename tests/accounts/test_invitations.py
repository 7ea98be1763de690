"""Inviting people to a project: the service, the members page, the link, the API."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib import auth
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import Invitation, Membership, Project, Role, User
from apps.accounts.selectors import invitation_by_link
from apps.accounts.services import (
    invitation_accept,
    invitation_create,
    invitation_revoke,
    member_invite,
)
from apps.core.errors import ApplicationError
from tests.api import FORBIDDEN, NOT_FOUND, token_client
from tests.conftest import PASSWORD, membership_of
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

SITE = "http://testserver/"
HTMX = {"HTTP_HX_REQUEST": "true"}
LINK = re.compile(r"http://testserver/invitations/(\d+)/([A-Za-z0-9_-]+)/")


def _invite(project: Project, admin: User, email: str = "Nora@Example.org", role: str = "designer"):  # type: ignore[no-untyped-def]
    return invitation_create(
        project=project, email=email, role=role, invited_by=admin, site_url=SITE
    )


def _path(link: str) -> str:
    return link.removeprefix("http://testserver")


# --- the service ------------------------------------------------------------------------


def test_an_invitation_stores_only_the_hash_of_its_link_and_emails_the_link(
    project, admin_user, django_capture_on_commit_callbacks, settings
):  # type: ignore[no-untyped-def]
    settings.INVITATION_EXPIRY_DAYS = 3
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        sent = _invite(project, admin_user)

    invitation = Invitation.objects.get()
    pk, key = LINK.fullmatch(sent.link).groups()
    assert int(pk) == invitation.pk
    assert len(key) == 43
    assert key not in invitation.key_hash
    assert len(invitation.key_hash) == 64
    assert (invitation.email, invitation.role, invitation.invited_by) == (
        "Nora@Example.org", "designer", admin_user,
    )  # fmt: skip
    assert before + timedelta(days=3) <= invitation.expires_at <= timezone.now() + timedelta(days=3)
    assert invitation.state(timezone.now()) == Invitation.State.PENDING
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["Nora@Example.org"]
    assert message.subject == f"You are invited to {project.name} on Palate"
    assert sent.link in message.body
    assert f'invited you to the Palate project "{project.name}" as designer.' in message.body


def test_the_link_is_found_only_with_its_exact_secret(project, admin_user):  # type: ignore[no-untyped-def]
    sent = _invite(project, admin_user)
    pk, key = LINK.fullmatch(sent.link).groups()

    assert invitation_by_link(invitation_id=int(pk), key=key) == sent.invitation
    assert invitation_by_link(invitation_id=int(pk), key=key[:-1] + "x") is None
    assert invitation_by_link(invitation_id=int(pk) + 1, key=key) is None


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("nora@", "'nora@' is not a valid e-mail address."),
        ("admin-{slug}@example.org", "admin-{slug}@example.org already has an account: add them"
         " by their username instead."),
        ("NORA@example.org", "NORA@example.org is already invited. Revoke that invitation to send"
         " a new one."),
    ],
)  # fmt: skip
def test_bad_or_duplicate_invitations_are_refused(project, admin_user, email, message):  # type: ignore[no-untyped-def]
    _invite(project, admin_user, email="nora@example.org")
    email, message = email.format(slug=project.slug), message.format(slug=project.slug)

    with pytest.raises(ApplicationError) as error:
        _invite(project, admin_user, email=email)

    assert error.value.message == message
    assert Invitation.objects.count() == 1


def test_an_expired_or_revoked_invitation_may_be_sent_again(project, admin_user):  # type: ignore[no-untyped-def]
    first = _invite(project, admin_user).invitation
    Invitation.objects.filter(pk=first.pk).update(expires_at=timezone.now())
    second = _invite(project, admin_user).invitation
    invitation_revoke(invitation=second)

    third = _invite(project, admin_user).invitation

    assert [i.state(timezone.now()) for i in Invitation.objects.order_by("pk")] == [
        Invitation.State.EXPIRED, Invitation.State.REVOKED, Invitation.State.PENDING,
    ]  # fmt: skip
    assert third.pk > second.pk


def test_inviting_an_existing_username_or_email_adds_the_member_at_once(project, admin_user):  # type: ignore[no-untyped-def]
    jane = UserFactory(username="jane", email="Jane@Example.org")
    bob = UserFactory(username="bob")

    by_email = member_invite(
        project=project, identifier=" jane@example.org ", role="annotator",
        invited_by=admin_user, site_url=SITE,
    )  # fmt: skip
    by_name = member_invite(
        project=project, identifier="bob", role="viewer", invited_by=admin_user, site_url=SITE
    )

    assert (by_email.membership.user, by_email.membership.role, by_email.sent) == (
        jane, "annotator", None,
    )  # fmt: skip
    assert (by_name.membership.user, by_name.membership.role) == (bob, "viewer")
    assert Invitation.objects.count() == 0


def test_accepting_creates_the_account_and_the_membership_once(project, admin_user):  # type: ignore[no-untyped-def]
    invitation = _invite(project, admin_user).invitation

    membership = invitation_accept(invitation=invitation, username="nora", password=PASSWORD)

    user = User.objects.get(username="nora")
    assert (membership.user, membership.project, membership.role) == (user, project, "designer")
    assert user.email == "Nora@example.org"  # the domain lower-cased, as Django does
    assert user.check_password(PASSWORD)
    invitation.refresh_from_db()
    assert invitation.accepted_by == user
    assert invitation.state(timezone.now()) == Invitation.State.ACCEPTED
    with pytest.raises(ApplicationError) as error:
        invitation_accept(invitation=invitation, username="nora2", password=PASSWORD)
    assert error.value.message == "This invitation has already been accepted."
    assert User.objects.filter(username="nora2").count() == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"revoked_at": timezone.now()}, "This invitation was revoked by a project admin."),
        ({"expires_at": timezone.now()}, "This invitation has expired."),
    ],
)
def test_a_revoked_or_expired_invitation_cannot_be_accepted(project, admin_user, change, message):  # type: ignore[no-untyped-def]
    invitation = _invite(project, admin_user).invitation
    Invitation.objects.filter(pk=invitation.pk).update(**change)

    with pytest.raises(ApplicationError) as error:
        invitation_accept(invitation=invitation, username="nora", password=PASSWORD)

    assert error.value.message == message
    assert not User.objects.filter(username="nora").exists()
    assert Membership.objects.filter(project=project).count() == 1


def test_a_signed_in_user_accepts_as_themselves(project, admin_user, outsider):  # type: ignore[no-untyped-def]
    invitation = _invite(project, admin_user, role="viewer").invitation

    membership = invitation_accept(invitation=invitation, user=outsider)

    assert (membership.user, membership.role) == (outsider, "viewer")


# --- the members page -------------------------------------------------------------------


def test_an_admin_invites_an_email_and_is_shown_the_link_to_copy(
    client, project, admin_user, django_capture_on_commit_callbacks
):  # type: ignore[no-untyped-def]
    client.force_login(admin_user)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("accounts:member_add", args=[project.slug]),
            {"identifier": "nora@example.org", "role": "annotator"},
            **HTMX,
        )

    assert response.status_code == 200
    html = response.content.decode()
    invitation = Invitation.objects.get()
    link = LINK.search(html).group(0)
    assert f'id="invite-link" class="mono" readonly value="{link}"' in html
    assert "Invitation e-mailed to nora@example.org as annotator." in html
    assert f'id="invitation-{invitation.pk}"' in html
    assert mail.outbox[0].to == ["nora@example.org"]
    assert link in mail.outbox[0].body


def test_the_members_page_lists_pending_invitations_only_to_admins(
    client, project, admin_user, viewer
):  # type: ignore[no-untyped-def]
    _invite(project, admin_user)
    expired = _invite(project, admin_user, email="old@example.org").invitation
    Invitation.objects.filter(pk=expired.pk).update(expires_at=timezone.now())
    url = reverse("accounts:members", args=[project.slug])

    client.force_login(admin_user)
    admin_html = client.get(url).content.decode()
    client.force_login(viewer)
    viewer_html = client.get(url).content.decode()

    assert "Pending invitations" in admin_html
    assert "Nora@Example.org" in admin_html
    assert "old@example.org" not in admin_html
    assert "Nora@Example.org" not in viewer_html


def test_an_admin_revokes_an_invitation_and_its_link_stops_working(client, project, admin_user):  # type: ignore[no-untyped-def]
    sent = _invite(project, admin_user)
    client.force_login(admin_user)

    response = client.post(
        reverse("accounts:invitation_revoke", args=[project.slug, sent.invitation.pk]), **HTMX
    )

    assert response.status_code == 200
    assert "The invitation of Nora@Example.org was revoked." in response.content.decode()
    client.logout()
    page = client.get(_path(sent.link))
    assert page.status_code == 410
    assert "This invitation was revoked by a project admin." in page.content.decode()


def test_revoking_an_accepted_invitation_says_so(client, project, admin_user):  # type: ignore[no-untyped-def]
    sent = _invite(project, admin_user)
    invitation_accept(invitation=sent.invitation, username="nora", password=PASSWORD)
    client.force_login(admin_user)

    response = client.post(
        reverse("accounts:invitation_revoke", args=[project.slug, sent.invitation.pk]), **HTMX
    )

    assert response.status_code == 422
    assert "This invitation has already been accepted." in response.content.decode()


def test_another_projects_invitation_is_not_found(client, project, admin_user):  # type: ignore[no-untyped-def]
    other = Project.objects.create(name="Other", slug="other")
    Membership.objects.create(project=other, user=admin_user, role=Role.ADMIN)
    sent = _invite(other, admin_user)
    client.force_login(admin_user)

    response = client.post(
        reverse("accounts:invitation_revoke", args=[project.slug, sent.invitation.pk])
    )

    assert response.status_code == 404
    sent.invitation.refresh_from_db()
    assert sent.invitation.revoked_at is None


# --- the link ---------------------------------------------------------------------------


def test_the_link_creates_an_account_logs_in_and_lands_on_the_project(client, project, admin_user):  # type: ignore[no-untyped-def]
    sent = _invite(project, admin_user)
    page = client.get(_path(sent.link))
    assert page.status_code == 200
    assert f"Join {project.name}" in page.content.decode()

    response = client.post(
        _path(sent.link),
        {"username": "nora", "password1": "plum-orchard-42", "password2": "plum-orchard-42"},
        follow=True,
    )

    assert response.redirect_chain == [(f"/projects/{project.slug}/", 302)]
    assert f"Welcome to {project.name}: you are designer." in response.content.decode()
    user = auth.get_user(client)
    assert user.username == "nora"
    assert membership_of(user, project).role == Role.DESIGNER
    again = client.get(_path(sent.link))
    assert again.status_code == 410
    assert "This invitation has already been accepted." in again.content.decode()


@pytest.mark.parametrize(
    ("data", "errors"),
    [
        ({"username": "admin-{slug}", "password1": "plum-orchard-42",
          "password2": "plum-orchard-42"},
         {"username": ["This username is taken; choose another."]}),
        ({"username": "nora", "password1": "plum-orchard-42", "password2": "plum-orchard-43"},
         {"password2": ["The two passwords differ."]}),
        ({"username": "nora", "password1": "12345678", "password2": "12345678"},
         {"password1": ["This password is too common."]}),
        ({"username": "no ra", "password1": "plum-orchard-42", "password2": "plum-orchard-42"},
         {"username": ["Enter a valid username. This value may contain only letters, numbers,"
                       " and @/./+/-/_ characters."]}),
    ],
)  # fmt: skip
def test_the_link_refuses_a_bad_username_or_password_and_stays_open(
    client, project, admin_user, data, errors
):  # type: ignore[no-untyped-def]
    sent = _invite(project, admin_user)
    data = {**data, "username": data["username"].format(slug=project.slug)}

    response = client.post(_path(sent.link), data)

    assert response.status_code == 200
    assert response.context["form"].errors == errors
    assert User.objects.filter(username="nora").count() == 0
    sent.invitation.refresh_from_db()
    assert sent.invitation.accepted_at is None


def test_a_wrong_secret_shows_a_clear_page(client, project, admin_user):  # type: ignore[no-untyped-def]
    sent = _invite(project, admin_user)

    response = client.get(_path(sent.link)[:-3] + "xy/")

    assert response.status_code == 404
    assert "This invitation link is not valid." in response.content.decode()


def test_an_expired_link_shows_a_clear_page(client, project, admin_user):  # type: ignore[no-untyped-def]
    sent = _invite(project, admin_user)
    Invitation.objects.filter(pk=sent.invitation.pk).update(expires_at=timezone.now())

    response = client.post(
        _path(sent.link),
        {"username": "nora", "password1": "plum-orchard-42", "password2": "plum-orchard-42"},
    )

    assert response.status_code == 410
    assert "This invitation has expired." in response.content.decode()
    assert not User.objects.filter(username="nora").exists()


def test_a_signed_in_user_joins_with_one_click(client, project, admin_user, outsider):  # type: ignore[no-untyped-def]
    sent = _invite(project, admin_user, role="annotator")
    client.force_login(outsider)
    assert f"Join as {outsider.username}" in client.get(_path(sent.link)).content.decode()

    response = client.post(_path(sent.link))

    assert response.status_code == 302
    assert membership_of(outsider, project).role == Role.ANNOTATOR


# --- the API ------------------------------------------------------------------------------


def test_the_api_invites_lists_and_revokes(project, admin_user, django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    api = token_client(admin_user)
    url = f"/api/v1/projects/{project.pk}/invitations/"

    with django_capture_on_commit_callbacks(execute=True):
        created = api.post(url, {"email": "nora@example.org", "role": "viewer"}, format="json")

    assert created.status_code == 201
    body = created.json()
    invitation = Invitation.objects.get()
    assert body["id"] == invitation.pk
    assert (body["email"], body["role"], body["invited_by"]) == (
        "nora@example.org", "viewer", admin_user.username,
    )  # fmt: skip
    assert LINK.fullmatch(body["link"])
    assert body["link"] in mail.outbox[0].body
    listed = api.get(url).json()
    assert [item["email"] for item in listed["results"]] == ["nora@example.org"]
    assert "link" not in listed["results"][0]

    revoked = api.delete(f"{url}{invitation.pk}/")

    assert revoked.status_code == 204
    assert api.get(url).json()["count"] == 0


def test_the_api_refuses_a_duplicate_or_an_existing_account(project, admin_user):  # type: ignore[no-untyped-def]
    api = token_client(admin_user)
    url = f"/api/v1/projects/{project.pk}/invitations/"
    api.post(url, {"email": "nora@example.org", "role": "viewer"}, format="json")

    duplicate = api.post(url, {"email": "nora@example.org", "role": "viewer"}, format="json")
    existing = api.post(url, {"email": admin_user.email, "role": "viewer"}, format="json")
    invalid = api.post(url, {"email": "nora", "role": "owner"}, format="json")

    assert duplicate.status_code == existing.status_code == invalid.status_code == 400
    assert duplicate.json()["error"]["message"] == (
        "nora@example.org is already invited. Revoke that invitation to send a new one."
    )
    assert existing.json()["error"]["message"] == (
        f"{admin_user.email} already has an account: add them by their username instead."
    )
    assert invalid.json()["error"]["details"] == {
        "email": ["Enter a valid email address."],
        "role": ['"owner" is not a valid choice.'],
    }
    assert Invitation.objects.count() == 1


def test_the_api_lets_only_admins_manage_invitations(project, admin_user, designer, outsider):  # type: ignore[no-untyped-def]
    sent = _invite(project, admin_user)
    url = f"/api/v1/projects/{project.pk}/invitations/"

    for user, expected, body in ((designer, 403, FORBIDDEN), (outsider, 404, NOT_FOUND)):
        api = token_client(user)
        answers = [
            api.get(url),
            api.post(url, {"email": "x@example.org", "role": "admin"}, format="json"),
            api.delete(f"{url}{sent.invitation.pk}/"),
        ]
        assert [answer.status_code for answer in answers] == [expected] * 3
        assert all(answer.json() == body for answer in answers)
    assert Invitation.objects.count() == 1
    sent.invitation.refresh_from_db()
    assert sent.invitation.revoked_at is None


def test_the_members_page_reads_the_same_number_of_times_for_more_members_and_invitations(
    client, project, admin_user
):  # type: ignore[no-untyped-def]
    url = reverse("accounts:members", args=[project.slug])
    client.force_login(admin_user)

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    _invite(project, admin_user, email="one@example.org")
    few = count()
    for number in range(8):
        inviter = UserFactory(username=f"inviter{number}")
        Membership.objects.create(project=project, user=inviter, role=Role.ADMIN)
        _invite(project, inviter, email=f"guest{number}@example.org")

    assert count() == few
