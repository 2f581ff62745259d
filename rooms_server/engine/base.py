"""The engine contract: live room state, its event log, fan-out, locks, presence and a small cache.

An engine stores opaque bytes and knows nothing of tracks or roles (see docs/DESIGN.md, "The engine
contract"). Each group has a state tagged ``(epoch, seq)``: ``seq`` grows by exactly one per event,
and ``epoch`` changes whenever the state is rebuilt, so ``(epoch, seq)`` names one position in one
history. Events of subscribed groups reach the process through the callbacks given at construction.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

# Callbacks are plain functions, called from the engine's delivery path (the Redis listener task,
# or the committing task for memory://). They must not block or await: put the data on in-memory
# queues and return. An exception is logged and does not stop delivery.
EventCallback = Callable[[str, str, int, bytes], None]
"""``on_event(group_id, epoch, seq, data)``: the next event of a subscribed group, in seq order."""
SignalCallback = Callable[[bytes], None]
"""``on_signal(message)``: a process-wide message of ``broadcast()``, on every process (this one too).

At most once, like pub/sub: a process whose connection is down at that moment misses it.
"""
ResetCallback = Callable[[str], None]
"""``on_reset(group_id)``: continuity was lost (new epoch, or a gap the log could not fill).

The consumer should re-read ``get()`` and drop later events whose seq it has already seen.
"""

ErrorCallback = Callable[[BaseException], None]
"""``on_error(exc)``: a backend failure the engine recovered from by itself (e.g. a lost pub/sub
connection it reopened); for counting, it changes nothing."""


class EngineBusy(Exception):
    """The group's lock was not acquired within the engine's lock timeout."""


@dataclass(frozen=True, slots=True)
class Remembered:
    """An answer kept under ``key`` (unique within its group) for ``ttl_s``: a command's outcome."""

    key: str
    answer: bytes
    ttl_s: float


@dataclass(frozen=True, slots=True)
class Stored:
    """The live state of a group at one position of its history."""

    epoch: str
    seq: int
    state: bytes


class Lifecycle(ABC):
    """Opening and closing the backend's connections."""

    @abstractmethod
    async def connect(self) -> None:
        """Open connections and start background work; call once before use."""

    @abstractmethod
    async def close(self) -> None:
        """Stop background work and close connections; safe to call more than once."""

    @abstractmethod
    async def ping(self) -> bool:
        """Return True when the backend answers and event delivery is live."""


class StateLog(ABC):
    """Each group's live state at ``(epoch, seq)``, its event log, and the answers kept with commits."""

    @abstractmethod
    async def get(self, group_id: str) -> Stored | None:
        """Return the group's live state, or None when there is none (never built, or lost)."""

    @abstractmethod
    async def create(self, group_id: str, state: bytes) -> Stored:
        """Store ``state`` at seq 0 of a new epoch with an empty log, unless a state exists; return the stored one."""

    @abstractmethod
    async def reset(self, group_id: str, state: bytes) -> Stored:
        """Replace whatever is stored by ``state`` at seq 0 of a new epoch with an empty log (a forced rebuild)."""

    @abstractmethod
    async def delete(self, group_id: str) -> None:
        """Forget the group's live state and log (the group was deleted)."""

    @abstractmethod
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
        """If the group is at ``(epoch, seq)``, store ``state``, log and publish ``events`` as seq+1..seq+n; else no-op.

        ``remember`` is stored in the same atomic step (``recall`` finds it exactly when the
        events exist): how a command that is only live (chat, play) is applied exactly once.
        Returns True when applied, False on a position mismatch (nothing changed).
        """

    @abstractmethod
    async def history(self, group_id: str, epoch: str, after_seq: int) -> list[bytes] | None:
        """Return the events of ``epoch`` with seq > ``after_seq`` in order, or None unless all of them are logged."""

    @abstractmethod
    async def recall(self, group_id: str, key: str) -> bytes | None:
        """The answer remembered under ``key`` in the group, or None (never stored, or expired)."""

    @abstractmethod
    async def remember(self, group_id: str, item: Remembered) -> None:
        """Keep an answer that comes with no commit (a refused command) under its key."""


