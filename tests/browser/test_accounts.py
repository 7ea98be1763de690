"""Accounts without the Django admin, in the browser: an invitation from the members page
to a new member's first page, password reset and change, and API token rotation.

Screenshots go to /tmp/accounts-*.png."""

from __future__ import annotations

import re
import urllib.error
import urllib.request

import pytest
from django.core import mail

from apps.accounts.models import Membership, Role, User
from tests.browser.conftest import PROJECT_LIST, log_in
from tests.factories import PASSWORD, MembershipFactory, ProjectFactory, UserFactory

pytestmark = pytest.mark.browser

NEW_PASSWORD = "plum-orchard-42"


def _api_status(base_url: str, key: str) -> int:
    request = urllib.request.Request(
        f"{base_url}/api/v1/projects/", headers={"Authorization": f"Token {key}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - test server
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_an_invited_email_joins_the_project_with_its_role(page, browser, live_server):  # type: ignore[no-untyped-def]
    project = ProjectFactory(name="Helpfulness", slug="helpfulness")
    admin = UserFactory(username="ada")
    MembershipFactory(project=project, user=admin, role=Role.ADMIN)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    log_in(page, "ada", PASSWORD)

    page.goto("/projects/helpfulness/members/")
    page.fill("input[name=identifier]", "nora@example.org")
    page.select_option(".add-member-form select[name=role]", "designer")
    page.click("button:has-text('Add or invite')")
    link_box = page.locator("#invite-link")
    try:
        link_box.wait_for()
    finally:
        page.screenshot(path="/tmp/accounts-invited.png", full_page=True)
    page.screenshot(path="/tmp/accounts-invited.png", full_page=True)
    link = link_box.input_value()
    assert re.fullmatch(rf"{live_server.url}/invitations/\d+/[A-Za-z0-9_-]{{43}}/", link)
    assert page.locator("#invitations").inner_text().count("nora@example.org") == 1
    page.click("button:has-text('Copy link')")
    page.locator("button:has-text('Copied')").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == link
    assert len(mail.outbox) == 1
    assert link in mail.outbox[0].body

    # The invitee, in a browser of their own.
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    try:
        invitee = context.new_page()
        invitee.goto(link)
        assert invitee.locator("h1").inner_text() == "Join Helpfulness"
        invitee.fill("input[name=username]", "nora")
        invitee.fill("input[name=password1]", NEW_PASSWORD)
        invitee.fill("input[name=password2]", "not the same")
        invitee.click("button:has-text('Create account and join')")
        assert invitee.locator("#id_password2_error").inner_text() == "The two passwords differ."
        invitee.screenshot(path="/tmp/accounts-accept-error.png", full_page=True)
        invitee.fill("input[name=password1]", NEW_PASSWORD)
        invitee.fill("input[name=password2]", NEW_PASSWORD)
        invitee.click("button:has-text('Create account and join')")
        invitee.wait_for_url(re.compile(r"/projects/helpfulness/$"))
        invitee.screenshot(path="/tmp/accounts-joined.png", full_page=True)
        assert "Welcome to Helpfulness: you are designer." in invitee.content()
        assert invitee.locator(".topbar .badge-role").inner_text() == "Designer"
        assert invitee.locator(".user-name").inner_text() == "nora"
        # The link worked once.
        invitee.goto(link)
        assert "This invitation has already been accepted." in invitee.content()
        invitee.screenshot(path="/tmp/accounts-link-used.png", full_page=True)
    finally:
        context.close()
    nora = User.objects.get(username="nora")
    assert Membership.objects.get(project=project, user=nora).role == Role.DESIGNER
    page.goto("/projects/helpfulness/members/")
    assert page.locator("#invitations").count() == 0
    assert "nora" in page.locator("#members table").inner_text()


def test_a_forgotten_password_is_reset_by_email_then_changed(page):  # type: ignore[no-untyped-def]
    UserFactory(username="bea", email="bea@example.org")

    page.goto("/accounts/login/")
    page.click("a:has-text('Forgot password?')")
    page.fill("input[name=email]", "bea@example.org")
    page.click("button:has-text('Send the link')")
    page.locator("h1:has-text('Check your e-mail')").wait_for()
    link = re.search(r"http://\S+/accounts/password/reset/\S+/", mail.outbox[0].body).group(0)
    page.goto(link)
    page.fill("input[name=new_password1]", NEW_PASSWORD)
    page.fill("input[name=new_password2]", NEW_PASSWORD)
    page.screenshot(path="/tmp/accounts-reset-form.png", full_page=True)
    page.click("button:has-text('Set password')")
    page.locator("h1:has-text('Password set')").wait_for()
    log_in(page, "bea", NEW_PASSWORD)

    page.click(".user-menu summary")
    page.click("a:has-text('Account and API token')")
    page.click("a:has-text('Change password')")
    page.fill("input[name=old_password]", NEW_PASSWORD)
    page.fill("input[name=new_password1]", "quince-harbour-77")
    page.fill("input[name=new_password2]", "quince-harbour-77")
    page.click("button:has-text('Change password')")
    page.locator("h1:has-text('Password changed')").wait_for()
    page.screenshot(path="/tmp/accounts-password-changed.png", full_page=True)
    assert User.objects.get(username="bea").check_password("quince-harbour-77")


def test_a_user_creates_shows_copies_and_rotates_their_api_token(page, live_server):  # type: ignore[no-untyped-def]
    UserFactory(username="cy")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    log_in(page, "cy", PASSWORD)
    assert PROJECT_LIST.match(page.url)

    page.goto("/accounts/account/")
    page.click("button:has-text('Create token')")
    token = page.locator("#token-key")
    assert token.get_attribute("type") == "password"
    page.click("button:has-text('Show')")
    assert token.get_attribute("type") == "text"
    old = token.input_value()
    page.click("button[data-copy=token-key]")
    assert page.evaluate("navigator.clipboard.readText()") == old
    assert _api_status(live_server.url, old) == 200
    page.screenshot(path="/tmp/accounts-token.png", full_page=True)

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button:has-text('Rotate token')")
    page.locator("text=New API token created; the old one no longer works.").wait_for()
    new = page.locator("#token-key").input_value()
    page.screenshot(path="/tmp/accounts-token-rotated.png", full_page=True)

    assert new != old
    assert _api_status(live_server.url, old) == 401
    assert _api_status(live_server.url, new) == 200


def test_new_project_is_hidden_from_users_who_may_not_create(page):  # type: ignore[no-untyped-def]
    UserFactory(username="dee")
    log_in(page, "dee", PASSWORD)

    assert page.locator("text=New project").count() == 0
    assert "Ask a project admin to add you." in page.content()
    page.screenshot(path="/tmp/accounts-no-new-project.png", full_page=True)
