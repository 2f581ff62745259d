"""This process's sockets and the fan-out to them.

The engine calls ``on_event`` once per event of a group this process holds sockets for; the hub
builds the WebSocket frame once and writes the same bytes to every socket whose queue is empty and
whose transport takes it now (the direct path); the others get the text on their bounded queue.
Fan-out never awaits a socket: one sender task per connection drains its queue, and a connection
whose queue is full is closed as a slow consumer (it resumes on reconnect).

The hub also reacts to a few events itself: role changes and removals update or close the
affected sockets at once, a deleted group closes them all, and playback changes re-arm the timer
that advances the group when its track ends (exactly once across processes: the advance runs
under the group lock and is a no-op once done).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from rooms_server.metrics import Metrics
from rooms_server.protocol import CloseCode

log = logging.getLogger(__name__)

Sender = Callable[[str], Awaitable[None]]
Closer = Callable[[int, str], Awaitable[None]]
# Writes a ready-made frame at once and returns True, or returns False when the socket cannot take
# it now (closing, or its transport paused by backpressure); see web/ws.py.
Writer = Callable[[bytes], bool]
TIMED_EVENTS = frozenset({"index_changed", "playback_changed", "track_removed", "track_moved", "track_added"})
CONTROL_EVENTS = frozenset({"role_changed", "member_removed", "group_deleted", "follow_changed"}) | TIMED_EVENTS
Reactor = Callable[[str, Mapping[str, Any]], None]  # (group id, decoded event), registered in app.py
# Events that arrive while a socket's first frame is being built (a join storm: every join is an
# event) may fill this many times the queue's bound before the socket counts as slow.
PRE_START_FACTOR = 4


@dataclass(eq=False, slots=True)
class Client:
    """One socket: who it is, where it is in the group's history, and its outgoing queue."""

    id: str
    group_id: str
    user_id: str
    name: str
    role: str
    send: Sender
    close: Closer
    queue_size: int
    # Created when a frame has to wait, dropped once drained: an idle socket holds no queue and no task.
    queue: deque[tuple[str, int, str]] | None = None
    token_hash: str = ""  # re-checked periodically: a revoked or expired token ends the socket
    device_key: str | None = None  # this socket's device in the room (protocol.device_key), if its hello named one
    rtt_ms: int | None = None  # the last round-trip time the client reported, and when (server ms)
    rtt_reported_ms: float = 0.0
    epoch: str = ""
    seq: int = -1
    closed: bool = False
    sender: asyncio.Task[None] | None = None
    # Set by shut(): the socket's handler stops serving at once, even if the client never sends again.
    shut_down: asyncio.Event = field(init=False, default_factory=asyncio.Event)
    closing: asyncio.Task[None] | None = None  # the close frame, which may wait behind unread data
    write: Writer | None = None  # the direct path; None: every frame goes through the queue
    started: bool = False  # the first frame is out: live frames may be sent
    # Until then the queue may hold PRE_START_FACTOR times its bound, and when that is full it drops
    # its oldest event rather than the socket: the first frame (read after the socket joined) covers
    # it unless that many came meanwhile; start() checks that, and drops what the first frame covers.
    dropped: tuple[str, int] | None = None
    # Set when the queue overflowed after the first frame: nothing more is accepted, so the client
    # sees no gap before the close (its resume point stays before the frame that did not fit).
    overflowed: bool = False
    close_code: int | None = None  # what shut() closed with (counted in the metrics at the end)

    def push(self, epoch: str, seq: int, text: str, frame: bytes | None = None) -> bool:
        """Write at once when nothing is queued and the socket can take it, else queue; False: queue full.

        The direct write costs a fraction of a queue hop and a sender task switch per socket (see
        docs/BENCHMARKS.md); order is kept because it is only taken while nothing waits in the queue.
        """
        if self.overflowed:
            return False
        if self.write is not None and self.started and not self.queue:
            if epoch and epoch == self.epoch and seq <= self.seq:
                return True  # already covered by the snapshot or the replay
            if self.write(text_frame(text.encode()) if frame is None else frame):
                if epoch:
                    self.epoch, self.seq = epoch, seq
                return True
        return self.offer(epoch, seq, text)

    def offer(self, epoch: str, seq: int, text: str) -> bool:
        """Queue an event without waiting; False when the queue is full (a slow consumer)."""
        queue = self.queue
        if queue is None:
            queue = self.queue = deque()
        elif len(queue) >= self.queue_size:
            if self.started:
                self.overflowed = True
                return False
            if len(queue) < PRE_START_FACTOR * self.queue_size:
                queue.append((epoch, seq, text))
                return True
            dropped_epoch, dropped_seq, _ = queue.popleft()
            self.dropped = (dropped_epoch, dropped_seq)
        queue.append((epoch, seq, text))
        if self.started and self.sender is None:
            self.sender = asyncio.create_task(self._drain(), name=f"send-{self.id}")
        return True

    def start(self, epoch: str, seq: int) -> bool:
        """Begin sending live events after the first frame, which covered everything up to (epoch, seq).

        False when an event dropped while the first frame was being built is not covered by it:
        the socket would have a gap, and must be closed as a slow consumer.
        """
        self.epoch, self.seq = epoch, seq
        self.started = True
        queue = self.queue
        while queue and queue[0][0] == epoch and queue[0][1] <= seq:
            queue.popleft()  # covered by the first frame
        if queue is not None and not queue:
            self.queue = None
        elif queue:
            self.sender = asyncio.create_task(self._drain(), name=f"send-{self.id}")
        return self.dropped is None or self.dropped[0] != epoch or self.dropped[1] <= seq

    async def _drain(self) -> None:
        """Send what is queued, in order, then end; a frame leaves the queue once written.

        A failed send ends the task with its queue still full: the socket is gone, and further
        frames only fill the queue up to its bound (no new task is started while ``sender`` is set).
        """
        queue = self.queue
        while queue:
            epoch, seq, text = queue[0]
            if epoch:  # an event; answers (acks, errors, pongs) come with no epoch
                if epoch == self.epoch and seq <= self.seq:
                    queue.popleft()
                    continue  # already covered by the snapshot or the replay
                self.epoch, self.seq = epoch, seq
            await self.send(text)
            queue.popleft()
        self.sender = None
        self.queue = None

    async def shut(self, code: int, reason: str) -> None:
        """Stop sending and close with ``code``; waits at most 2 s for the close frame to be written.

        A slow consumer's close frame can only be written once the client reads what the transport
        already holds, so it is not abandoned after the wait: it stays pending (``wait_closed``) and
        reaches a client that reads again; a dead client's lost connection ends it.
        """
        if self.closed:
            return
        self.closed = True
        self.close_code = code
        self.shut_down.set()
        if self.sender is not None:
            self.sender.cancel()
        self.closing = asyncio.ensure_future(self.close(code, reason))
        self.closing.add_done_callback(_retrieve)
        await asyncio.wait([self.closing], timeout=2)

    async def wait_closed(self) -> None:
        """Until the close frame of shut() was written, or could not be (the connection is gone)."""
        if self.closing is not None:
            await asyncio.wait([self.closing])


