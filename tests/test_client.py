"""rooms_server.client.Client: the socket's state machine, with fake send/close/write callables.

Every wait is on an asyncio.Event or future the test controls; no sleep synchronises anything.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from rooms_server.client import PRE_START_FACTOR, Client, ClientState, text_frame


@dataclass
class Wire:
    """The socket's far side: what was sent, written directly and closed, and gates to hold sends."""

    sent: list[str] = field(default_factory=list)
    written: list[bytes] = field(default_factory=list)
    closes: list[tuple[int, str]] = field(default_factory=list)
    order: list[str] = field(default_factory=list)  # sends, writes and the close, in order
    send_gate: asyncio.Event | None = None  # when set: each send waits for it
    close_gate: asyncio.Event | None = None
    writable: bool = True
    fail_send: bool = False

    async def send(self, text: str) -> None:
        if self.send_gate is not None:
            await self.send_gate.wait()
        if self.fail_send:
            raise ConnectionError("gone")
        self.sent.append(text)
        self.order.append(text)

    async def close(self, code: int, reason: str) -> None:
        if self.close_gate is not None:
            await self.close_gate.wait()
        self.closes.append((code, reason))
        self.order.append(f"close {code}")

    def write(self, frame: bytes) -> bool:
        if not self.writable:
            return False
        self.written.append(frame)
        self.order.append(frame[2:].decode())
        return True


def client(wire: Wire, *, queue_size: int = 3, direct: bool = True) -> Client:
    return Client(
        id="c1",
        group_id="g",
        user_id="u",
        name="Ann",
        role="member",
        send=wire.send,
        close=wire.close,
        queue_size=queue_size,
        token_hash="t",
        write=wire.write if direct else None,
        device_key=None,
    )


async def settle(c: Client) -> None:
    """Until the client's own tasks are idle (each awaited, not slept on)."""
    for task in c.tasks():
        if not task.done():
            await asyncio.wait([task])


async def test_client_starts_connecting_and_queues_until_started() -> None:
    wire = Wire()
    c = client(wire)
    assert c.state is ClientState.CONNECTING and not c.closed
    assert c.push("e", 1, "one")
    assert wire.sent == [] and wire.written == [] and c.tasks() == []
    assert c.start("e", 0)
    assert c.state is ClientState.STARTED
    await settle(c)
    assert wire.sent == ["one"] and (c.epoch, c.seq) == ("e", 1)
    assert c.queued == 0 and c.tasks() == []  # an idle socket holds no queue and no task


async def test_client_start_drops_events_the_first_frame_covers() -> None:
    wire = Wire()
    c = client(wire)
    for seq in (1, 2, 3):
        c.push("e", seq, f"ev{seq}")
    assert c.start("e", 2)
    await settle(c)
    assert wire.sent == ["ev3"]


async def test_client_started_writes_directly_when_queue_empty() -> None:
    wire = Wire()
    c = client(wire)
    c.start("e", 0)
    assert c.push("e", 1, "one")
    assert c.push("", 0, "ack", text_frame(b"ack"))
    assert wire.written == [text_frame(b"one"), text_frame(b"ack")]
    assert (c.epoch, c.seq) == ("e", 1)  # answers (epoch "") do not move the resume point
    assert c.tasks() == []


async def test_client_dedupes_events_covered_by_the_snapshot() -> None:
    wire = Wire()
    c = client(wire)
    c.start("e", 5)
    assert c.push("e", 4, "old") and c.push("e", 5, "same")
    assert wire.written == []
    assert c.push("f", 1, "new epoch")
    assert wire.written == [text_frame(b"new epoch")]


async def test_client_dedupes_in_the_queue_too() -> None:
    wire = Wire(writable=False)
    c = client(wire, queue_size=5)
    c.start("e", 0)
    for seq in (1, 2, 1, 2, 3):
        c.push("e", seq, f"ev{seq}")
    await settle(c)
    assert wire.sent == ["ev1", "ev2", "ev3"]


