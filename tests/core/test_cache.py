"""The Redis cache the web process reads on every API call (the token lookup)."""

from __future__ import annotations

from django.core.cache import caches
from redis._parsers import _HiredisParser

from apps.core.cache import RedisCache


def test_replies_are_parsed_by_hiredis_and_one_client_serves_each_pool() -> None:
    # hiredis is in the `web` extra: without it (or with a version redis-py refuses),
    # redis-py falls back silently to its Python parser, and the annotation benchmark
    # ran 15% slower.
    cache = caches["default"]
    assert isinstance(cache, RedisCache)
    client = cache._cache.get_client()
    connection = client.connection_pool.get_connection()
    try:
        assert isinstance(connection._parser, _HiredisParser)
    finally:
        client.connection_pool.release(connection)
    assert cache._cache.get_client() is client
    cache.set("palate:test:parsed", {"a": [1, "é"]}, 5)
    assert cache.get("palate:test:parsed") == {"a": [1, "é"]}
