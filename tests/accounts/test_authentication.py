"""Token authentication with the cached token → user lookup."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from apps.accounts.authentication import CHANNEL, _cache_key, local_tokens
from apps.accounts.models import User
from apps.accounts.services import token_issue
from tests.api import token_client

pytestmark = pytest.mark.django_db

INVALID = {"error": {"code": "authentication_failed", "message": "Invalid token.", "details": {}}}


def _token_reads(context: CaptureQueriesContext) -> int:
    """Authentication's lookup: the token joined to its user (the view reads the token too)."""
    return sum(
        'FROM "authtoken_token" INNER JOIN "accounts_user"' in query["sql"]
        for query in context.captured_queries
    )


def test_a_token_is_read_once_then_served_from_the_cache(outsider: User) -> None:
    client = token_client(outsider)
    key = token_issue(user=outsider).key
    cache.delete(_cache_key(key))

    with CaptureQueriesContext(connection) as first:
        assert client.get("/api/v1/tokens/me/").status_code == 200
    with CaptureQueriesContext(connection) as second:
        assert client.get("/api/v1/tokens/me/").status_code == 200

    assert (_token_reads(first), _token_reads(second)) == (1, 0)
    assert cache.get(_cache_key(key)).pk == outsider.pk


def test_a_rotated_token_is_refused_at_once_even_when_it_was_cached(outsider: User) -> None:
    old = token_issue(user=outsider).key
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {old}")
    assert client.get("/api/v1/tokens/me/").status_code == 200  # now cached

    new = token_issue(user=outsider, rotate=True).key

    refused = client.get("/api/v1/tokens/me/")
    assert (refused.status_code, refused.json()) == (401, INVALID)
    assert cache.get(_cache_key(old)) is None
    client.credentials(HTTP_AUTHORIZATION=f"Token {new}")
    assert client.get("/api/v1/tokens/me/").json()["key"] == new


def test_an_unknown_or_inactive_token_is_refused_and_not_cached(outsider: User) -> None:
    key = token_issue(user=outsider).key
    User.objects.filter(pk=outsider.pk).update(is_active=False)
    client = APIClient()

    for sent in (key, "0" * 40):
        client.credentials(HTTP_AUTHORIZATION=f"Token {sent}")
        response = client.get("/api/v1/tokens/me/")
        assert response.status_code == 401
        assert cache.get(_cache_key(sent)) is None


def test_the_cache_keeps_one_redis_client_per_pool() -> None:
    backend = cache._cache  # type: ignore[attr-defined]

    assert backend.get_client() is backend.get_client()
    assert backend.get_client(write=True) is backend.get_client("key", write=True)
    cache.set("one-client", 1)
    assert cache.get("one-client") == 1


# --- each web process's own memory of tokens ----------------------------------------------


def _listening() -> None:
    """Start this process's listener (the first lookup does) and wait until it hears."""
    local_tokens.get("start")
    deadline = time.monotonic() + 5
    while not local_tokens.listening():
        assert time.monotonic() < deadline, "the token listener did not subscribe"
        time.sleep(0.02)


def _wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 5
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_a_process_serves_a_token_it_read_lately_without_asking_redis(outsider: User) -> None:
    _listening()
    client = token_client(outsider)
    key = token_issue(user=outsider).key
    assert client.get("/api/v1/tokens/me/").status_code == 200
    cache.delete(_cache_key(key))  # Redis no longer has it

    with CaptureQueriesContext(connection) as again:
        assert client.get("/api/v1/tokens/me/").status_code == 200

    assert _token_reads(again) == 0
    assert cache.get(_cache_key(key)) is None  # served from this process's memory
    # Each request gets its own instance of the user.
    assert local_tokens.get(_cache_key(key)) is not local_tokens.get(_cache_key(key))


def test_a_token_another_process_forgets_is_dropped_here_at_once(outsider: User) -> None:
    _listening()
    key = token_issue(user=outsider).key
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/tokens/me/").status_code == 200
    assert local_tokens.get(_cache_key(key)) is not None

    # Another web process rotates it: the row goes, then its token_forget removes the key
    # from Redis and publishes it, on a connection of its own.
    Token.objects.filter(key=key).delete()
    cache.delete(_cache_key(key))
    other = redis.Redis.from_url(settings.CACHES["default"]["LOCATION"])
    try:
        assert other.publish(CHANNEL, _cache_key(key)) >= 1
    finally:
        other.close()

    _wait_until(lambda: local_tokens.get(_cache_key(key)) is None)
    refused = client.get("/api/v1/tokens/me/")
    assert (refused.status_code, refused.json()) == (401, INVALID)


def test_a_lost_subscription_drops_every_token_kept_in_memory(outsider: User) -> None:
    _listening()
    key = token_issue(user=outsider).key
    client = token_client(outsider)
    assert client.get("/api/v1/tokens/me/").status_code == 200
    assert local_tokens.get(_cache_key(key)) is not None

    # Redis drops the subscriber's connection: whatever was published meanwhile is lost
    # to this process, so it must not trust what it kept.
    admin = redis.Redis.from_url(settings.CACHES["default"]["LOCATION"])
    try:
        assert admin.client_kill_filter(_type="pubsub") >= 1
    finally:
        admin.close()

    _wait_until(lambda: local_tokens.get(_cache_key(key)) is None)
    _listening()  # it subscribes again
    cache.delete(_cache_key(key))
    with CaptureQueriesContext(connection) as after:
        assert client.get("/api/v1/tokens/me/").status_code == 200
    assert _token_reads(after) == 1