def _retrieve(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()  # a close on a connection that is already gone fails; nothing to report


def revoked_signal(token_hash: str) -> bytes:
    """The process-wide message that ends every socket of a revoked token (see Hub.on_signal)."""
    return orjson.dumps({"type": "revoked", "token_hash": token_hash})


def text_frame(payload: bytes) -> bytes:
    """A complete unmasked WebSocket text frame (RFC 6455 5.2) holding ``payload``."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return b"\x81\x7e" + n.to_bytes(2, "big") + payload
    return b"\x81\x7f" + n.to_bytes(8, "big") + payload


class Hub:
    """Registry of this process's connections per group, fed by the engine's callbacks."""

    def __init__(self, metrics: Metrics | None = None) -> None:
        self.metrics = metrics or Metrics()
        self._delivered = self.metrics.frames_delivered.labels("event")
        self.groups: dict[str, set[Client]] = defaultdict(set)
        self.on_timed_event: Callable[[str], None] = lambda group_id: None
        self.on_group_reset: Callable[[str, list[Client]], None] = lambda group_id, conns: None
        # (group id, user id, notice id): a message for one member's sockets (see rooms_server/follow.py).
        self.on_notice: Callable[[str, str, str], None] = lambda group_id, user_id, notice_id: None
        self._tasks: set[asyncio.Task[None]] = set()
        self._reactors: list[Reactor] = []

    def add(self, conn: Client) -> bool:
        """Register a connection; True when it is this process's first for the group."""
        first = not self.groups.get(conn.group_id)
        self.groups[conn.group_id].add(conn)
        return first

    def remove(self, conn: Client) -> bool:
        """Forget a connection; True when it was this process's last for the group."""
        conns = self.groups.get(conn.group_id)
        if conns is None:
            return False
        conns.discard(conn)
        if not conns:
            del self.groups[conn.group_id]
            return True
        return False

    def connections(self, group_id: str) -> list[Client]:
        return list(self.groups.get(group_id, ()))

    def user_connections(self, user_id: str) -> int:
        return sum(1 for conns in self.groups.values() for c in conns if c.user_id == user_id)

    def socket_count(self) -> int:
        return sum(len(conns) for conns in self.groups.values())

    # -- engine callbacks (must not block) -------------------------------------------------------

    def on_event(self, group_id: str, epoch: str, seq: int, data: bytes) -> None:
        conns = self.groups.get(group_id)
        if not conns:
            return
        text = data.decode()
        frame = text_frame(data)  # the same bytes on every socket: no compression, server frames are unmasked
        delivered = 0
        for conn in list(conns):
            if conn.closed:
                continue
            if conn.push(epoch, seq, text, frame):
                delivered += 1
            else:
                self._spawn(conn.shut(CloseCode.SLOW_CONSUMER, "send queue full"))
        self._delivered.inc(delivered)
        control = any(f'"type":"{kind}"' in text[:40] for kind in CONTROL_EVENTS)
        if control or self._reactors:
            event = orjson.loads(data)  # decoded once, for the hub and every reactor
            if control:
                self._control(group_id, event)
            for reactor in self._reactors:
                reactor(group_id, event)

    def react(self, reactor: Reactor) -> None:
        """Call ``reactor(group_id, event)`` after the fan-out of every event of a group held here (app.py)."""
        self._reactors.append(reactor)

    def on_signal(self, message: bytes) -> None:
        """A process-wide message (Engine.broadcast): a revoked token ends its sockets here at once."""
        try:
            signal = orjson.loads(message)
        except orjson.JSONDecodeError:
            log.warning("ignoring an unreadable process-wide message")
            return
        if isinstance(signal, dict) and signal.get("type") == "revoked":
            token_hash = signal.get("token_hash")
            for conns in self.groups.values():
                for conn in list(conns):
                    if conn.token_hash == token_hash and not conn.closed:
                        self._spawn(conn.shut(CloseCode.UNAUTHORIZED, "the token was revoked"))

    def on_reset(self, group_id: str) -> None:
        conns = [c for c in self.groups.get(group_id, ()) if not c.closed]
        if conns:
            self.on_group_reset(group_id, conns)

    def _control(self, group_id: str, event: dict[str, object]) -> None:
        kind = event.get("type")
        if kind in TIMED_EVENTS:
            self.on_timed_event(group_id)
        elif kind == "role_changed":
            for conn in self.connections(group_id):
                if conn.user_id == event.get("user_id"):
                    conn.role = str(event.get("role"))
        elif kind == "member_removed":
            for conn in self.connections(group_id):
                if conn.user_id == event.get("user_id"):
                    self._spawn(self._close_after_flush(conn, CloseCode.FORBIDDEN, "removed from the group"))
        elif kind == "group_deleted":
            for conn in self.connections(group_id):
                self._spawn(self._close_after_flush(conn, CloseCode.GROUP_DELETED, "group deleted"))
        elif kind == "follow_changed" and isinstance(event.get("notice"), str):
            self.on_notice(group_id, str(event.get("user_id")), str(event["notice"]))

    async def _close_after_flush(self, conn: Client, code: int, reason: str) -> None:
        # Let the sender deliver the event that explains the close before closing.
        for _ in range(50):
            if not conn.queue or conn.closed:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.01)
        await conn.shut(code, reason)

    def _spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close_all(self, code: int, reason: str) -> None:
        await asyncio.gather(*(c.shut(code, reason) for conns in self.groups.values() for c in conns))
        for task in list(self._tasks):
            task.cancel()
