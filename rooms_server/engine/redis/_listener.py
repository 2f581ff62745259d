"""The one pub/sub connection of a process, and gapless in-order delivery on top of it.

Redis pub/sub is at most once: a message published while the connection is down is lost without
an error. So pub/sub is only a doorbell that usually carries the event itself; the group's log
(a Stream) is the truth. One task owns all reads and all delivery state, so per-group order needs
no locks. It tracks the last delivered ``(epoch, seq)`` of each subscribed group and:

- drops a doorbell it has already delivered, fills a gap from the log before delivering;
- on a new epoch, or a gap the log cannot fill, calls ``on_reset`` and continues from there;
- after each (re)subscription, and every ``poll_interval_s``, compares the stored position of
  every group with its last delivered one and catches up from the log, so a lost message or a
  killed connection costs latency, not events;
- publishes a probe to its own control channel each interval and reconnects when probes stop
  arriving (a subscription that starves silently looks healthy otherwise);
- hands the messages of the deployment's broadcast channel to ``on_signal`` (at most once).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from .._util import call_safely
from ..base import ErrorCallback, EventCallback, ResetCallback, SignalCallback

logger = logging.getLogger("rooms_server.engine.redis")

HistoryFn = Callable[[str, str, int], Awaitable[list[bytes] | None]]
PositionsFn = Callable[[list[str]], Awaitable[list[tuple[str, int] | None]]]

_BACKOFF_FIRST_S = 0.05
_BACKOFF_MAX_S = 2.0
_STALL_AFTER_INTERVALS = 3
_STALL_AFTER_MIN_S = 3.0  # a busy listener reads probes late; only a long silence means a dead subscription


class _Stalled(Exception):
    """Our own probes stopped arriving on a connection that reports no error."""


@dataclass(slots=True)
class _Tracked:
    refs: int
    ready: asyncio.Future[None]
    # None until a state is seen: a group subscribed before its state exists adopts the first
    # epoch from seq 0 (a fresh epoch's log starts at 1), rather than treating it as a reset.
    epoch: str | None = None
    last_seq: int = 0


@dataclass(slots=True)
class Listener:
    # A new pub/sub connection (socket_timeout=None, no silent retries: errors must reach _run); in a
    # cluster each call may pick another node, as the topology is at that moment.
    open_pubsub: Callable[[], PubSub]
    client: Redis
    control_channel: str
    channel_of: Callable[[str], str]
    positions: PositionsFn
    history: HistoryFn
    on_event: EventCallback
    on_reset: ResetCallback
    poll_interval_s: float
    on_error: ErrorCallback | None = None
    broadcast_channel: str = ""  # process-wide messages (Engine.broadcast), handed to on_signal
    on_signal: SignalCallback | None = None
    _groups: dict[str, _Tracked] = field(default_factory=dict, init=False)
    _by_channel: dict[bytes, str] = field(default_factory=dict, init=False)
    _pubsub: PubSub | None = field(default=None, init=False)
    _pubsub_lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)
    _probe_seen: float = field(default=0.0, init=False)
    _connected: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _task: asyncio.Task[None] | None = field(default=None, init=False)
    _stopping: bool = field(default=False, init=False)

    async def start(self, timeout_s: float) -> None:
        """Start the listener task and wait for its first connection (so a bad URL fails at startup)."""
        self._task = asyncio.create_task(self._run(), name=f"engine-listener {self.control_channel}")
        await asyncio.wait_for(self._connected.wait(), timeout_s)

    async def stop(self) -> None:
        self._stopping = True
        task, self._task = self._task, None
        # A cancellation can be swallowed on Python 3.11 when it races the timeout of get_message
        # (asyncio.timeout turns it into a plain TimeoutError), so cancel until the task is gone.
        while task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=0.1)
        for tracked in self._groups.values():
            tracked.ready.cancel()
        self._groups.clear()
        self._by_channel.clear()

    @property
    def connected(self) -> bool:
        """The pub/sub connection is up (subscriptions can be confirmed now)."""
        return self._pubsub is not None

    @property
    def healthy(self) -> bool:
        """Connected, and our own probe came back recently."""
        stall_after = max(_STALL_AFTER_INTERVALS * self.poll_interval_s, _STALL_AFTER_MIN_S)
        return self._pubsub is not None and asyncio.get_running_loop().time() <= self._probe_seen + stall_after

    async def subscribe(self, group_id: str, timeout_s: float) -> None:
        """Return once the group's channel is subscribed and its position is known."""
        tracked = self._groups.get(group_id)
        if tracked is None:
            tracked = _Tracked(refs=1, ready=asyncio.get_running_loop().create_future())
            self._groups[group_id] = tracked
            channel = self.channel_of(group_id)
            self._by_channel[channel.encode()] = group_id
            await self._send(channel, subscribe=True)
        else:
            tracked.refs += 1
        try:
            # shield: one caller giving up must not cancel the wait of the others
            await asyncio.wait_for(asyncio.shield(tracked.ready), timeout_s)
        except BaseException:
            await self.unsubscribe(group_id)
            raise

    async def unsubscribe(self, group_id: str) -> None:
        tracked = self._groups.get(group_id)
        if tracked is None:
            return
        tracked.refs -= 1
        if tracked.refs > 0:
            return
        del self._groups[group_id]
        channel = self.channel_of(group_id)
        del self._by_channel[channel.encode()]
        tracked.ready.cancel()
        await self._send(channel, subscribe=False)

    async def _send(self, channel: str, *, subscribe: bool) -> None:
        # Only writes happen here; the listener task does all reads. If the connection is down the
        # listener reconnects and subscribes every tracked group itself, so errors can be dropped.
        async with self._pubsub_lock:
            if self._pubsub is None:
                return
            try:
                await (self._pubsub.subscribe(channel) if subscribe else self._pubsub.unsubscribe(channel))
            except (RedisError, OSError) as exc:
                logger.info("pub/sub (un)subscribe of %s left to the reconnect: %s", channel, exc)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        backoff = _BACKOFF_FIRST_S
        while not self._stopping:
            started = loop.time()
            try:
                await self._serve(await self._open())
            except Exception as exc:  # the listener must never die silently: log, back off, reconnect
                if self._stopping:
                    return
                if self.on_error is not None:
                    call_safely(self.on_error, exc)
                logger.warning(
                    "pub/sub listener failed (%s: %s); reconnecting in %.2fs", type(exc).__name__, exc, backoff
                )
            # Only a connection that lasted resets the backoff: one that fails right after opening must not spin.
            backoff = _BACKOFF_FIRST_S if loop.time() - started > _BACKOFF_MAX_S else min(backoff * 2, _BACKOFF_MAX_S)
            await asyncio.sleep(backoff)

    async def _open(self) -> PubSub:
        async with self._pubsub_lock:
            pubsub = self.open_pubsub()
            try:
                # Every tracked group resubscribes; its confirmation triggers a catch-up (_dispatch).
                channels = [self.control_channel, *([self.broadcast_channel] if self.broadcast_channel else [])]
                await pubsub.subscribe(*channels, *(c.decode() for c in self._by_channel))
            except BaseException:
                await pubsub.aclose()  # type: ignore[no-untyped-call, unused-ignore]  # typed from redis 8.2
                raise
            self._pubsub = pubsub
            return pubsub

    async def _serve(self, pubsub: PubSub) -> None:
        loop = asyncio.get_running_loop()
        self._probe_seen = loop.time()
        self._connected.set()
        next_check = loop.time() + self.poll_interval_s
        try:
            while not self._stopping:
                message = await pubsub.get_message(timeout=max(0.0, next_check - loop.time()))
                if message is not None:
                    await self._dispatch(message)
                if loop.time() >= next_check:
                    await self._check()
                    next_check = loop.time() + self.poll_interval_s
        finally:
            self._connected.clear()
            async with self._pubsub_lock:
                self._pubsub = None
            await pubsub.aclose()  # type: ignore[no-untyped-call, unused-ignore]  # typed from redis 8.2

    async def _dispatch(self, message: dict[str, Any]) -> None:
        channel: bytes = message["channel"]
        if channel == self.control_channel.encode():
            self._probe_seen = asyncio.get_running_loop().time()
            return
        if self.broadcast_channel and channel == self.broadcast_channel.encode():
            if message["type"] == "message" and self.on_signal is not None:
                call_safely(self.on_signal, message["data"])
            return
        group_id = self._by_channel.get(channel)
        if group_id is None:
            return  # unsubscribed while the message was in flight
        if message["type"] == "subscribe":
            await self._sync(group_id)
        elif message["type"] == "message":
            await self._on_doorbell(group_id, message["data"])

    async def _check(self) -> None:
        await self.client.publish(self.control_channel, b"probe")
        if not self.healthy:
            raise _Stalled(f"no probe came back on {self.control_channel}")
        ready = [group_id for group_id, tracked in self._groups.items() if tracked.ready.done()]
        for group_id, position in zip(ready, await self.positions(ready), strict=True):
            tracked = self._groups.get(group_id)
            if tracked is not None:
                await self._catch_up(group_id, tracked, position)

    async def _sync(self, group_id: str) -> None:
        """The channel is (re)subscribed: start tracking from the stored position, or catch up to it."""
        tracked = self._groups[group_id]
        [position] = await self.positions([group_id])
        if self._groups.get(group_id) is not tracked:
            return
        if tracked.ready.done():
            await self._catch_up(group_id, tracked, position)
            return
        tracked.epoch, tracked.last_seq = position if position is not None else (None, 0)
        tracked.ready.set_result(None)

    async def _catch_up(self, group_id: str, tracked: _Tracked, position: tuple[str, int] | None) -> None:
        if position is None:
            if tracked.epoch is not None:  # the state is gone (Redis flushed or restarted)
                self._reset(group_id, tracked, None, 0)
            return
        epoch, seq = position
        if tracked.epoch is None:
            tracked.epoch, tracked.last_seq = epoch, 0
        if epoch != tracked.epoch:
            self._reset(group_id, tracked, epoch, seq)
        elif seq > tracked.last_seq:
            await self._fill(group_id, tracked, epoch, seq)

    async def _on_doorbell(self, group_id: str, raw: bytes) -> None:
        try:
            epoch_b, seq_b, data = raw.split(b"|", 2)
            epoch, seq = epoch_b.decode(), int(seq_b)
        except ValueError:
            logger.warning("dropping malformed message on group %s", group_id)
            return
        tracked = self._groups[group_id]
        if not tracked.ready.done():
            return  # left over from an earlier subscription; _sync will catch up
        if tracked.epoch is None:
            tracked.epoch, tracked.last_seq = epoch, 0
        if epoch != tracked.epoch:
            self._reset(group_id, tracked, epoch, seq)
            return
        if seq > tracked.last_seq + 1 and not await self._fill(group_id, tracked, epoch, seq):
            return
        if seq == tracked.last_seq + 1:  # anything lower was already delivered (from the log)
            self._deliver(group_id, tracked, epoch, seq, data)

    async def _fill(self, group_id: str, tracked: _Tracked, epoch: str, seq: int) -> bool:
        """Deliver the logged events after ``last_seq``; on failure reset to ``(epoch, seq)``."""
        events = await self.history(group_id, epoch, tracked.last_seq)
        if self._groups.get(group_id) is not tracked:
            return False
        if events is None:
            self._reset(group_id, tracked, epoch, seq)
            return False
        for data in events:
            self._deliver(group_id, tracked, epoch, tracked.last_seq + 1, data)
        return True

    def _deliver(self, group_id: str, tracked: _Tracked, epoch: str, seq: int, data: bytes) -> None:
        tracked.last_seq = seq
        call_safely(self.on_event, group_id, epoch, seq, data)

    def _reset(self, group_id: str, tracked: _Tracked, epoch: str | None, seq: int) -> None:
        logger.info(
            "group %s: continuity lost after %s:%d, now at %s:%d", group_id, tracked.epoch, tracked.last_seq, epoch, seq
        )
        tracked.epoch, tracked.last_seq = epoch, seq
        call_safely(self.on_reset, group_id)
