"""Temporary: the parts of an engine whose names differ from the backends' methods (being split)."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable

from .base import Broker, Cache, Counters, Engine, Lifecycle, Locks, PresenceStore, StateLog


class Whole(Lifecycle, StateLog, Broker, Locks, Counters):
    """A backend written as one class (memory.py, redis.py) until the parts are split."""

    @abstractmethod
    async def presence_add(self, group_id: str, conn_id: str, user_id: str, ttl_s: float) -> int: ...

    @abstractmethod
    async def presence_remove(self, group_id: str, conn_id: str) -> tuple[str | None, int]: ...

    @abstractmethod
    async def presence_touch(self, group_id: str, conn_ids: Iterable[str], ttl_s: float) -> None: ...

    @abstractmethod
    async def presence_users(self, group_id: str) -> dict[str, int]: ...

    @abstractmethod
    async def presence_expired(self, group_id: str) -> list[str]: ...

    @abstractmethod
    async def cache_get(self, key: str) -> bytes | None: ...

    @abstractmethod
    async def cache_set(self, key: str, value: bytes, ttl_s: float) -> None: ...


class _PresenceView(PresenceStore):
    def __init__(self, whole: Whole) -> None:
        self._whole = whole

    async def add(self, group_id: str, conn_id: str, user_id: str, ttl_s: float) -> int:
        return await self._whole.presence_add(group_id, conn_id, user_id, ttl_s)

    async def remove(self, group_id: str, conn_id: str) -> tuple[str | None, int]:
        return await self._whole.presence_remove(group_id, conn_id)

    async def touch(self, group_id: str, conn_ids: Iterable[str], ttl_s: float) -> None:
        await self._whole.presence_touch(group_id, conn_ids, ttl_s)

    async def users(self, group_id: str) -> dict[str, int]:
        return await self._whole.presence_users(group_id)

    async def expired(self, group_id: str) -> list[str]:
        return await self._whole.presence_expired(group_id)


class _CacheView(Cache):
    def __init__(self, whole: Whole) -> None:
        self._whole = whole

    async def get(self, key: str) -> bytes | None:
        return await self._whole.cache_get(key)

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        await self._whole.cache_set(key, value, ttl_s)


def engine_of(whole: Whole) -> Engine:
    return Engine(
        lifecycle=whole,
        state=whole,
        broker=whole,
        locks=whole,
        presence=_PresenceView(whole),
        counters=whole,
        cache=_CacheView(whole),
    )