async def test_client_queues_behind_a_waiting_frame_keeping_order() -> None:
    wire = Wire(send_gate=asyncio.Event())
    c = client(wire, queue_size=5)
    c.start("e", 0)
    wire.writable = False
    c.push("e", 1, "ev1")  # the transport cannot take it: queued
    wire.writable = True
    c.push("e", 2, "ev2")  # something waits: queued too, never written ahead
    assert wire.written == [] and c.queued == 2
    assert wire.send_gate is not None
    wire.send_gate.set()
    await settle(c)
    assert wire.sent == ["ev1", "ev2"] and c.queued == 0


async def test_client_overflow_before_start_drops_oldest_and_start_detects_the_gap() -> None:
    wire = Wire()
    c = client(wire, queue_size=2)
    limit = PRE_START_FACTOR * 2
    for seq in range(1, limit + 2):  # one more than fits: the oldest (seq 1) is dropped
        assert c.push("e", seq, f"ev{seq}")
    assert c.queued == limit
    assert not c.start("e", 0)  # the first frame does not cover seq 1: a gap


async def test_client_overflow_before_start_is_fine_when_the_first_frame_covers_it() -> None:
    wire = Wire()
    c = client(wire, queue_size=2)
    for seq in range(1, PRE_START_FACTOR * 2 + 3):
        c.push("e", seq, f"ev{seq}")
    assert c.start("e", 2)
    await settle(c)
    assert wire.sent == [f"ev{seq}" for seq in range(3, PRE_START_FACTOR * 2 + 3)]


async def test_client_overflow_after_start_refuses_everything_after() -> None:
    wire = Wire(send_gate=asyncio.Event(), writable=False)
    c = client(wire, queue_size=2)
    c.start("e", 0)
    assert c.push("e", 1, "ev1") and c.push("e", 2, "ev2")
    assert not c.push("e", 3, "ev3")
    wire.writable = True
    assert not c.push("", 0, "ack")  # nothing more, not even an answer: no gap before the close
    await c.shut(4008, "send queue full")
    assert wire.closes == [(4008, "send queue full")] and c.close_code == 4008
    assert wire.sent == []  # the queue is dropped: the client resumes from before ev1


async def test_client_shut_goes_closing_then_closed_and_is_idempotent() -> None:
    wire = Wire(close_gate=asyncio.Event())
    c = client(wire)
    c.start("e", 0)
    assert c.shut_nowait(4001, "bye")
    assert c.state is ClientState.CLOSING and c.closed and c.shut_down
    assert not c.shut_nowait(4002, "again")
    waiting = asyncio.ensure_future(c.wait_closed())
    assert wire.close_gate is not None
    wire.close_gate.set()
    await waiting
    assert c.state is ClientState.CLOSED
    await c.shut(4003, "and again")
    assert wire.closes == [(4001, "bye")] and c.close_code == 4001
    assert c.push("e", 1, "late") and wire.written == []  # a closed socket accepts nothing


async def test_client_shut_waits_for_the_close_frame() -> None:
    wire = Wire()
    c = client(wire)
    await c.shut(4001, "bye")
    assert wire.closes == [(4001, "bye")] and c.state is ClientState.CLOSED


async def test_client_shut_survives_a_failing_close() -> None:
    async def broken(code: int, reason: str) -> None:
        raise ConnectionError("gone")

    c = client(Wire())
    c.close = broken
    await c.shut(4001, "bye")
    await c.wait_closed()
    assert c.state is ClientState.CLOSED


async def test_client_close_after_flush_writes_the_explaining_event_first() -> None:
    wire = Wire(send_gate=asyncio.Event())
    c = client(wire, queue_size=5)
    c.start("e", 0)
    wire.writable = False
    c.push("e", 1, "ev1")
    c.push("e", 2, "member_removed")
    c.close_after_flush(4003, "removed from the group")
    assert c.state is ClientState.CLOSING and c.closed
    assert not c.shut_down  # the handler serves until the close begins
    assert c.push("e", 3, "after") and c.queued == 2  # nothing more is accepted
    assert wire.send_gate is not None
    wire.send_gate.set()
    await c.wait_closed()
    assert wire.order == ["ev1", "member_removed", "close 4003"]
    assert c.state is ClientState.CLOSED and c.close_code == 4003


async def test_client_close_after_flush_with_nothing_queued_closes_at_once() -> None:
    wire = Wire()
    c = client(wire)
    c.start("e", 0)
    c.push("e", 1, "group_deleted")  # written directly
    c.close_after_flush(4004, "group deleted")
    assert c.shut_down
    await c.wait_closed()
    assert wire.order == ["group_deleted", "close 4004"]


