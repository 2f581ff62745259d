"""Bounded HTTP: a request's headers and body have deadlines, and connections beyond a cap are refused.

The protocol's rules are checked with a fake event loop whose timers the test fires itself; a real
server then survives a slowloris attack of 2,000 connections and refuses what is over its cap.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import Callable
from typing import Any

from uvicorn.config import Config
from uvicorn.server import ServerState

from rooms_server import serving
from rooms_server.serving import LINGER_S, REQUEST_TIMEOUT, TOO_MANY, HttpBounds, bounded_http_protocol
from tests.servers import Cluster

StartLocal = Callable[..., Cluster]
BOUNDS = HttpBounds(header_timeout_s=10, body_timeout_s=30, max_connections=3)


class FakeTimer:
    def __init__(self, delay: float, callback: Callable[[], None]) -> None:
        self.delay, self.callback, self.cancelled = delay, callback, False

    def cancel(self) -> None:
        self.cancelled = True


class FakeLoop:
    """Only what the protocol asks of a loop before it hands a request to the app."""

    def __init__(self) -> None:
        self.timers: list[FakeTimer] = []

    def call_later(self, delay: float, callback: Callable[[], None]) -> FakeTimer:
        timer = FakeTimer(delay, callback)
        self.timers.append(timer)
        return timer

    def armed(self) -> list[float]:
        return [t.delay for t in self.timers if not t.cancelled]

    def fire(self) -> None:
        (timer,) = [t for t in self.timers if not t.cancelled]
        timer.cancelled = True
        timer.callback()

    def create_task(self, coro: Any, **_: Any) -> Any:
        coro.close()  # the app never runs here: these tests stop at the protocol
        return asyncio.Future(loop=asyncio.new_event_loop())


class FakeTransport:
    def __init__(self) -> None:
        self.written = b""
        self.closing = False
        self.eof_written = False

    def write(self, data: bytes) -> None:
        self.written += data

    def close(self) -> None:
        self.closing = True

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof_written = True

    def is_closing(self) -> bool:
        return self.closing

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def set_write_buffer_limits(self, **_: Any) -> None:
        pass


async def _app(scope: Any, receive: Any, send: Any) -> None:
    raise AssertionError("not reached")


def protocol(state: ServerState, loop: FakeLoop) -> Any:
    cls = bounded_http_protocol(BOUNDS)
    assert cls is not None, "uvicorn's HttpToolsProtocol was not found: the fence did not hold"
    config = Config(app=_app, http=cls, lifespan="off")
    config.load()
    return cls(config=config, server_state=state, app_state={}, _loop=loop)


def test_http_bounds_headers_must_arrive_within_the_header_deadline() -> None:
    loop, transport = FakeLoop(), FakeTransport()
    proto = protocol(ServerState(), loop)
    proto.connection_made(transport)
    assert loop.armed() == [10]
    proto.data_received(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # slowloris: never the blank line
    assert loop.armed() == [10]  # data does not extend the deadline
    loop.fire()
    assert transport.written == REQUEST_TIMEOUT and transport.eof_written


def test_http_bounds_a_timed_out_connection_lingers_half_closed_then_closes() -> None:
    """After the 408 the connection is half-closed and what the client still sends is dropped; it is
    closed after LINGER_S, so the kernel never resets it with the 408 unread."""
    loop, transport = FakeLoop(), FakeTransport()
    proto = protocol(ServerState(), loop)
    proto.connection_made(transport)
    proto.data_received(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    loop.fire()
    assert loop.armed() == [LINGER_S] and not transport.closing
    proto.data_received(b"X-Slow: 1\r\n\r\n")  # a late end of headers starts no request
    assert transport.written == REQUEST_TIMEOUT and proto.cycle is None
    loop.fire()
    assert transport.closing


def test_http_bounds_body_must_arrive_within_the_body_deadline() -> None:
    loop, transport = FakeLoop(), FakeTransport()
    proto = protocol(ServerState(), loop)
    proto.connection_made(transport)
    proto.data_received(b"POST /api/users HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
    assert loop.armed() == [30]
    loop.fire()
    assert transport.closing  # the app's receive() sees the disconnect


def test_http_bounds_complete_requests_disarm_the_deadlines() -> None:
    loop, transport = FakeLoop(), FakeTransport()
    proto = protocol(ServerState(), loop)
    proto.connection_made(transport)
    proto.data_received(b"POST /api/users HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
    assert loop.armed() == [] and not transport.closing


def test_http_bounds_refuse_connections_over_the_cap_at_once() -> None:
    loop, state = FakeLoop(), ServerState()
    held = [protocol(state, loop) for _ in range(3)]
    for proto in held:
        proto.connection_made(FakeTransport())
    extra, transport = protocol(state, loop), FakeTransport()
    extra.connection_made(transport)
    assert transport.written == TOO_MANY and transport.closing
    extra.connection_lost(None)  # the refused one was never counted
    assert len(state.connections) == 3


async def _slowloris(port: int, trickle_s: float, stop: asyncio.Event) -> tuple[bytes, float]:
    """A connection that sends a header line every ``trickle_s`` and never ends its headers; returns
    what the server answered and when it closed the connection (loop time)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    answer = b""

    async def trickle() -> None:
        with contextlib.suppress(OSError):  # the server closed the connection
            while not stop.is_set():
                await asyncio.sleep(trickle_s)
                writer.write(b"X-Slow: 1\r\n")
                await writer.drain()

    task = asyncio.create_task(trickle())
    try:
        answer = await reader.read()  # until the server closes
    finally:
        task.cancel()
        writer.close()
    return answer, asyncio.get_running_loop().time()


