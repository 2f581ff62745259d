"""This process's sockets and the fan-out to them.

The engine calls ``on_event`` once per event of a group this process holds sockets for; the hub
decodes the frame once and offers the same text to every socket's bounded queue. Fan-out never
awaits a socket: one sender task per connection drains its queue, and a connection whose queue is
full is closed as a slow consumer (it resumes on reconnect).

The hub also reacts to a few events itself: role changes and removals update or close the
affected sockets at once, a deleted group closes them all, and playback changes re-arm the timer
that advances the group when its track ends (exactly once across processes: the advance runs
under the group lock and is a no-op once done).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import orjson

from rooms_server.protocol import CloseCode

log = logging.getLogger(__name__)

Sender = Callable[[str], Awaitable[None]]
Closer = Callable[[int, str], Awaitable[None]]
TIMED_EVENTS = frozenset({"index_changed", "playback_changed", "track_removed", "track_moved", "track_added"})
CONTROL_EVENTS = frozenset({"role_changed", "member_removed", "group_deleted"}) | TIMED_EVENTS


@dataclass(eq=False)
class Connection:
    """One socket: who it is, where it is in the group's history, and its outgoing queue."""

    id: str
    group_id: str
    user_id: str
    name: str
    role: str
    send: Sender
    close: Closer
    queue_size: int
    queue: asyncio.Queue[tuple[str, int, str]] = field(init=False)
    token_hash: str = ""  # re-checked periodically: a revoked or expired token ends the socket
    epoch: str = ""
    seq: int = -1
    closed: bool = False
    sender: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self.queue = asyncio.Queue(self.queue_size)

    def offer(self, epoch: str, seq: int, text: str) -> bool:
        """Queue an event without waiting; False when the queue is full (a slow consumer)."""
        try:
            self.queue.put_nowait((epoch, seq, text))
        except asyncio.QueueFull:
            return False
        return True

    def start(self, epoch: str, seq: int) -> None:
        """Begin sending live events after the first frame, which covered everything up to (epoch, seq)."""
        self.epoch, self.seq = epoch, seq
        self.sender = asyncio.create_task(self._drain(), name=f"send-{self.id}")

    async def _drain(self) -> None:
        while True:
            epoch, seq, text = await self.queue.get()
            if epoch:  # an event; answers (acks, errors, pongs) come with no epoch
                if epoch == self.epoch and seq <= self.seq:
                    continue  # already covered by the snapshot or the replay
                self.epoch, self.seq = epoch, seq
            await self.send(text)

    async def shut(self, code: int, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        if self.sender is not None:
            self.sender.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.close(code, reason), timeout=2)


class Hub:
    """Registry of this process's connections per group, fed by the engine's callbacks."""

    def __init__(self) -> None:
        self.groups: dict[str, set[Connection]] = defaultdict(set)
        self.on_timed_event: Callable[[str], None] = lambda group_id: None
        self.on_group_reset: Callable[[str, list[Connection]], None] = lambda group_id, conns: None
        self._tasks: set[asyncio.Task[None]] = set()

    def add(self, conn: Connection) -> bool:
        """Register a connection; True when it is this process's first for the group."""
        first = not self.groups.get(conn.group_id)
        self.groups[conn.group_id].add(conn)
        return first

    def remove(self, conn: Connection) -> bool:
        """Forget a connection; True when it was this process's last for the group."""
        conns = self.groups.get(conn.group_id)
        if conns is None:
            return False
        conns.discard(conn)
        if not conns:
            del self.groups[conn.group_id]
            return True
        return False

    def connections(self, group_id: str) -> list[Connection]:
        return list(self.groups.get(group_id, ()))

    def user_connections(self, user_id: str) -> int:
        return sum(1 for conns in self.groups.values() for c in conns if c.user_id == user_id)

    # -- engine callbacks (must not block) -------------------------------------------------------

    def on_event(self, group_id: str, epoch: str, seq: int, data: bytes) -> None:
        conns = self.groups.get(group_id)
        if not conns:
            return
        text = data.decode()
        for conn in list(conns):
            if not conn.closed and not conn.offer(epoch, seq, text):
                self._spawn(conn.shut(CloseCode.SLOW_CONSUMER, "send queue full"))
        if any(f'"type":"{kind}"' in text[:40] for kind in CONTROL_EVENTS):
            self._control(group_id, orjson.loads(data))

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

    async def _close_after_flush(self, conn: Connection, code: int, reason: str) -> None:
        # Let the sender deliver the event that explains the close before closing.
        for _ in range(50):
            if conn.queue.empty() or conn.closed:
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
