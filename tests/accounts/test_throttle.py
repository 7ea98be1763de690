"""Log-in and token throttling (apps/accounts/throttle.py): per account, per address."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import SESSION_KEY
from django.test import Client
from rest_framework.test import APIClient

from apps.accounts.models import User
from apps.accounts.services import token_issue
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

LOCKED = (
    "Too many failed log-ins for this account or from this address. Logging in is locked "
    "for 15 minutes after the last attempt; try again later, or ask an administrator of "
    "this instance to unlock it."
)


@pytest.fixture(autouse=True)
def _limits(settings) -> None:  # type: ignore[no-untyped-def]
    settings.LOGIN_FAILURE_LIMIT = settings.AXES_FAILURE_LIMIT = 5
    settings.LOGIN_LOCKOUT_SECONDS = 900
    settings.AXES_COOLOFF_TIME = timedelta(seconds=900)


def log_in(url: str, username: str, password: str, address: str = "10.0.0.1"):  # type: ignore[no-untyped-def]
    client = Client(REMOTE_ADDR=address)
    response = client.post(url, {"username": username, "password": password})
    return client, response


def signed_in(client: Client) -> bool:
    return SESSION_KEY in client.session


def age_attempts(seconds: int) -> None:
    """Move every recorded failure `seconds` into the past (instead of sleeping)."""
    for attempt in AccessAttempt.objects.all():
        attempt.attempt_time -= timedelta(seconds=seconds)
        attempt.save(update_fields=["attempt_time"])


@pytest.mark.parametrize("url", ["/accounts/login/", "/admin/login/"])
def test_wrong_passwords_lock_the_account_then_it_opens_after_the_delay(url: str) -> None:
    alice = UserFactory(username="alice", is_staff=True)
    answers = [log_in(url, "alice", f"guess-{i}")[1].status_code for i in range(5)]

    client, refused = log_in(url, "alice", PASSWORD)

    # Four wrong passwords are answered as wrong; the fifth locks; then even the right one
    # is refused, with the reason and the delay.
    assert answers == [200, 200, 200, 200, 429]
    assert refused.status_code == 429
    assert refused["Retry-After"] == "900"
    assert LOCKED in refused.content.decode()
    assert not signed_in(client)
    assert AccessAttempt.objects.get(username="alice").failures_since_start == 6

    # The same account from another address is locked too (per account) ...
    other_client, other = log_in(url, "alice", PASSWORD, address="10.9.9.9")
    assert other.status_code == 429
    assert not signed_in(other_client)

    # ... until the delay has passed since the last attempt.
    age_attempts(899)
    assert log_in(url, "alice", PASSWORD)[1].status_code == 429
    age_attempts(901)
    client, response = log_in(url, "alice", PASSWORD)
    assert response.status_code == 302
    assert signed_in(client)
    assert client.session[SESSION_KEY] == str(alice.pk)
    # A success clears the count.
    assert AccessAttempt.objects.filter(username="alice").count() == 0


def test_one_address_guessing_many_accounts_is_locked_but_not_other_addresses() -> None:
    UserFactory(username="bob")
    carol = UserFactory(username="carol")
    for i in range(5):
        log_in("/accounts/login/", f"user-{i}", "wrong", address="10.0.0.66")

    blocked_client, blocked = log_in("/accounts/login/", "carol", PASSWORD, address="10.0.0.66")
    client, response = log_in("/accounts/login/", "carol", PASSWORD, address="10.0.0.7")

    assert blocked.status_code == 429
    assert LOCKED in blocked.content.decode()
    assert not signed_in(blocked_client)
    assert response.status_code == 302
    assert client.session[SESSION_KEY] == str(carol.pk)


def test_another_account_from_another_address_still_logs_in() -> None:
    UserFactory(username="alice")
    dave = UserFactory(username="dave")
    for i in range(6):
        log_in("/accounts/login/", "alice", f"guess-{i}", address="10.0.0.1")

    client, response = log_in("/accounts/login/", "dave", PASSWORD, address="10.0.0.2")

    assert response.status_code == 302
    assert client.session[SESSION_KEY] == str(dave.pk)


def test_behind_a_trusted_proxy_the_forwarded_address_counts(settings) -> None:  # type: ignore[no-untyped-def]
    settings.TRUSTED_PROXY_COUNT = 1
    UserFactory(username="erin")
    proxy = "10.0.0.254"
    for i in range(5):
        Client(REMOTE_ADDR=proxy).post(
            "/accounts/login/",
            {"username": f"user-{i}", "password": "wrong"},
            headers={"x-forwarded-for": "6.6.6.6, 203.0.113.5"},  # the first is spoofable
        )

    other = Client(REMOTE_ADDR=proxy).post(
        "/accounts/login/",
        {"username": "erin", "password": PASSWORD},
        headers={"x-forwarded-for": "6.6.6.6, 198.51.100.9"},
    )

    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.5"}
    assert other.status_code == 302


def test_wrong_token_keys_from_one_address_are_throttled(outsider: User) -> None:
    key = token_issue(user=outsider).key
    guesser = APIClient(REMOTE_ADDR="10.0.0.66")
    answers = []
    for i in range(6):
        guesser.credentials(HTTP_AUTHORIZATION=f"Token {i:040x}")
        answers.append(guesser.get("/api/v1/tokens/me/").status_code)

    guesser.credentials(HTTP_AUTHORIZATION=f"Token {'f' * 40}")
    throttled = guesser.get("/api/v1/tokens/me/")
    honest = APIClient(REMOTE_ADDR="10.0.0.7")
    honest.credentials(HTTP_AUTHORIZATION=f"Token {key}")

    assert answers == [401, 401, 401, 401, 401, 429]
    assert throttled.status_code == 429
    assert throttled["Retry-After"] == "900"
    assert throttled.json() == {
        "error": {
            "code": "throttled",
            "message": "Too many requests with an invalid API token from this address. "
            "Expected available in 900 seconds.",
            "details": {},
        }
    }
    assert honest.get("/api/v1/tokens/me/").json()["key"] == key
