"""Sessions in Redis (PORTAL_REDIS_URL): Litestar's Redis store with a timeout on every call.
Imported only when Redis is configured: the client library is not loaded otherwise."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from litestar.stores.redis import RedisStore
from redis.asyncio import Redis
from redis.exceptions import RedisError

from portal.core import availability
from portal.core.errors import Unavailable

REDIS = "Redis (sessions)"


Result = TypeVar("Result")


def _redis_call(method: Callable[..., Awaitable[Result]]) -> Callable[..., Awaitable[Result]]:
    """Redis not answering (refused, dropped, too slow) becomes Unavailable, logged once. A
    connection cut in the middle of a call can also surface as uvloop's RuntimeError about a
    closed transport."""

    @functools.wraps(method)
    async def call(*args: Any, **kwargs: Any) -> Result:
        try:
            result = await method(*args, **kwargs)
        except (RedisError, OSError, RuntimeError) as error:
            availability.failed(REDIS, f"{type(error).__name__}: {error}")
            raise Unavailable(REDIS, str(error), retry_after=5) from error
        availability.answered(REDIS)
        return result

    return call


class RedisSessionStore(RedisStore):
    """Litestar's Redis store with a timeout on every call, and `update_existing`."""

    @classmethod
    def connect(cls, url: str, timeout: float) -> RedisSessionStore:
        client = Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, retry_on_timeout=False
        )
        return cls(redis=client, namespace="portal-sessions", handle_client_shutdown=True)

    set = _redis_call(RedisStore.set)
    get = _redis_call(RedisStore.get)
    delete = _redis_call(RedisStore.delete)
    exists = _redis_call(RedisStore.exists)
    expires_in = _redis_call(RedisStore.expires_in)

    @_redis_call
    async def update_existing(
        self, key: str, value: str | bytes, expires_in: int | timedelta | None = None
    ) -> bool:
        """Writes a session that still exists (SET … XX); False when it is gone."""
        return bool(await self._redis.set(self._make_key(key), value, ex=expires_in, xx=True))