async def test_client_close_after_flush_before_start_closes_after_the_first_frame() -> None:
    wire = Wire()
    c = client(wire)
    c.push("e", 1, "member_removed")
    c.close_after_flush(4003, "removed")
    assert c.state is ClientState.CLOSING and wire.closes == []
    assert c.start("e", 0)
    await c.wait_closed()
    assert wire.order == ["member_removed", "close 4003"]


async def test_client_close_after_flush_covered_by_the_first_frame() -> None:
    wire = Wire()
    c = client(wire)
    c.push("e", 1, "member_removed")
    c.close_after_flush(4003, "removed")
    c.start("e", 1)
    await c.wait_closed()
    assert wire.order == ["close 4003"]


async def test_client_close_after_flush_closes_even_when_a_send_fails() -> None:
    wire = Wire(writable=False, fail_send=True)
    c = client(wire)
    c.start("e", 0)
    c.push("e", 1, "ev1")
    c.close_after_flush(4003, "removed")
    await c.wait_closed()
    assert wire.closes == [(4003, "removed")]
    await c.aclose()


async def test_client_shut_preempts_a_pending_flush() -> None:
    wire = Wire(send_gate=asyncio.Event(), writable=False)
    c = client(wire)
    c.start("e", 0)
    c.push("e", 1, "ev1")
    c.close_after_flush(4003, "removed")
    await c.shut(1012, "server shutting down")
    assert wire.closes == [(1012, "server shutting down")] and wire.sent == []
    assert c.close_code == 1012
    await c.aclose()
    assert wire.closes == [(1012, "server shutting down")]


async def test_client_close_after_flush_is_a_no_op_once_closed() -> None:
    wire = Wire()
    c = client(wire)
    await c.shut(4001, "bye")
    c.close_after_flush(4003, "removed")
    await c.aclose()
    assert wire.closes == [(4001, "bye")]


async def test_client_aclose_without_shut_ends_its_tasks() -> None:
    wire = Wire(send_gate=asyncio.Event(), writable=False)
    c = client(wire)
    c.start("e", 0)
    c.push("e", 1, "ev1")
    drain = c.tasks()[0]
    await c.aclose()
    assert drain.cancelled() and c.tasks() == []
    assert c.state is ClientState.CLOSED and wire.closes == []  # returning closes the transport
    await c.wait_closed()  # nothing under way: returns at once


async def test_client_aclose_waits_for_a_close_frame_then_gives_up() -> None:
    wire = Wire(close_gate=asyncio.Event())
    c = client(wire)
    c.shut_nowait(4008, "send queue full")
    closing = c.tasks()[0]
    await c.aclose(wait_s=0)  # the client never reads: the handler does not wait forever
    assert closing.done() and c.tasks() == [] and c.state is ClientState.CLOSED


async def test_client_aclose_lets_a_close_frame_under_way_finish() -> None:
    wire = Wire(close_gate=asyncio.Event())
    c = client(wire)
    c.shut_nowait(4008, "send queue full")
    closing = asyncio.ensure_future(c.aclose())
    await asyncio.sleep(0)  # one turn of the loop: aclose is waiting, not done
    assert not closing.done()
    assert wire.close_gate is not None
    wire.close_gate.set()
    await closing
    assert wire.closes == [(4008, "send queue full")] and c.tasks() == []


async def test_client_leaves_no_task_behind() -> None:
    before = asyncio.all_tasks()
    wire = Wire(send_gate=asyncio.Event(), writable=False)
    c = client(wire)
    c.push("e", 1, "ev1")
    c.start("e", 0)
    c.close_after_flush(4003, "removed")
    await c.aclose(wait_s=0)
    assert asyncio.all_tasks() == before


async def test_client_aclose_before_start_sends_a_pending_flush_close() -> None:
    wire = Wire()
    c = client(wire)
    c.push("e", 1, "member_removed")
    c.close_after_flush(4503, "removed")
    await c.aclose()  # the first frame failed: start() never came
    assert wire.closes == [(4503, "removed")] and c.state is ClientState.CLOSED
