"""Token authentication with the cached token → user lookup."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from apps.accounts.authentication import _cache_key
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
