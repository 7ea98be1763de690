"""API token authentication with the token → user lookup cached for a short while.

Scripts and labelling front-ends send a token on every call; reading the token and
its user from Postgres each time was a sizeable share of the annotation hot path.
The pair is kept in the shared cache (Redis in production) under a hash of the key
for `TOKEN_CACHE_SECONDS`. Rotating a token (`token_issue(rotate=True)`) removes the
old key from the cache at once; other changes to a user (deactivation in the admin)
take effect within `TOKEN_CACHE_SECONDS`.
"""

from __future__ import annotations

import hashlib

from django.core.cache import cache
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token

from apps.accounts.models import User

TOKEN_CACHE_SECONDS = 30


def _cache_key(key: str) -> str:
    return "auth:token:" + hashlib.sha256(key.encode()).hexdigest()


def token_forget(key: str) -> None:
    """Drop a token from the cache, so that the next request reads it from the database."""
    cache.delete(_cache_key(key))


class CachedTokenAuthentication(TokenAuthentication):
    """DRF's TokenAuthentication (same header, same errors), with the lookup cached."""

    def authenticate_credentials(self, key: str) -> tuple[User, Token]:
        cache_key = _cache_key(key)
        user = cache.get(cache_key)
        if user is not None:
            return user, Token(key=key, user=user)
        # Unknown or inactive: DRF raises AuthenticationFailed, and nothing is cached.
        user, token = super().authenticate_credentials(key)
        cache.set(cache_key, user, TOKEN_CACHE_SECONDS)
        return user, token
