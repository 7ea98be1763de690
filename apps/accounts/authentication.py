"""API token authentication with the token → user lookup cached for a short while.

Scripts and labelling front-ends send a token on every call; reading the token and
its user from Postgres each time was a sizeable share of the annotation hot path.
The pair is kept in the shared cache (Redis in production) under a hash of the key
for `TOKEN_CACHE_SECONDS`, and each web process keeps the pairs it read lately for
`LOCAL_SECONDS` more in its own memory (`LocalTokens`), so that most calls do not wait
on Redis either: that round trip was a tenth of the web server's CPU on the annotation
benchmark.

Rotating a token (`token_issue(rotate=True)`) removes the old key from Redis and tells
every web process to drop it, over Redis publish/subscribe, at once. A process keeps
pairs in memory only while it is subscribed: when the subscription is down it drops
them all and reads Redis on every call until it is back. Other changes to a user
(deactivation in the admin) take effect within `TOKEN_CACHE_SECONDS` + `LOCAL_SECONDS`.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import os
import threading
import time
from typing import Any

from django.core.cache import cache
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from apps.accounts.models import User
from apps.accounts.throttle import token_failure_record

TOKEN_CACHE_SECONDS = 30
LOCAL_SECONDS = 5
LOCAL_MOST = 10_000  # pairs a process keeps; past it, the stale ones go, or all
CHANNEL = "palate:auth:forget"

logger = logging.getLogger(__name__)


def _cache_key(key: str) -> str:
    return "auth:token:" + hashlib.sha256(key.encode()).hexdigest()


def _redis(*, write: bool = False) -> Any | None:
    """The cache's redis-py client, or None when the cache is not Redis (development)."""
    backend = getattr(cache, "_cache", None)
    get_client = getattr(backend, "get_client", None)
    return get_client(write=write) if get_client is not None else None


class LocalTokens:
    """Token → user pairs this process read lately, kept while it hears about every
    token any process forgets (a Redis subscription, listened to in a thread)."""

    def __init__(self) -> None:
        self._users: dict[str, tuple[User, float]] = {}
        self._lock = threading.Lock()
        self._generation = 0  # counts forgettings: a read that spans one is not kept
        self._listening = False
        self._pid = 0  # the process whose thread listens (a fork needs its own)

    def get(self, cache_key: str) -> User | None:
        """A copy of the user kept for this token (each request gets its own instance,
        as it did when unpickled from Redis); None if not kept, stale, or not listening."""
        if self._pid != os.getpid():
            self._start()
        found = self._users.get(cache_key)
        if found is None or not self._listening:
            return None
        user, until = found
        return copy.copy(user) if time.monotonic() < until else None

    def generation(self) -> int:
        return self._generation

    def keep(self, cache_key: str, user: User, generation: int) -> None:
        """Keep a pair read from Redis or the database, unless a token was forgotten
        since `generation` was taken (the pair may be that token's)."""
        with self._lock:
            if not self._listening or generation != self._generation:
                return
            now = time.monotonic()
            if len(self._users) >= LOCAL_MOST:
                self._users = {k: v for k, v in self._users.items() if v[1] > now}
                if len(self._users) >= LOCAL_MOST:
                    self._users.clear()
            self._users[cache_key] = (copy.copy(user), now + LOCAL_SECONDS)

    def forget(self, cache_key: str | None = None) -> None:
        """Drop one pair, or all of them."""
        with self._lock:
            self._generation += 1
            if cache_key is None:
                self._users.clear()
            else:
                self._users.pop(cache_key, None)

    def listening(self) -> bool:
        return self._listening

    def _start(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._listening = False
            self._users.clear()
        if _redis() is None:
            return  # an in-process cache already: nothing to keep beside it
        threading.Thread(target=self._listen, name="palate-token-forget", daemon=True).start()

    def _listen(self) -> None:
        pause = 0.1
        while True:
            try:
                pubsub = _redis().pubsub()  # type: ignore[union-attr]
                try:
                    pubsub.subscribe(CHANNEL)
                    for message in pubsub.listen():
                        if message["type"] == "subscribe":
                            # Reads begun before now may predate a message missed.
                            self.forget()
                            self._listening, pause = True, 0.1
                        elif message["type"] == "message":
                            self.forget(message["data"].decode())
                finally:
                    pubsub.close()
            except Exception:  # noqa: BLE001 - any failure: stop keeping pairs, retry
                logger.warning("Token cache: lost the Redis subscription; retrying.")
            self._listening = False
            self.forget()
            time.sleep(pause)
            pause = min(pause * 2, 5.0)


local_tokens = LocalTokens()


def token_forget(key: str) -> None:
    """Drop a token from the caches, so that the next request reads it from the database:
    from Redis, from this process and, by a message, from every other web process."""
    cache_key = _cache_key(key)
    local_tokens.forget(cache_key)
    cache.delete(cache_key)
    client = _redis(write=True)
    if client is not None:
        client.publish(CHANNEL, cache_key)


class CachedTokenAuthentication(TokenAuthentication):
    """DRF's TokenAuthentication (same header, same errors), with the lookup cached.

    A wrong key counts against the client's address (`throttle.token_failure_record`):
    only on that path, so a valid key costs nothing more."""

    def authenticate(self, request: Request) -> tuple[User, Token] | None:
        try:
            return super().authenticate(request)
        except AuthenticationFailed:
            token_failure_record(request)
            raise

    def authenticate_credentials(self, key: str) -> tuple[User, Token]:
        cache_key = _cache_key(key)
        user = local_tokens.get(cache_key)
        if user is not None:
            return user, Token(key=key, user=user)
        generation = local_tokens.generation()
        user = cache.get(cache_key)
        if user is None:
            # Unknown or inactive: DRF raises AuthenticationFailed, and nothing is cached.
            user, token = super().authenticate_credentials(key)
            cache.set(cache_key, user, TOKEN_CACHE_SECONDS)
        else:
            token = Token(key=key, user=user)
        local_tokens.keep(cache_key, user, generation)
        return user, token
