"""``memory://``: the engine for a single process, one small class per part.

Everything lives in this process; events are delivered to ``on_event`` inside ``commit`` (the state
log publishes through the broker, the only part shared by another). Expiries use
``time.monotonic()``. ``on_reset`` is never needed: nothing is lost here.
"""

from __future__ import annotations

from ..base import Engine, EventCallback, Lifecycle, ResetCallback, SignalCallback
from .log import MemoryBroker, MemoryStateLog
from .stores import MemoryCache, MemoryCounters, MemoryLocks, MemoryPresence

__all__ = [
    "MemoryBroker",
    "MemoryCache",
    "MemoryCounters",
    "MemoryLifecycle",
    "MemoryLocks",
    "MemoryPresence",
    "MemoryStateLog",
    "memory_engine",
]


class MemoryLifecycle(Lifecycle):
    """Nothing to open; closing drops the broker's subscriptions."""

    def __init__(self, broker: MemoryBroker) -> None:
        self._broker = broker

    async def connect(self) -> None:
        pass

    async def close(self) -> None:
        self._broker.clear()

    async def ping(self) -> bool:
        return True


def memory_engine(
    *,
    on_event: EventCallback,
    on_reset: ResetCallback,
    on_signal: SignalCallback | None = None,
    history_size: int = 1000,
    lock_timeout_s: float = 5.0,
) -> Engine:
    """Build the ``memory://`` engine (``on_reset`` is accepted for symmetry and never called)."""
    del on_reset  # nothing is ever lost in one process
    broker = MemoryBroker(on_event=on_event, on_signal=on_signal)
    return Engine(
        lifecycle=MemoryLifecycle(broker),
        state=MemoryStateLog(broker, history_size=history_size),
        broker=broker,
        locks=MemoryLocks(lock_timeout_s=lock_timeout_s),
        presence=MemoryPresence(),
        counters=MemoryCounters(),
        cache=MemoryCache(),
    )
