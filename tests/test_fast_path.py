"""rooms_server.web.fast_path on real uvicorn (port 0, in this test's event loop), and its fallback.

(a) uvicorn's websockets-sansio serves the socket: the fast path is active (a writer, and the
``rooms_fast_path_sockets`` gauge counts the socket) and events arrive; (b) ``FAST_PATH=off`` and a
detector that finds a renamed attribute both give the ASGI send, and the same frames arrive.
"""

from __future__ import annotations

import asyncio
import secrets
import urllib.request
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import orjson
import pytest
import uvicorn
from websockets.asyncio.client import connect

from rooms_server import socket_protocol
from rooms_server.app import create_app
from rooms_server.config import Settings
from rooms_server.web import fast_path, ws

HOST = "127.0.0.1"
METRICS_TOKEN = secrets.token_urlsafe(16)
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
Writers = list[Callable[[bytes], bool] | None]


class Running:
    def __init__(self, port: int) -> None:
        self.port = port

    def call(self, method: str, path: str, body: Mapping[str, Any] | None = None, token: str | None = None) -> Any:
        headers = {"content-type": "application/json"}
        if token is not None:
            headers["authorization"] = f"Bearer {token}"
        data = None if body is None else orjson.dumps(body)
        request = urllib.request.Request(f"http://{HOST}:{self.port}{path}", data, headers, method=method)
        with _NO_PROXY.open(request, timeout=10) as response:
            raw = response.read()
        return raw if path == "/metrics" else orjson.loads(raw or b"null")

    async def acall(
        self, method: str, path: str, body: Mapping[str, Any] | None = None, token: str | None = None
    ) -> Any:
        return await asyncio.to_thread(self.call, method, path, body, token)


