"""The served phase of a room socket: a reader that answers at once, an in-order command worker.

The reader takes every frame as it arrives: it refuses what cannot be read (bad JSON, binary
frames), answers control frames (``ping``) at once, charges the rate limit on arrival, and puts
commands on a bounded queue. One worker per socket starts them in the order they came, each once
the one before has its place in the group's queue (so they commit together, group_commit.py), and
answers them in that order; a command waiting for a slow link lookup delays the commands behind
it but never a ``pong``: a phone keeps measuring a live link while the room is busy. Every command gets an
answer: its ``ack``, its ``error``, ``unavailable`` when the engine or the database failed it (the
commands behind it are still each tried and answered), or the answer it got the first time when
its id was seen before.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from rooms_server import failures, group_commit, latency, protocol, rooms
from rooms_server.client import Client
from rooms_server.commands import Commands
from rooms_server.config import Settings
from rooms_server.engine.base import EngineBusy
from rooms_server.failures import BACKEND_ERRORS
from rooms_server.live import LiveGroups
from rooms_server.metrics import Metrics
from rooms_server.outcomes import Duplicate
from rooms_server.protocol import ClientFrame, CloseCode, ProtocolError
from rooms_server.room_state import Actor

log = logging.getLogger(__name__)

Clock = Callable[[], float]  # monotonic seconds; tests inject their own
Receive = Callable[[], Awaitable[str | bytes | None]]  # the next frame, None once the socket is shut

MAX_BAD_FRAMES = 20
MAX_RATE_STRIKES = 40
STRIKE_WINDOW_S = 60.0  # bad frames and rate strikes are forgotten after this long
MAX_QUEUED_COMMANDS = 64  # commands accepted but not yet executed; beyond it they are refused `busy`
MAX_IN_FLIGHT = 64  # commands started (queued in their group or committing) but not yet answered
FINISH_COMMAND_S = 30.0  # after the client left, how long its running command may take to finish
BUSY_RETRY_MS = 500


class TokenBucket:
    """Commands per second with a burst allowance, charged when a frame arrives."""

    __slots__ = ("rate", "capacity", "clock", "tokens", "stamp")

    def __init__(self, rate: float, burst: int, clock: Clock = time.monotonic) -> None:
        self.rate, self.capacity, self.clock = rate, float(burst), clock
        self.tokens, self.stamp = float(burst), clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class Strikes:
    """Violations counted per window: persistent abuse closes the socket, an occasional slip never does."""

    __slots__ = ("window_s", "clock", "count", "since")

    def __init__(self, window_s: float = STRIKE_WINDOW_S, clock: Clock = time.monotonic) -> None:
        self.window_s, self.clock = window_s, clock
        self.count, self.since = 0, clock()

    def add(self) -> int:
        now = self.clock()
        if now - self.since > self.window_s:
            self.count, self.since = 0, now
        self.count += 1
        return self.count


class CommandLoop:
    """Serves one socket after its first frame until it closes.

    The commands wait in a deque and the worker task runs only while there are some: an idle socket
    holds neither an ``asyncio.Queue`` (~3 KB with its deques and Event) nor a parked task.
    """

    __slots__ = (
        "conn",
        "receive",
        "live",
        "limits",
        "present_users",
        "bucket",
        "bad_frames",
        "rate_strikes",
        "metrics",
        "queue",
        "worker",
        "serving",
        "in_flight",
        "last",
    )

    def __init__(
        self,
        conn: Client,
        receive: Receive,
        live: LiveGroups,
        settings: Settings,
        present_users: Callable[[], Awaitable[int]],
        clock: Clock = time.monotonic,
        metrics: Metrics | None = None,
    ) -> None:
        self.conn = conn
        self.receive = receive
        self.live = live
        self.limits = settings.limits
        self.present_users = present_users
        self.bucket = TokenBucket(self.limits.commands_per_second, self.limits.command_burst, clock)
        self.bad_frames = Strikes(clock=clock)
        self.rate_strikes = Strikes(clock=clock)
        self.metrics = metrics or Metrics()
        # Each command with when it arrived (perf_counter), for the latency metric; commands leave it
        # as they start. At most MAX_QUEUED_COMMANDS wait. The queue, the worker that starts them and
        # the set of those started are created by the first command (an idle socket holds none of
        # them: an empty deque alone is ~0.8 KB); the queue and the worker are dropped once empty.
        self.queue: deque[tuple[ClientFrame, float]] | None = None
        self.worker: asyncio.Task[None] | None = None  # runs while commands wait to start
        self.serving: set[asyncio.Task[None]] | None = None  # started, not yet answered (kept by reference)
        self.in_flight: asyncio.Semaphore | None = None
        self.last: asyncio.Task[None] | None = None  # the latest started: the next one answers after it

    async def run(self) -> None:
        try:
            await self._read()
        finally:
            await self._finish()

    async def _finish(self) -> None:
        """Nobody reads the answers any more: drop the queued commands, let the started ones end.

        A started one may be between its SQL and engine commits; cancelling it there would leave
        the live state behind SQL (harmless, the next command rebuilds it, but slower).
        """
        self.queue = None
        pending = [task for task in (self.worker, *(self.serving or ())) if task is not None]
        if not pending:
            return
        _, unfinished = await asyncio.wait(pending, timeout=FINISH_COMMAND_S)
        for task in unfinished:
            task.cancel()
        await asyncio.gather(*unfinished, return_exceptions=True)

    # -- the reader ------------------------------------------------------------------------------

    async def _read(self) -> None:
        while not self.conn.closed:
            raw = await self.receive()
            if raw is None or not await self._take(raw):
                return

    async def _take(self, raw: str | bytes) -> bool:
        """Handle one frame as it arrives; False once the socket is to be closed."""
        arrived = time.perf_counter()
        try:
            if isinstance(raw, bytes):
                raise ProtocolError("binary_frame", "frames must be JSON text frames, not binary")
            frame = protocol.parse_client_frame(
                raw, max_bytes=self.limits.max_frame_bytes, max_chat_chars=self.limits.chat_max_chars
            )
        except ProtocolError as exc:
            if self.bad_frames.add() > MAX_BAD_FRAMES:
                await self.conn.shut(CloseCode.TOO_MANY_BAD_FRAMES, "too many bad frames")
                return False
            self.metrics.command_done("invalid", exc.code, time.perf_counter() - arrived)
            self._reply(protocol.error(exc.code, exc.message, exc.id))
            return True
        if isinstance(frame, protocol.Ping):
            self._reply(protocol.pong(frame.client_time, self.live.now_ms(), frame.id))
            if frame.rtt_ms is not None:
                await self._note_rtt(frame.rtt_ms)
        elif isinstance(frame, protocol.Hello):
            self._reply(protocol.error("already_authenticated", "hello is only the first frame", frame.id))
        elif not self.bucket.take():
            if self.rate_strikes.add() > MAX_RATE_STRIKES:
                await self.conn.shut(CloseCode.TOO_MANY_COMMANDS, "command rate limit exceeded")
                return False
            self.metrics.command_done(frame.type, "rate_limited", time.perf_counter() - arrived)
            self._reply(protocol.error("rate_limited", "too many commands; slow down", frame.id))
        elif self.queue is not None and len(self.queue) >= MAX_QUEUED_COMMANDS:
            message = "too many commands waiting; try again"
            self.metrics.command_done(frame.type, "busy", time.perf_counter() - arrived)
            self._reply(protocol.error("busy", message, frame.id, retry_after_ms=BUSY_RETRY_MS))
        else:
            if self.queue is None:
                self.queue = deque()
            self.queue.append((frame, arrived))
            if self.worker is None:
                self.worker = asyncio.create_task(self._work(), name=f"commands-{self.conn.id}")
        return True

    # -- the worker ------------------------------------------------------------------------------

    async def _work(self) -> None:
        """Start each waiting command once the one before has its place in the group's order, then
        end (the next command starts a new worker). Answers leave in the order the commands came.

        A command waits for the one before it only until that one is queued in its group
        (group_commit.in_queue), not until it committed: the socket's commands then commit in one
        batch instead of one round of lock, SQL and engine each. Each ``_serve`` waits for its
        predecessor before replying.
        """
        if self.serving is None or self.in_flight is None:
            self.serving, self.in_flight = set(), asyncio.Semaphore(MAX_IN_FLIGHT)
        while self.queue:
            frame, arrived = self.queue.popleft()
            await self.in_flight.acquire()
            # A future, not an Event: resolved by the command when it is queued in its group, or
            # by its task's end, and awaited once (no waiter task per command).
            signal: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            token = group_commit.in_queue.set(signal)
            try:  # the task copies the context, and with it the signal its command resolves
                task = asyncio.create_task(self._serve(frame, arrived, self.last), name=f"command-{self.conn.id}")
            finally:
                group_commit.in_queue.reset(token)
            self.serving.add(task)
            task.add_done_callback(self._served)
            task.add_done_callback(functools.partial(_placed_when_done, signal))
            self.last = task
            await signal
        self.queue = self.worker = None

    def _served(self, task: asyncio.Task[None]) -> None:
        assert self.serving is not None and self.in_flight is not None
        self.serving.discard(task)
        self.in_flight.release()
        if task is self.last:
            self.last = None

    async def _serve(self, frame: ClientFrame, arrived: float, previous: asyncio.Task[None] | None) -> None:
        try:
            answer, result = await self._execute(frame)
            if previous is not None:
                await previous
            self.metrics.command_done(frame.type, result, time.perf_counter() - arrived)
            self._reply(answer)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling() > 0:
                raise  # _finish cancelled us: the socket is gone, nobody waits for an answer
            # A CancelledError nobody asked for (a library's timeout, a cancelled future awaited
            # inside a command) must not end silently: the socket would stay open while every
            # later command went unanswered, a host gone deaf without being told.
            log.error("command worker of connection %s was cancelled from inside", self.conn.id, exc_info=True)
            await self.conn.shut(CloseCode.SERVER_ERROR, "server error; reconnect and resume")
        except Exception:
            # A bug: say so with the documented close (reconnect and resume), never leave the
            # commands behind it unanswered on an open socket.
            log.exception("command worker of connection %s failed", self.conn.id)
            await self.conn.shut(CloseCode.SERVER_ERROR, "server error; reconnect and resume")

    async def _execute(self, frame: ClientFrame) -> tuple[str, str]:
        """The answer to a command, and its result for the metrics ('ack' or the error code)."""
        conn = self.conn
        # The role is read per command: a promotion or demotion applies to the very next one.
        actor = Actor(conn.user_id, conn.name, conn.role, conn.device_key)
        commands = Commands(self.live, conn.group_id, actor, self.present_users)
        try:
            seq = await commands.execute(frame)
        except rooms.RoomError as exc:
            return protocol.error(exc.code, exc.message, frame.id), exc.code
        except Duplicate as duplicate:
            return _replayed(duplicate.answer, frame.id), "duplicate"
        except EngineBusy:
            busy = protocol.error("busy", "the room is busy; try again", frame.id, retry_after_ms=BUSY_RETRY_MS)
            return busy, "busy"
        except BACKEND_ERRORS as exc:
            failure = failures.classify(exc)
            if failure is None:
                raise
            self.metrics.backend_error(exc, "socket")
            failures.report(failure, f"command {type(frame).__name__} in group {conn.group_id}")
            message = failure.message
            return protocol.error(
                "unavailable", message, frame.id, retry_after_ms=failure.retry_after_ms
            ), "unavailable"
        return protocol.ack(frame.id, seq), "ack"

    async def _note_rtt(self, rtt_ms: int) -> None:
        """The room's lead follows its slowest phone: pass this socket's report on (throttled).

        Best effort: while the engine is down the lead stays what it was, and the pong is out already.
        """
        conn, now = self.conn, self.live.now_ms()
        if latency.should_report(rtt_ms, last_rtt_ms=conn.rtt_ms, last_report_ms=conn.rtt_reported_ms, now_ms=now):
            conn.rtt_ms, conn.rtt_reported_ms = rtt_ms, now
            try:
                await self.live.latency.report(conn.group_id, rtt_ms)
            except BACKEND_ERRORS as exc:
                if failures.classify(exc) is None:
                    raise

    def _reply(self, text: str) -> None:
        """Answers share the socket's queue (or direct path) with events, so order is kept."""
        if not self.conn.push("", 0, text):
            self.conn.shut_nowait(CloseCode.SLOW_CONSUMER, "send queue full")


def _placed_when_done(signal: asyncio.Future[None], _task: asyncio.Task[None]) -> None:
    group_commit.placed(signal)  # a command that ended without being queued lets the next one start


def _replayed(answer: dict[str, Any], frame_id: str | None) -> str:
    """The first answer of a repeated command id, marked as a duplicate."""
    if "seq" in answer:
        return protocol.ack(frame_id, int(answer["seq"]), duplicate=True)
    return protocol.error(str(answer["code"]), str(answer["message"]), frame_id, duplicate=True)
