"""``redis://`` / ``rediss://``: the engine shared by every process of a deployment.

Keys of a group carry the hash tag ``{<group_id>}``: state hash ``<prefix>g:{<id>}:state``
(fields epoch, seq, state, token), log Stream ``...:log`` with ids ``<seq>-0`` capped exactly at
``history_size``, pub/sub channel ``<prefix>g:{<id>}``, lock ``...:lock`` and presence keys
``...:pconn`` / ``...:pexp`` / ``...:pusers``, commands' answers ``...:cmd:<key>``, and one
channel ``<prefix>broadcast`` for process-wide messages. Writes are Lua scripts (``_scripts``);
delivery is the one pub/sub connection of ``_listener``, owned by the broker. Every part shares
one ``Connection`` (clients, ``Keys``, scripts), which is also the engine's lifecycle.
"""

from __future__ import annotations

from ..base import Engine, ErrorCallback, EventCallback, ResetCallback, SignalCallback
from .broker import RedisBroker
from .connection import Connection, Keys
from .locks import RedisLocks
from .state import RedisStateLog
from .stores import RedisCache, RedisCounters, RedisPresence

__all__ = [
    "Connection",
    "Keys",
    "RedisBroker",
    "RedisCache",
    "RedisCounters",
    "RedisLocks",
    "RedisPresence",
    "RedisStateLog",
    "redis_engine",
]


def redis_engine(
    url: str,
    *,
    on_event: EventCallback,
    on_reset: ResetCallback,
    on_error: ErrorCallback | None = None,
    on_signal: SignalCallback | None = None,
    prefix: str = "rooms:",
    history_size: int = 1000,
    lock_timeout_s: float = 5.0,
    lock_lease_s: float = 1.5,
    poll_interval_s: float = 1.0,
    pubsub_timeout_s: float = 5.0,
) -> Engine:
    """Build the (unconnected) Redis engine; its lifecycle is the shared connection."""
    connection = Connection(url, prefix=prefix)
    state = RedisStateLog(connection, history_size=history_size)
    broker = RedisBroker(
        connection,
        state,
        on_event=on_event,
        on_reset=on_reset,
        on_error=on_error,
        on_signal=on_signal,
        poll_interval_s=poll_interval_s,
        pubsub_timeout_s=pubsub_timeout_s,
    )
    return Engine(
        lifecycle=connection,
        state=state,
        broker=broker,
        locks=RedisLocks(connection, lock_timeout_s=lock_timeout_s, lock_lease_s=lock_lease_s),
        presence=RedisPresence(connection),
        counters=RedisCounters(connection),
        cache=RedisCache(connection),
    )