async def serve(
    tmp_path: Path, fast: bool, protocol: str | type[asyncio.Protocol] = "websockets-sansio"
) -> AsyncIterator[Running]:
    settings = Settings.from_env(
        {
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'rooms.db'}",
            "SECRET_KEY": secrets.token_urlsafe(32),
            "METRICS_TOKEN": METRICS_TOKEN,
            "FAST_PATH": "on" if fast else "off",
            "HOST": HOST,
        }
    )
    config = uvicorn.Config(
        create_app(settings),
        host=HOST,
        port=0,
        ws=protocol,
        ws_per_message_deflate=False,
        log_config=None,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # the startup is ours to wait for: no other signal is offered
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    port = int(server.servers[0].sockets[0].getsockname()[1])
    try:
        yield Running(port)
    finally:
        server.should_exit = True
        await task


@pytest.fixture
def writers(monkeypatch: pytest.MonkeyPatch) -> Writers:
    """What direct_writer returned for each socket the server accepted."""
    seen: Writers = []
    real = ws.direct_writer

    def spy(socket: object, *, enabled: bool = True) -> Callable[[bytes], bool] | None:
        writer = real(socket, enabled=enabled)
        seen.append(writer)
        return writer

    monkeypatch.setattr(ws, "direct_writer", spy)
    return seen


async def chat_round_trip(running: Running) -> tuple[list[Mapping[str, Any]], bytes]:
    """Two members in a room; the admin chats three times; what the listener got, and the metrics meanwhile."""
    admin = await running.acall("POST", "/api/users", {"name": "Ann"})
    listener = await running.acall("POST", "/api/users", {"name": "Bob"})
    group = await running.acall("POST", "/api/groups", {"name": "room", "is_public": True}, admin["token"])
    await running.acall("POST", f"/api/groups/{group['id']}/join", None, listener["token"])
    url = f"ws://{HOST}:{running.port}/ws/groups/{group['id']}"
    async with (
        connect(url, proxy=None, compression=None) as a,
        connect(url, proxy=None, compression=None) as b,
    ):
        for sock, user in ((a, admin), (b, listener)):
            await sock.send(orjson.dumps({"type": "hello", "token": user["token"]}).decode())
            assert orjson.loads(await sock.recv())["type"] == "snapshot"
        metrics = await running.acall("GET", "/metrics", None, METRICS_TOKEN)
        for n in range(3):
            await a.send(orjson.dumps({"type": "chat", "id": f"c{n}", "text": f"hello {n}"}).decode())
        received: list[Mapping[str, Any]] = []
        while len([f for f in received if f.get("type") == "chat"]) < 3:
            received.append(orjson.loads(await asyncio.wait_for(b.recv(), 10)))
    return received, metrics


def chats(frames: list[Mapping[str, Any]]) -> list[str]:
    return [str(f["text"]) for f in frames if f.get("type") == "chat"]


async def test_fast_path_is_active_on_uvicorn_and_events_arrive(tmp_path: Path, writers: Writers) -> None:
    async for running in serve(tmp_path, fast=True):
        frames, metrics = await chat_round_trip(running)
    assert len(writers) == 2 and all(w is not None for w in writers)
    assert b"rooms_fast_path_sockets 2.0" in metrics
    assert chats(frames) == ["hello 0", "hello 1", "hello 2"]


async def test_fast_path_is_active_on_the_entry_points_lean_protocol(tmp_path: Path, writers: Writers) -> None:
    # What rooms_server/__main__.py gives uvicorn: a subclass of its
    # protocol, which a check of the class's own name once took for another server (and every
    # frame went through the ASGI send: twice the CPU per delivery).
    protocol = socket_protocol.room_socket_protocol()
    assert not isinstance(protocol, str)
    async for running in serve(tmp_path, fast=True, protocol=protocol):
        frames, metrics = await chat_round_trip(running)
    assert len(writers) == 2 and all(w is not None for w in writers)
    assert b"rooms_fast_path_sockets 2.0" in metrics
    assert chats(frames) == ["hello 0", "hello 1", "hello 2"]


async def test_lean_protocol_an_accepted_socket_keeps_no_handshake_and_nothing_queued(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What an idle room socket must not hold (docs/BENCHMARKS.md, *Memory per idle socket*): the
    # handshake's request and response, uvicorn's asyncio.Queue and Event; and it is served by the
    # handler straight from the middlewares (web/socket_routes.py), no Starlette router frame.
    protocols: list[Any] = []
    real = ws.direct_writer

    def spy(socket: object, *, enabled: bool = True) -> Callable[[bytes], bool] | None:
        protocols.append(socket._receive.__self__)  # type: ignore[attr-defined]
        return real(socket, enabled=enabled)

    monkeypatch.setattr(ws, "direct_writer", spy)
    protocol = socket_protocol.room_socket_protocol()
    assert not isinstance(protocol, str)
    async for running in serve(tmp_path, fast=True, protocol=protocol):
        admin = await running.acall("POST", "/api/users", {"name": "Ann"})
        group = await running.acall("POST", "/api/groups", {"name": "room"}, admin["token"])
        url = f"ws://{HOST}:{running.port}/ws/groups/{group['id']}"
        async with connect(url, proxy=None, compression=None) as sock:
            await sock.send(orjson.dumps({"type": "hello", "token": admin["token"]}).decode())
            assert orjson.loads(await sock.recv())["type"] == "snapshot"
            (proto,) = protocols
            assert "request" not in proto.__dict__ and "response" not in proto.__dict__
            assert isinstance(proto.queue, socket_protocol.Inbox) and proto.queue._items is None
            assert isinstance(proto.writable, socket_protocol.Flag) and proto.writable.is_set()
            # websockets' handshake parser keeps the request in its frame: its headers are emptied.
            assert len(proto.conn.parser.gi_frame.f_locals["request"].headers) == 0
            handler = next(t for t in asyncio.all_tasks() if "run_asgi" in repr(t.get_coro()))
            frames = _awaited_code_files(handler.get_coro())
            assert not any(f.endswith(("starlette/routing.py", "starlette/_exception_handler.py")) for f in frames)
            assert any(f.endswith("rooms_server/web/ws.py") for f in frames)
            await sock.send(orjson.dumps({"type": "chat", "id": "c0", "text": "still here"}).decode())
            while (frame := orjson.loads(await asyncio.wait_for(sock.recv(), 10)))["type"] != "chat":
                pass
            assert frame["text"] == "still here"


def _awaited_code_files(coro: Any) -> list[str]:
    """The files of the coroutine frames a suspended task's coroutine is awaiting, outermost first."""
    files = []
    while coro is not None and hasattr(coro, "cr_code"):
        files.append(coro.cr_code.co_filename)
        coro = coro.cr_await
    return files


async def test_fast_path_off_sends_the_same_frames_through_asgi(tmp_path: Path, writers: Writers) -> None:
    async for running in serve(tmp_path, fast=False):
        frames, metrics = await chat_round_trip(running)
    assert writers == [None, None]
    assert b"rooms_fast_path_sockets 0.0" in metrics
    assert chats(frames) == ["hello 0", "hello 1", "hello 2"]


async def test_fast_path_falls_back_when_uvicorn_renamed_an_attribute(
    tmp_path: Path, writers: Writers, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_detect = fast_path._detect

    def renamed(socket: object) -> Any:
        proto = socket._receive.__self__  # type: ignore[attr-defined]
        proto.writable_renamed = proto.__dict__.pop("writable")  # as if a release renamed it
        try:
            return real_detect(socket)
        finally:
            proto.writable = proto.__dict__.pop("writable_renamed")

    monkeypatch.setattr(fast_path, "_detect", renamed)
    async for running in serve(tmp_path, fast=True):
        frames, _ = await chat_round_trip(running)
    assert writers == [None, None]
    assert chats(frames) == ["hello 0", "hello 1", "hello 2"]


def test_fast_path_unknown_server_or_changed_attributes_give_none() -> None:
    from websockets.server import ServerProtocol

    class Receive:
        def __init__(self, proto: object) -> None:
            self.__self__ = proto

    class Socket:
        def __init__(self, proto: object) -> None:
            self._receive = Receive(proto)

    assert fast_path.direct_writer(object()) is None
    assert fast_path.direct_writer(Socket(object())) is None
    proto_class = type("WebSocketsSansIOProtocol", (), {})
    proto = proto_class()
    assert fast_path.direct_writer(Socket(proto)) is None  # no .conn
    proto.conn = ServerProtocol()
    assert fast_path.direct_writer(Socket(proto)) is None  # no transport, writable, close_sent
    proto.writable = asyncio.Event()
    proto.close_sent = False

    class Transport:
        def write(self, data: bytes) -> None:
            pass

    proto.transport = Transport()  # no is_closing
    assert fast_path.direct_writer(Socket(proto)) is None
    assert fast_path.direct_writer(Socket(proto), enabled=False) is None


def test_fast_path_writer_returns_false_when_an_attribute_vanishes() -> None:
    from websockets.protocol import State
    from websockets.server import ServerProtocol

    class Transport:
        def __init__(self) -> None:
            self.data: list[bytes] = []

        def write(self, data: bytes) -> None:
            self.data.append(data)

        def is_closing(self) -> bool:
            return False

    proto = type("WebSocketsSansIOProtocol", (), {})()
    proto.conn = ServerProtocol()
    proto.conn.state = State.OPEN
    proto.transport = Transport()
    proto.writable = asyncio.Event()
    proto.writable.set()
    proto.close_sent = False
    socket = type("Socket", (), {})()
    socket._receive = type("Receive", (), {})()
    socket._receive.__self__ = proto
    writer = fast_path.direct_writer(socket)
    assert writer is not None and writer(b"frame")
    assert proto.transport.data == [b"frame"]
    del proto.close_sent
    assert not writer(b"again")
