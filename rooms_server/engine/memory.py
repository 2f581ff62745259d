"""``memory://``: the engine for a single process, built from dicts, deques and asyncio locks."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from ._util import KeyedLocks, call_safely, new_epoch
from ._views import Whole
from .base import (
    EventCallback,
    Remembered,
    ResetCallback,
    SignalCallback,
    Stored,
)

_CACHE_SWEEP_AT = 1024  # entries; expired ones are dropped lazily, and in bulk past this size


@dataclass(slots=True)
class _Group:
    stored: Stored
    log: deque[tuple[int, bytes]]


@dataclass(slots=True)
class _Conn:
    user_id: str
    expires_at: float


@dataclass(slots=True)
class _Presence:
    conns: dict[str, _Conn] = field(default_factory=dict)

    def count(self, user_id: str) -> int:
        return sum(1 for conn in self.conns.values() if conn.user_id == user_id)


class MemoryEngine(Whole):
    """Everything lives in this process; events are delivered to ``on_event`` inside ``commit``.

    Commits never await, so each one is atomic on the event loop and delivery keeps seq order.
    Presence expiry uses ``time.monotonic()``. ``on_reset`` is never needed: nothing is lost here.
    """

    def __init__(
        self,
        *,
        on_event: EventCallback,
        on_reset: ResetCallback,
        on_signal: SignalCallback | None = None,
        history_size: int = 1000,
        lock_timeout_s: float = 5.0,
    ) -> None:
        if history_size < 1:
            raise ValueError("history_size must be at least 1")
        self._on_event = on_event
        self._on_reset = on_reset
        self._on_signal = on_signal
        self._history_size = history_size
        self._lock_timeout_s = lock_timeout_s
        self._groups: dict[str, _Group] = {}
        self._subscribers: dict[str, int] = {}
        self._locks = KeyedLocks()
        self._presence: dict[str, _Presence] = {}
        self._cache: dict[str, tuple[bytes, float]] = {}
        self._hits: dict[str, tuple[int, float]] = {}
        self._answers: dict[str, tuple[bytes, float]] = {}
        self._maxima: dict[tuple[str, int], int] = {}

    async def connect(self) -> None:
        pass

    async def close(self) -> None:
        self._subscribers.clear()

    async def ping(self) -> bool:
        return True

    async def get(self, group_id: str) -> Stored | None:
        group = self._groups.get(group_id)
        return None if group is None else group.stored

    async def create(self, group_id: str, state: bytes) -> Stored:
        group = self._groups.get(group_id)
        if group is None:
            group = _Group(Stored(new_epoch(), 0, state), deque(maxlen=self._history_size))
            self._groups[group_id] = group
        return group.stored

    async def reset(self, group_id: str, state: bytes) -> Stored:
        self._groups.pop(group_id, None)
        return await self.create(group_id, state)

    async def delete(self, group_id: str) -> None:
        self._groups.pop(group_id, None)

    async def commit(
        self,
        group_id: str,
        epoch: str,
        seq: int,
        state: bytes,
        events: list[bytes],
        *,
        remember: Remembered | None = None,
    ) -> bool:
        group = self._groups.get(group_id)
        if group is None or (group.stored.epoch, group.stored.seq) != (epoch, seq):
            return False
        if remember is not None:
            self._keep(group_id, remember)
        for offset, data in enumerate(events, start=1):
            group.log.append((seq + offset, data))
        group.stored = Stored(epoch, seq + len(events), state)
        if self._subscribers.get(group_id):
            for offset, data in enumerate(events, start=1):
                call_safely(self._on_event, group_id, epoch, seq + offset, data)
        return True

    async def recall(self, group_id: str, key: str) -> bytes | None:
        entry = self._answers.get(f"{group_id}:{key}")
        if entry is None or entry[1] <= time.monotonic():
            return None
        return entry[0]

    async def remember(self, group_id: str, item: Remembered) -> None:
        self._keep(group_id, item)

    def _keep(self, group_id: str, item: Remembered) -> None:
        now = time.monotonic()
        if len(self._answers) >= _CACHE_SWEEP_AT:
            self._answers = {k: entry for k, entry in self._answers.items() if entry[1] > now}
        self._answers[f"{group_id}:{item.key}"] = (item.answer, now + item.ttl_s)

    async def broadcast(self, message: bytes) -> None:
        if self._on_signal is not None:
            call_safely(self._on_signal, message)

    async def history(self, group_id: str, epoch: str, after_seq: int) -> list[bytes] | None:
        group = self._groups.get(group_id)
        if group is None or group.stored.epoch != epoch or not 0 <= after_seq <= group.stored.seq:
            return None
        if after_seq == group.stored.seq:
            return []
        if not group.log or group.log[0][0] > after_seq + 1:
            return None  # trimmed: a partial history would look like a complete one
        return [data for seq, data in group.log if seq > after_seq]

    async def subscribe(self, group_id: str) -> None:
        self._subscribers[group_id] = self._subscribers.get(group_id, 0) + 1

    async def unsubscribe(self, group_id: str) -> None:
        refs = self._subscribers.get(group_id, 0) - 1
        if refs > 0:
            self._subscribers[group_id] = refs
        else:
            self._subscribers.pop(group_id, None)

    @asynccontextmanager
    async def lock(self, group_id: str) -> AsyncIterator[None]:
        async with self._locks.hold(group_id, self._lock_timeout_s):
            yield

    async def presence_add(self, group_id: str, conn_id: str, user_id: str, ttl_s: float) -> int:
        presence = self._presence.setdefault(group_id, _Presence())
        presence.conns[conn_id] = _Conn(user_id, time.monotonic() + ttl_s)
        return presence.count(user_id)

    async def presence_remove(self, group_id: str, conn_id: str) -> tuple[str | None, int]:
        presence = self._presence.get(group_id)
        conn = None if presence is None else presence.conns.pop(conn_id, None)
        if presence is None or conn is None:
            return None, 0
        self._forget_if_empty(group_id, presence)
        return conn.user_id, presence.count(conn.user_id)

    async def presence_touch(self, group_id: str, conn_ids: Iterable[str], ttl_s: float) -> None:
        presence = self._presence.get(group_id)
        if presence is None:
            return
        expires_at = time.monotonic() + ttl_s
        for conn_id in conn_ids:
            conn = presence.conns.get(conn_id)
            if conn is not None:
                conn.expires_at = expires_at

    async def presence_users(self, group_id: str) -> dict[str, int]:
        users: dict[str, int] = {}
        for conn in self._presence.get(group_id, _Presence()).conns.values():
            users[conn.user_id] = users.get(conn.user_id, 0) + 1
        return users

    async def presence_expired(self, group_id: str) -> list[str]:
        presence = self._presence.get(group_id)
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
            del self._presence[group_id]

    async def cache_get(self, key: str) -> bytes | None:
        entry = self._cache.get(key)
        if entry is None or entry[1] <= time.monotonic():
            self._cache.pop(key, None)
            return None
        return entry[0]

    async def cache_set(self, key: str, value: bytes, ttl_s: float) -> None:
        now = time.monotonic()
        if len(self._cache) >= _CACHE_SWEEP_AT:
            self._cache = {k: entry for k, entry in self._cache.items() if entry[1] > now}
        self._cache[key] = (value, now + ttl_s)

    async def hit(self, key: str, window_s: float) -> int:
        now = time.monotonic()
        if len(self._hits) >= _CACHE_SWEEP_AT:
            self._hits = {k: entry for k, entry in self._hits.items() if entry[1] > now}
        count, ends_at = self._hits.get(key, (0, 0.0))
        if ends_at <= now:
            count, ends_at = 0, now + window_s
        self._hits[key] = (count + 1, ends_at)
        return count + 1

    async def max_report(self, key: str, value: int, window_s: float) -> None:
        window = int(time.time() // window_s)
        if len(self._maxima) >= _CACHE_SWEEP_AT:
            self._maxima = {k: v for k, v in self._maxima.items() if k[1] >= window - 1}
        current = self._maxima.get((key, window))
        if current is None or value > current:
            self._maxima[(key, window)] = value

    async def max_recent(self, key: str, window_s: float) -> int | None:
        window = int(time.time() // window_s)
        values = [v for v in (self._maxima.get((key, window)), self._maxima.get((key, window - 1))) if v is not None]
        return max(values) if values else None
