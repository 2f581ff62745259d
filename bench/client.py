"""A WebSocket client and an HTTP/1.1 client cheap enough to load a server from one core.

The WebSocket side is an ``asyncio.Protocol`` (uvloop when available) that does the RFC 6455
opening handshake (and checks ``Sec-WebSocket-Accept``), masks what it sends with a random key,
answers pings and closes, and parses the server's frames in place. It never compresses
(no ``permessage-deflate`` offer unless asked) and keeps no per-frame objects: for every text
frame it calls ``on_text(payload, t_ns)``, where ``t_ns`` is ``time.monotonic_ns()`` taken once
per ``data_received`` — CLOCK_MONOTONIC is shared by every process of the machine, so a time
taken here can be compared with one taken in another process.

The HTTP side is a keep-alive JSON client on asyncio streams, enough for the server's REST API.
Everything connects to 127.0.0.1 only.
"""

# ruff: noqa: ASYNC109 - a benchmark harness, not the server

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import time
from collections.abc import Callable
from typing import Any

import orjson

HOST = "127.0.0.1"
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10


def mask_frame(opcode: int, payload: bytes) -> bytes:
    """A client frame (FIN set), masked with a random key as RFC 6455 requires."""
    key = os.urandom(4)
    n = len(payload)
    if n < 126:
        header = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        header = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    if n:
        stream = (key * (n // 4 + 1))[:n]
        masked = (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")
    else:
        masked = b""
    return header + key + masked


class WsClient(asyncio.Protocol):
    """One client socket. ``on_text`` gets every text payload with its arrival time."""

    __slots__ = (
        "transport",
        "on_text",
        "on_close",
        "_buf",
        "_handshake",
        "_key",
        "_opened",
        "closed",
        "close_code",
        "frames",
        "bytes_in",
        "tag",
    )

    def __init__(self, on_text: Callable[[WsClient, bytes, int], None], tag: Any = None) -> None:
        self.transport: asyncio.Transport | None = None
        self.on_text = on_text
        self.on_close: Callable[[WsClient], None] | None = None
        self._buf = b""
        self._handshake = True
        self._key = base64.b64encode(os.urandom(16))
        self._opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed = False
        self.close_code: int | None = None
        self.frames = 0
        self.bytes_in = 0
        self.tag = tag

    # -- opening ---------------------------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        port: int,
        path: str,
        on_text: Callable[[WsClient, bytes, int], None],
        *,
        tag: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float = 30.0,
    ) -> WsClient:
        loop = asyncio.get_running_loop()
        _, proto = await asyncio.wait_for(loop.create_connection(lambda: cls(on_text, tag), HOST, port), timeout)
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {proto._key.decode()}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
        )
        assert proto.transport is not None
        proto.transport.write(request.encode())
        await asyncio.wait_for(proto._opened, timeout)
        return proto

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self._opened.done():
            self._opened.set_exception(ConnectionError(f"connection lost during the handshake: {exc}"))
        if self.on_close is not None:
            self.on_close(self)

    def _finish_handshake(self, data: bytes) -> bytes:
        end = data.find(b"\r\n\r\n")
        if end < 0:
            self._buf = data
            return b""
        head, rest = data[:end], data[end + 4 :]
        status = head.split(b"\r\n", 1)[0]
        expected = base64.b64encode(hashlib.sha1(self._key + _GUID).digest())
        if b" 101 " not in status + b" " or expected not in head:
            self._opened.set_exception(ConnectionError(f"handshake refused: {status.decode(errors='replace')}"))
            assert self.transport is not None
            self.transport.close()
            return b""
        self._handshake = False
        self._opened.set_result(None)
        return rest

    # -- frames ------------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        now = time.monotonic_ns()
        self.bytes_in += len(data)
        if self._buf:
            data = self._buf + data
            self._buf = b""
        if self._handshake:
            data = self._finish_handshake(data)
            if not data:
                return
        pos, n = 0, len(data)
        while n - pos >= 2:
            b0, b1 = data[pos], data[pos + 1] & 0x7F
            if b1 < 126:
                start = pos + 2
            elif b1 == 126:
                if n - pos < 4:
                    break
                b1, start = int.from_bytes(data[pos + 2 : pos + 4], "big"), pos + 4
            else:
                if n - pos < 10:
                    break
                b1, start = int.from_bytes(data[pos + 2 : pos + 10], "big"), pos + 10
            end = start + b1
            if end > n:
                break
            opcode = b0 & 0x0F
            self.frames += 1
            if opcode == OP_TEXT:
                self.on_text(self, data[start:end], now)
            elif opcode == OP_PING:
                self.send_frame(OP_PONG, data[start:end])
            elif opcode == OP_CLOSE:
                self._closed_by_peer(data[start:end])
            pos = end
        if pos < n:
            self._buf = data[pos:]

    def _closed_by_peer(self, payload: bytes) -> None:
        self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
        if not self.closed and self.transport is not None:
            self.transport.write(mask_frame(OP_CLOSE, payload[:2]))
            self.transport.close()
        self.closed = True

    def send_frame(self, opcode: int, payload: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(mask_frame(opcode, payload))

    def send_json(self, obj: Any) -> None:
        self.send_frame(OP_TEXT, orjson.dumps(obj))

    def close(self, code: int = 1000) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(mask_frame(OP_CLOSE, code.to_bytes(2, "big")))
            self.transport.close()
        self.closed = True

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()
        self.closed = True


# -- HTTP ----------------------------------------------------------------------------------------


class HttpError(Exception):
    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"HTTP {status}: {body[:200]!r}")
        self.status = status
        self.body = body


class Http:
    """A keep-alive HTTP/1.1 connection for JSON calls (one request at a time)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        for attempt in (1, 2):
            if self._writer is None:
                self._reader, self._writer = await asyncio.open_connection(HOST, self.port)
            try:
                return await self._exchange(method, path, body, token)
            except (ConnectionError, asyncio.IncompleteReadError):
                await self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _exchange(self, method: str, path: str, body: Any, token: str | None) -> Any:
        assert self._reader is not None and self._writer is not None
        payload = b"" if body is None else orjson.dumps(body)
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {HOST}:{self.port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n{auth}\r\n"
        )
        self._writer.write(head.encode() + payload)
        status_line = await self._reader.readline()
        if not status_line:
            raise ConnectionError("server closed the connection")
        status = int(status_line.split()[1])
        length, close = 0, False
        while True:
            line = await self._reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        data = await self._reader.readexactly(length) if length else b""
        if close:
            await self.close()
        if status >= 400:
            raise HttpError(status, data)
        return orjson.loads(data) if data else None

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            self._reader = None


def use_uvloop() -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