async def test_http_bounds_a_slowloris_attack_is_shed_and_the_server_keeps_serving(start_local: StartLocal) -> None:
    """2,000 connections trickling header lines are each closed with 408 once the header deadline
    (2 s) passes, while an ordinary request during the attack is served."""
    cluster = await asyncio.to_thread(start_local, HTTP_HEADER_TIMEOUT_S="2")
    port, stop = cluster[0].port, asyncio.Event()
    started = asyncio.get_running_loop().time()
    attack = [asyncio.create_task(_slowloris(port, 0.5, stop)) for _ in range(2000)]
    await asyncio.sleep(0.5)
    served = await cluster.api(0).acall("GET", "/healthz")
    assert served == {"status": "ok"}
    results = await asyncio.wait_for(asyncio.gather(*attack), timeout=60)
    stop.set()
    assert {answer for answer, _ in results} == {REQUEST_TIMEOUT}
    held_s = max(closed for _, closed in results) - started
    assert 2 <= held_s < 30  # none closed before its deadline; all shed (generously bounded)


async def test_http_bounds_connections_over_max_connections_get_503(start_local: StartLocal) -> None:
    cluster = await asyncio.to_thread(start_local, MAX_CONNECTIONS="20", HTTP_HEADER_TIMEOUT_S="30")
    port = cluster[0].port
    idle = [await asyncio.open_connection("127.0.0.1", port) for _ in range(20)]
    await asyncio.sleep(0.2)  # the server has accepted them all
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    assert (await asyncio.wait_for(reader.read(), 10)).startswith(b"HTTP/1.1 503")
    writer.close()
    for _, idle_writer in idle:
        idle_writer.close()
    await asyncio.sleep(0.2)
    assert await cluster.api(0).acall("GET", "/healthz") == {"status": "ok"}


def test_serving_tune_gc_freezes_start_up_and_raises_thresholds() -> None:
    before = gc.get_threshold()
    try:
        serving.tune_gc()
        assert gc.get_threshold() == serving.GC_THRESHOLDS
        assert gc.get_freeze_count() > 0  # what existed at start-up is out of every collection
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
