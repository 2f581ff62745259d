"""Live-layer engines, chosen by URL: ``memory://`` (one process), ``redis://`` / ``rediss://`` (one
Redis server) or ``redis+cluster://`` / ``rediss+cluster://`` (a Redis Cluster, ``engine/redis/clients.py``)."""

from __future__ import annotations

from urllib.parse import urlsplit

from .base import (
    Broker,
    Cache,
    Counters,
    Engine,
    EngineBusy,
    ErrorCallback,
    EventCallback,
    Lifecycle,
    Locks,
    PresenceStore,
    Remembered,
    ResetCallback,
    SignalCallback,
    StateLog,
    Stored,
)
from .memory import memory_engine

__all__ = [
    "Broker",
    "Cache",
    "Counters",
    "Engine",
    "EngineBusy",
    "ErrorCallback",
    "EventCallback",
    "Lifecycle",
    "Locks",
    "PresenceStore",
    "Remembered",
    "ResetCallback",
    "SignalCallback",
    "StateLog",
    "Stored",
    "create_engine",
]


def create_engine(
    url: str,
    *,
    on_event: EventCallback,
    on_reset: ResetCallback,
    on_error: ErrorCallback | None = None,
    on_signal: SignalCallback | None = None,
    prefix: str = "rooms:",
    history_size: int = 1000,
    lock_timeout_s: float = 5.0,
) -> Engine:
    """Build an unconnected engine for ``url``; the caller awaits ``connect()`` and later ``close()``.

    Raises:
        ValueError: for any other URL scheme.
    """
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        return memory_engine(
            on_event=on_event,
            on_reset=on_reset,
            on_signal=on_signal,
            history_size=history_size,
            lock_timeout_s=lock_timeout_s,
        )
    if scheme in ("redis", "rediss", "redis+cluster", "rediss+cluster"):
        from .redis import redis_engine  # lazy: memory:// must work without redis-py installed

        return redis_engine(
            url,
            on_event=on_event,
            on_reset=on_reset,
            on_error=on_error,
            on_signal=on_signal,
            prefix=prefix,
            history_size=history_size,
            lock_timeout_s=lock_timeout_s,
        )
    raise ValueError(
        f"unsupported engine URL {url!r}: use memory://, redis://, rediss://, redis+cluster:// or rediss+cluster://"
    )
