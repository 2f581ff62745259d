"""``redis://`` broker: subscriptions and signals over the process's one pub/sub listener.

Events are published by the state log's commit script; this part only receives them. The listener
(``_listener``) makes delivery gapless by reading the state log's positions and history.
"""

from __future__ import annotations

from collections.abc import Callable

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import ConnectionError as RedisConnectionError, TimeoutError as RedisTimeoutError

from ..base import Broker, ErrorCallback, EventCallback, ResetCallback, SignalCallback
from ._listener import Listener
from .connection import Connection
from .state import RedisStateLog


class RedisBroker(Broker):
    """Owns the listener: started and stopped with the connection (it attaches itself)."""

    def __init__(
        self,
        connection: Connection,
        log: RedisStateLog,
        *,
        on_event: EventCallback,
        on_reset: ResetCallback,
        on_error: ErrorCallback | None = None,
        on_signal: SignalCallback | None = None,
        poll_interval_s: float = 1.0,
        pubsub_timeout_s: float = 5.0,
    ) -> None:
        self._conn = connection
        self._log = log
        self._on_event = on_event
        self._on_reset = on_reset
        self._on_error = on_error
        self._on_signal = on_signal
        self._poll_interval_s = poll_interval_s
        self._pubsub_timeout_s = pubsub_timeout_s
        self._listener: Listener | None = None
        connection.attach(self)

    async def start(self, client: Redis, open_pubsub: Callable[[], PubSub]) -> None:
        keys = self._conn.keys
        self._listener = Listener(
            open_pubsub=open_pubsub,
            client=client,
            control_channel=keys.control(self._conn.node),
            broadcast_channel=keys.broadcast,
            on_signal=self._on_signal,
            channel_of=keys.group,
            positions=self._log.positions,
            history=self._log.history,
            on_event=self._on_event,
            on_reset=self._on_reset,
            on_error=self._on_error,
            poll_interval_s=self._poll_interval_s,
        )
        await self._listener.start(self._pubsub_timeout_s)

    async def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            await listener.stop()

    @property
    def healthy(self) -> bool:
        return self._listener is not None and self._listener.healthy

    async def subscribe(self, group_id: str) -> None:
        listener = self._listen()
        if not listener.connected:  # no waiting for a subscription that cannot come now
            raise RedisConnectionError("the pub/sub connection is down")
        try:
            await listener.subscribe(group_id, self._pubsub_timeout_s)
        except TimeoutError:  # the pub/sub connection is down: an outage like any other Redis error
            raise RedisTimeoutError(f"group {group_id} not subscribed within {self._pubsub_timeout_s}s") from None

    async def unsubscribe(self, group_id: str) -> None:
        await self._listen().unsubscribe(group_id)

    async def broadcast(self, message: bytes) -> None:
        await self._conn.redis.publish(self._conn.keys.broadcast, message)

    def _listen(self) -> Listener:
        if self._listener is None:
            raise RuntimeError("the Redis engine is not connected; call connect() first")
        return self._listener
