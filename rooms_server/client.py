"""One room socket as seen by the hub: who it is, where it is in the group's history, its outgoing queue.

A ``Client`` is a small state machine (``ClientState``)::

    CONNECTING --start()--> STARTED --shut() / close_after_flush()--> CLOSING --close frame done--> CLOSED
        \\--shut() / close_after_flush()--> CLOSING            aclose() from any state --> CLOSED

- CONNECTING: the first frame (snapshot or replay) is being built. Events queue; the queue may hold
  ``PRE_START_FACTOR`` times its bound and then drops its oldest event, not the socket: the first
  frame covers it, which ``start()`` checks.
- STARTED: a frame is written at once (``write``, the direct path) when nothing waits in the queue,
  else queued and sent in order by the drain task. Overflow refuses everything from then on, so
  the client sees no gap before the slow-consumer close its caller sends (4008).
- CLOSING: nothing more is accepted. ``shut()`` drops the queue and sends the close frame now;
  ``close_after_flush()`` lets the drain task write what is already queued (the event explaining
  the close), and the drain task then sends the close frame.
- CLOSED: the close frame was written or could not be (the connection is gone), or the handler
  finished (``aclose()``), which cancels and awaits every task the client created.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

Sender = Callable[[str], Awaitable[None]]
Closer = Callable[[int, str], Awaitable[None]]
# Writes a ready-made frame at once and returns True, or returns False when the socket cannot take
# it now (closing, or its transport paused by backpressure); see web/fast_path.py.
Writer = Callable[[bytes], bool]
# Events that arrive while a socket's first frame is being built (a join storm: every join is an
# event) may fill this many times the queue's bound before the socket counts as slow.
PRE_START_FACTOR = 4
SHUT_WAIT_S = 2.0  # how long shut() waits for its close frame
CLOSE_WAIT_S = 30.0  # how long aclose() waits for a close frame stuck behind unread data


class ClientState(enum.Enum):
    CONNECTING = "connecting"
    STARTED = "started"
    CLOSING = "closing"
    CLOSED = "closed"


def text_frame(payload: bytes) -> bytes:
    """A complete unmasked WebSocket text frame (RFC 6455 5.2) holding ``payload``."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return b"\x81\x7e" + n.to_bytes(2, "big") + payload
    return b"\x81\x7f" + n.to_bytes(8, "big") + payload


