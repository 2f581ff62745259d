"""``redis://`` presence, counters and cache: plain keys and scripts on the shared connection."""

from __future__ import annotations

import time
from collections.abc import Iterable

from ..base import Cache, Counters, PresenceStore
from .connection import Connection, as_bytes, ms, text


class RedisPresence(PresenceStore):
    """Expiry uses the Redis server clock (``TIME`` inside the scripts), so skewed processes agree."""

    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    async def add(self, group_id: str, conn_id: str, user_id: str, ttl_s: float) -> int:
        args: list[bytes | str | int] = [conn_id, user_id, ms(ttl_s)]
        return int(await self._conn.scripts.presence_add(keys=self._conn.keys.presence(group_id), args=args))

    async def remove(self, group_id: str, conn_id: str) -> tuple[str | None, int]:
        keys = self._conn.keys.presence(group_id)
        user_id, count = await self._conn.scripts.presence_remove(keys=keys, args=[conn_id])
        return (None if user_id is None else text(user_id)), int(count)

    async def touch(self, group_id: str, conn_ids: Iterable[str], ttl_s: float) -> None:
        conns = list(conn_ids)
        if conns:
            keys = self._conn.keys.presence(group_id)
            await self._conn.scripts.presence_touch(keys=keys, args=[ms(ttl_s), *conns])

    async def users(self, group_id: str) -> dict[str, int]:
        counts = await self._conn.redis.hgetall(self._conn.keys.group(group_id, ":pusers"))
        return {text(user_id): int(count) for user_id, count in counts.items()}

    async def expired(self, group_id: str) -> list[str]:
        left = await self._conn.scripts.presence_expired(keys=self._conn.keys.presence(group_id), args=[])
        return [text(user_id) for user_id in left]


class RedisCounters(Counters):
    """Counters shared by every process of the prefix; no key ever lives without its expiry."""

    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    async def hit(self, key: str, window_s: float) -> int:
        # One MULTI: the counter never exists without its expiry (PEXPIRE NX keeps the window's start).
        name = self._conn.keys.hits(key)
        async with self._conn.redis.pipeline(transaction=True) as pipe:
            pipe.incr(name)
            pipe.pexpire(name, ms(window_s), nx=True)
            count, _ = await pipe.execute()
        return int(count)

    async def max_report(self, key: str, value: int, window_s: float) -> None:
        # One sorted set per window with a single member: ZADD GT keeps the largest score atomically.
        name = self._conn.keys.maximum(key, int(time.time() // window_s))
        async with self._conn.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(name, {"max": value}, gt=True)
            pipe.pexpire(name, ms(2 * window_s))
            await pipe.execute()

    async def max_recent(self, key: str, window_s: float) -> int | None:
        window = int(time.time() // window_s)
        async with self._conn.redis.pipeline(transaction=False) as pipe:
            pipe.zscore(self._conn.keys.maximum(key, window), "max")
            pipe.zscore(self._conn.keys.maximum(key, window - 1), "max")
            scores = [score for score in await pipe.execute() if score is not None]
        return int(max(scores)) if scores else None


class RedisCache(Cache):
    """Small values under ``<prefix>cache:<key>`` with a Redis expiry."""

    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    async def get(self, key: str) -> bytes | None:
        value = await self._conn.redis.get(self._conn.keys.cache(key))
        return None if value is None else as_bytes(value)

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        await self._conn.redis.set(self._conn.keys.cache(key), value, px=ms(ttl_s))