class Broker(ABC):
    """Delivery of committed events to the processes that hold a group, and process-wide signals."""

    @abstractmethod
    async def subscribe(self, group_id: str) -> None:
        """Add one reference to this process's interest in the group's events (delivered to ``on_event``)."""

    @abstractmethod
    async def unsubscribe(self, group_id: str) -> None:
        """Drop one reference; delivery for the group stops when none are left."""

    @abstractmethod
    async def broadcast(self, message: bytes) -> None:
        """Send ``message`` to the ``on_signal`` callback of every process of the deployment."""


class Locks(ABC):
    """One writer per group across processes."""

    @abstractmethod
    def lock(self, group_id: str) -> AbstractAsyncContextManager[None]:
        """Hold the group's lock across processes for the ``async with`` block; raise EngineBusy on timeout.

        Across processes the lock is a lease kept alive while the block runs: a holder that dies
        blocks the group for at most one lease. A holder that stalls past its lease loses the lock;
        it cannot apply anything then, because every write is a compare-and-set (``commit`` on
        ``(epoch, seq)``, SQL on the playlist version).
        """


class PresenceStore(ABC):
    """Which connections of which users are in a group, each with an expiry."""

    @abstractmethod
    async def add(self, group_id: str, conn_id: str, user_id: str, ttl_s: float) -> int:
        """Register a connection of a user for ``ttl_s``; return how many connections the user has in the group."""

    @abstractmethod
    async def remove(self, group_id: str, conn_id: str) -> tuple[str | None, int]:
        """Forget a connection; return its user (None if unknown) and that user's remaining connection count."""

    @abstractmethod
    async def touch(self, group_id: str, conn_ids: Iterable[str], ttl_s: float) -> None:
        """Extend the expiry of connections that are still registered to ``ttl_s`` from now."""

    @abstractmethod
    async def users(self, group_id: str) -> dict[str, int]:
        """Return user id -> number of registered connections, for users with at least one."""

    @abstractmethod
    async def expired(self, group_id: str) -> list[str]:
        """Remove connections past their expiry; return the users who thereby have no connection left."""


class Counters(ABC):
    """Shared counters: fixed-window hit counts (rate limits) and windowed maxima (round trips)."""

    @abstractmethod
    async def hit(self, key: str, window_s: float) -> int:
        """Count one hit on ``key`` atomically and return the count in its current window.

        The window opens with the first hit and lasts ``window_s``; the next hit after it opens a
        new one at 1. Shared by every process on ``redis://`` (a fixed-window rate limit counter).
        """

    @abstractmethod
    async def max_report(self, key: str, value: int, window_s: float) -> None:
        """Record ``value`` under ``key`` for the current window of ``window_s`` (windows are aligned
        on the wall clock, so every process fills the same one); the window keeps its largest value."""

    @abstractmethod
    async def max_recent(self, key: str, window_s: float) -> int | None:
        """The largest value reported under ``key`` in the current or the previous window; None if none.

        So a value counts for one to two windows after its report: what a room's phones reported
        lately, across every process on ``redis://``.
        """


class Cache(ABC):
    """Small values with an expiry (provider tokens, resolved links)."""

    @abstractmethod
    async def get(self, key: str) -> bytes | None:
        """Return the cached value, or None when missing or expired."""

    @abstractmethod
    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        """Cache ``value`` under ``key`` for ``ttl_s`` seconds."""


@dataclass(frozen=True, slots=True)
class Engine:
    """The live layer's backend as its parts; each consumer takes only the part it needs.

    Built by ``create_engine(url)`` (``memory://`` for one process, ``redis://`` across processes).
    """

    lifecycle: Lifecycle
    state: StateLog
    broker: Broker
    locks: Locks
    presence: PresenceStore
    counters: Counters
    cache: Cache

    async def connect(self) -> None:
        await self.lifecycle.connect()

    async def close(self) -> None:
        await self.lifecycle.close()

    async def ping(self) -> bool:
        return await self.lifecycle.ping()