@dataclass(eq=False, slots=True)
class Client:
    """One socket (see the module docstring for its states)."""

    id: str
    group_id: str
    user_id: str
    name: str
    role: str
    send: Sender
    close: Closer
    queue_size: int
    token_hash: str = ""  # re-checked periodically: a revoked or expired token ends the socket
    write: Writer | None = None  # the direct path; None: every frame goes through the queue
    device_key: str | None = None  # this socket's device in the room (protocol.device_key), if its hello named one
    rtt_ms: int | None = None  # the last round-trip time the client reported, and when (server ms)
    rtt_reported_ms: float = 0.0
    epoch: str = ""
    seq: int = -1
    close_code: int | None = None  # what the close frame carries (counted in the metrics at the end)
    # True once the close begins: the socket's handler stops serving, even if the client never sends again.
    shut_down: bool = field(init=False, default=False)
    # Called once when the close begins: wakes the handler's one pending receive (web/ws.py), so an
    # idle socket waits on a single thing rather than racing its receive against an Event.
    on_shut: Callable[[], object] | None = field(init=False, default=None)
    state: ClientState = field(init=False, default=ClientState.CONNECTING)
    # True from CLOSING on: a plain field, not a property, because fan-out reads it per socket per event.
    closed: bool = field(init=False, default=False)
    # Created when a frame has to wait, dropped once drained: an idle socket holds no queue and no task.
    _queue: deque[tuple[str, int, str]] | None = field(init=False, default=None)
    _drain_task: asyncio.Task[None] | None = field(init=False, default=None)
    _closing: asyncio.Task[None] | None = field(init=False, default=None)  # the close frame
    _after_flush: tuple[int, str] | None = field(init=False, default=None)  # close_after_flush's close
    _dropped: tuple[str, int] | None = field(init=False, default=None)  # the newest event dropped before start
    _overflowed: bool = field(init=False, default=False)
    _finished: bool = field(init=False, default=False)  # the close frame is done (or the handler ended)
    # Created only when someone waits for _finished: an Event (and its deque) is ~0.9 KB per socket.
    _finished_event: asyncio.Event | None = field(init=False, default=None)

    @property
    def queued(self) -> int:
        return len(self._queue) if self._queue else 0

    def tasks(self) -> list[asyncio.Task[None]]:
        """The tasks this client created that have not been awaited yet (empty after aclose)."""
        return [t for t in (self._drain_task, self._closing) if t is not None]

    # -- sending -----------------------------------------------------------------------------------

    def push(self, epoch: str, seq: int, text: str, frame: bytes | None = None) -> bool:
        """Write at once when nothing is queued and the socket can take it, else queue; False: queue full.

        Events (``epoch`` set) already covered by the first frame are skipped; answers (acks,
        errors, pongs) come with epoch "". A closing socket accepts nothing and needs no close.
        """
        if self._overflowed:
            return False
        if self.closed:
            return True
        if self.write is not None and self.state is ClientState.STARTED and not self._queue:
            if epoch and epoch == self.epoch and seq <= self.seq:
                return True  # already covered by the snapshot or the replay
            if self.write(text_frame(text.encode()) if frame is None else frame):
                if epoch:
                    self.epoch, self.seq = epoch, seq
                return True
        return self._offer(epoch, seq, text)

    def _offer(self, epoch: str, seq: int, text: str) -> bool:
        queue = self._queue
        if queue is None:
            queue = self._queue = deque()
        elif len(queue) >= self.queue_size:
            if self.state is not ClientState.CONNECTING:
                self._overflowed = True
                return False
            if len(queue) >= PRE_START_FACTOR * self.queue_size:
                dropped_epoch, dropped_seq, _ = queue.popleft()
                self._dropped = (dropped_epoch, dropped_seq)
        queue.append((epoch, seq, text))
        if self.state is ClientState.STARTED and self._drain_task is None:
            self._drain_task = asyncio.create_task(self._drain(), name=f"send-{self.id}")
        return True

    def start(self, epoch: str, seq: int) -> bool:
        """Begin sending live events after the first frame, which covered everything up to (epoch, seq).

        False when an event dropped while the first frame was being built is not covered by it:
        the socket would have a gap, and must be closed as a slow consumer.
        """
        self.epoch, self.seq = epoch, seq
        flushing = self.state is ClientState.CLOSING and self._closing is None
        if self.state is ClientState.CONNECTING:
            self.state = ClientState.STARTED
        elif not flushing:
            return True
        queue = self._queue
        while queue and queue[0][0] == epoch and queue[0][1] <= seq:
            queue.popleft()  # covered by the first frame
        if queue:
            self._drain_task = asyncio.create_task(self._drain(), name=f"send-{self.id}")
        else:
            self._queue = None
            if flushing:
                self._flushed()
        return self._dropped is None or self._dropped[0] != epoch or self._dropped[1] <= seq

    async def _drain(self) -> None:
        """Send what is queued, in order, then end; a frame leaves the queue once written.

        A failed send ends the task with its queue kept: the socket is gone, and further frames only
        fill the queue up to its bound (no new task starts while this one is kept).
        """
        queue = self._queue
        try:
            while queue:
                epoch, seq, text = queue[0]
                if epoch:
                    if epoch == self.epoch and seq <= self.seq:
                        queue.popleft()
                        continue  # already covered by the snapshot or the replay
                    self.epoch, self.seq = epoch, seq
                await self.send(text)
                queue.popleft()
            self._drain_task = None
            self._queue = None
        finally:
            if self._after_flush is not None and self._closing is None:
                self._flushed()  # the close follows what was queued, even when a send failed

    # -- closing -----------------------------------------------------------------------------------

    async def shut(self, code: int, reason: str) -> None:
        """Stop sending and close with ``code``; waits at most 2 s for the close frame to be written.

        A slow consumer's close frame can only be written once the client reads what the transport
        already holds, so it is not abandoned after the wait: it stays pending (``wait_closed``) and
        reaches a client that reads again; a dead client's lost connection ends it.
        """
        if self.shut_nowait(code, reason) and self._closing is not None:
            await asyncio.wait([self._closing], timeout=SHUT_WAIT_S)

    def shut_nowait(self, code: int, reason: str) -> bool:
        """shut() without the wait, for callers that cannot await; False when a close is already under way."""
        if self._closing is not None or self.state is ClientState.CLOSED:
            return False
        self._after_flush = None
        self._begin_close(code, reason)
        return True

    def close_after_flush(self, code: int, reason: str) -> None:
        """Close with ``code`` once the frames already queued are written; nothing more is accepted."""
        if self.closed:
            return
        started = self.state is ClientState.STARTED
        self.state = ClientState.CLOSING
        self.closed = True
        self._after_flush = (code, reason)
        if started and (self._drain_task is None or self._drain_task.done()):
            self._flushed()  # nothing waits: the explaining event is already on the transport
        # else the drain task, or start() once the first frame is out, closes when the queue is written

    def _flushed(self) -> None:
        assert self._after_flush is not None
        code, reason = self._after_flush
        self._after_flush = None
        self._begin_close(code, reason)

    def _begin_close(self, code: int, reason: str) -> None:
        self.state = ClientState.CLOSING
        self.closed = True
        self.close_code = code
        self.shut_down = True
        wake, self.on_shut = self.on_shut, None
        if wake is not None:
            wake()
        drain = self._drain_task
        if drain is not None and drain is not asyncio.current_task():
            drain.cancel()
        self._closing = asyncio.create_task(self._close_frame(code, reason), name=f"close-{self.id}")

    async def _close_frame(self, code: int, reason: str) -> None:
        try:
            with contextlib.suppress(Exception):  # a close on a connection already gone fails; nothing to report
                await self.close(code, reason)
        finally:
            self.state = ClientState.CLOSED
            self.closed = True
            self._finish()

    def _finish(self) -> None:
        self._finished = True
        if self._finished_event is not None:
            self._finished_event.set()

    async def _wait_finished(self) -> None:
        if not self._finished:
            if self._finished_event is None:
                self._finished_event = asyncio.Event()
            await self._finished_event.wait()

    async def wait_closed(self) -> None:
        """Until the close frame was written, or could not be (the connection is gone)."""
        if self.state is ClientState.CLOSING or self._closing is not None:
            await self._wait_finished()

    async def aclose(self, wait_s: float = CLOSE_WAIT_S) -> None:
        """The handler's final cleanup: wait up to ``wait_s`` for a close under way, then end every task.

        Returning closes the transport, which would drop a close frame still waiting behind unread
        data; a client that never reads again does not keep the handler forever.
        """
        if not self.closed:
            self.state = ClientState.CLOSED
            self.closed = True
        elif self._after_flush is not None and (self._drain_task is None or self._drain_task.done()):
            self._flushed()  # the first frame never went out: nothing will drain, close now
        try:
            if self.state is ClientState.CLOSING:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wait_finished(), wait_s)
        finally:
            self._after_flush = None  # a drain cancelled now must not start a close
            tasks = self.tasks()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._drain_task = self._closing = None
            self.state = ClientState.CLOSED
            self.closed = True
            self._finish()
