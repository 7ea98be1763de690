"""Django's Redis cache with one client object per connection pool.

Django's `RedisCacheClient.get_client` builds a new `redis.Redis` on every call, and
building one fills its table of response callbacks (over a hundred entries): a token
lookup spent more CPU on that than on the round trip to Redis. The client is
thread-safe (connections come from the pool), so each pool keeps one.

redis-py is imported with this module, not by the first request that reads the cache
(Django's client imports it then): the import takes about 0.2 s of CPU, which the first
requests of each web worker paid, one after the other (config/wsgi.py loads this
backend at start).
"""

from __future__ import annotations

from typing import Any

import redis  # noqa: F401  (see above)
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class ReusingRedisCacheClient(RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server: str | list[str], params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = ReusingRedisCacheClient
