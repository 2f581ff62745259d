"""``memory://`` locks, presence, counters and cache: each keeps its own dicts, nothing is shared."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from .._util import KeyedLocks
from ..base import Cache, Counters, Locks, PresenceStore
from .log import SWEEP_AT


class MemoryLocks(Locks):
    """One asyncio lock per group: one process is the whole deployment."""

    def __init__(self, *, lock_timeout_s: float = 5.0) -> None:
        self._lock_timeout_s = lock_timeout_s
        self._locks = KeyedLocks()

    @asynccontextmanager
    async def lock(self, group_id: str) -> AsyncIterator[None]:
        async with self._locks.hold(group_id, self._lock_timeout_s):
            yield


@dataclass(slots=True)
class _Conn:
    user_id: str
    expires_at: float


@dataclass(slots=True)
class _Presence:
    conns: dict[str, _Conn] = field(default_factory=dict)

    def count(self, user_id: str) -> int:
        return sum(1 for conn in self.conns.values() if conn.user_id == user_id)


class MemoryPresence(PresenceStore):
    """Connections per group with expiries on ``time.monotonic()``."""

    def __init__(self) -> None:
        self._groups: dict[str, _Presence] = {}

    async def add(self, group_id: str, conn_id: str, user_id: str, ttl_s: float) -> int:
        presence = self._groups.setdefault(group_id, _Presence())
        presence.conns[conn_id] = _Conn(user_id, time.monotonic() + ttl_s)
        return presence.count(user_id)

    async def remove(self, group_id: str, conn_id: str) -> tuple[str | None, int]:
        presence = self._groups.get(group_id)
        conn = None if presence is None else presence.conns.pop(conn_id, None)
        if presence is None or conn is None:
            return None, 0
        self._forget_if_empty(group_id, presence)
        return conn.user_id, presence.count(conn.user_id)

    async def touch(self, group_id: str, conn_ids: Iterable[str], ttl_s: float) -> None:
        presence = self._groups.get(group_id)
        if presence is None:
            return
        expires_at = time.monotonic() + ttl_s
        for conn_id in conn_ids:
            conn = presence.conns.get(conn_id)
            if conn is not None:
                conn.expires_at = expires_at

    async def users(self, group_id: str) -> dict[str, int]:
        users: dict[str, int] = {}
        for conn in self._groups.get(group_id, _Presence()).conns.values():
            users[conn.user_id] = users.get(conn.user_id, 0) + 1
        return users

    async def expired(self, group_id: str) -> list[str]:
        presence = self._groups.get(group_id)
        if presence is None:
            return []
        now = time.monotonic()
        stale = [conn_id for conn_id, conn in presence.conns.items() if conn.expires_at <= now]
        left: list[str] = []
        for conn_id in stale:
            user_id = presence.conns.pop(conn_id).user_id
            if user_id not in left and presence.count(user_id) == 0:
                left.append(user_id)
        self._forget_if_empty(group_id, presence)
        return left

    def _forget_if_empty(self, group_id: str, presence: _Presence) -> None:
        if not presence.conns:
            del self._groups[group_id]


class MemoryCounters(Counters):
    """Hit windows on ``time.monotonic()``; maxima in windows aligned on ``time.time()``."""

    def __init__(self) -> None:
        self._hits: dict[str, tuple[int, float]] = {}
        self._maxima: dict[tuple[str, int], int] = {}

    async def hit(self, key: str, window_s: float) -> int:
        now = time.monotonic()
        if len(self._hits) >= SWEEP_AT:
            self._hits = {k: entry for k, entry in self._hits.items() if entry[1] > now}
        count, ends_at = self._hits.get(key, (0, 0.0))
        if ends_at <= now:
            count, ends_at = 0, now + window_s
        self._hits[key] = (count + 1, ends_at)
        return count + 1

    async def max_report(self, key: str, value: int, window_s: float) -> None:
        window = int(time.time() // window_s)
        if len(self._maxima) >= SWEEP_AT:
            self._maxima = {k: v for k, v in self._maxima.items() if k[1] >= window - 1}
        current = self._maxima.get((key, window))
        if current is None or value > current:
            self._maxima[(key, window)] = value

    async def max_recent(self, key: str, window_s: float) -> int | None:
        window = int(time.time() // window_s)
        values = [v for v in (self._maxima.get((key, window)), self._maxima.get((key, window - 1))) if v is not None]
        return max(values) if values else None


class MemoryCache(Cache):
    """Values with expiries on ``time.monotonic()``, dropped lazily."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[bytes, float]] = {}

    async def get(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None or entry[1] <= time.monotonic():
            self._entries.pop(key, None)
            return None
        return entry[0]

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        now = time.monotonic()
        if len(self._entries) >= SWEEP_AT:
            self._entries = {k: entry for k, entry in self._entries.items() if entry[1] > now}
        self._entries[key] = (value, now + ttl_s)
