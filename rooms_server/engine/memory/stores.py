"""``memory://`` locks, presence, counters and cache: each keeps its own dicts, nothing is shared."""

from __future__ import annotations

import heapq
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
    """One group's connections, with per-user counts and a heap of expiries, so that a join (add,
    sweep, count) costs O(log N) and not a pass over every connection: a join storm makes N of them."""

    conns: dict[str, _Conn] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)
    # (expires_at, conn_id), one per add or touch; an entry older than its connection's expiry is stale.
    expiries: list[tuple[float, str]] = field(default_factory=list)

    def count(self, user_id: str) -> int:
        return self.users.get(user_id, 0)

    def add(self, conn_id: str, user_id: str, expires_at: float) -> None:
        previous = self.conns.get(conn_id)
        if previous is not None:
            self._drop(conn_id, previous)
        self.conns[conn_id] = _Conn(user_id, expires_at)
        self.users[user_id] = self.users.get(user_id, 0) + 1
        heapq.heappush(self.expiries, (expires_at, conn_id))

    def touch(self, conn_id: str, expires_at: float) -> None:
        conn = self.conns.get(conn_id)
        if conn is not None:
            conn.expires_at = expires_at
            heapq.heappush(self.expiries, (expires_at, conn_id))

    def remove(self, conn_id: str) -> _Conn | None:
        conn = self.conns.pop(conn_id, None)
        if conn is not None:
            self._uncount(conn.user_id)
        return conn

    def pop_expired(self, now: float) -> list[_Conn]:
        gone: list[_Conn] = []
        while self.expiries and self.expiries[0][0] <= now:
            expires_at, conn_id = heapq.heappop(self.expiries)
            conn = self.conns.get(conn_id)
            if conn is not None and conn.expires_at == expires_at:  # else touched since, or gone
                gone.append(conn)
                self.remove(conn_id)
        if not self.conns:
            self.expiries.clear()
        return gone

    def _drop(self, conn_id: str, conn: _Conn) -> None:
        del self.conns[conn_id]
        self._uncount(conn.user_id)

    def _uncount(self, user_id: str) -> None:
        left = self.users[user_id] - 1
        if left:
            self.users[user_id] = left
        else:
            del self.users[user_id]


class MemoryPresence(PresenceStore):
    """Connections per group with expiries on ``time.monotonic()``."""

    def __init__(self) -> None:
        self._groups: dict[str, _Presence] = {}

    async def add(self, group_id: str, conn_id: str, user_id: str, ttl_s: float) -> int:
        presence = self._groups.setdefault(group_id, _Presence())
        presence.add(conn_id, user_id, time.monotonic() + ttl_s)
        return presence.count(user_id)

    async def remove(self, group_id: str, conn_id: str) -> tuple[str | None, int]:
        presence = self._groups.get(group_id)
        conn = None if presence is None else presence.remove(conn_id)
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
            presence.touch(conn_id, expires_at)

    async def users(self, group_id: str) -> dict[str, int]:
        presence = self._groups.get(group_id)
        return {} if presence is None else dict(presence.users)

    async def expired(self, group_id: str) -> list[str]:
        presence = self._groups.get(group_id)
        if presence is None:
            return []
        left: list[str] = []
        for conn in presence.pop_expired(time.monotonic()):
            if conn.user_id not in left and presence.count(conn.user_id) == 0:
                left.append(conn.user_id)
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
