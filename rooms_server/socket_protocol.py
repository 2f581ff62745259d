"""The WebSocket protocol the entry point gives uvicorn: uvicorn's own, lighter per idle socket.

uvicorn's ``WebSocketsSansIOProtocol`` keeps, for each socket's whole life, an ``asyncio.Queue`` of
what the app has not received yet (three deques and an Event: ~3.3 KB even when empty), an
``asyncio.Event`` for backpressure (a deque: ~0.9 KB) and the handshake's request and response
with their headers (~3.5 KB). An idle room socket has nothing queued, is writable and is past its
handshake, so ``LeanSocketProtocol`` swaps in an ``Inbox`` and a ``Flag`` that hold nothing until
something waits in them, and lets the handshake go (its headers emptied) once the socket is
accepted (docs/BENCHMARKS.md, *Memory per idle socket*). It also sends uvicorn's per-socket lines
to ``logs.SOCKET_LOGGER``, which drops them before a record is made when the access log is off.

Beside web/fast_path.py, this is the only module that knows that protocol's internals: its
``queue``, ``writable``, ``request`` and ``response`` attributes, which its own code uses only as
below, and that nothing reads a request's headers after the accept. A uvicorn without the
protocol gets ``"auto"``, uvicorn's choice.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any, Generic, TypeVar

from rooms_server import logs

T = TypeVar("T")

try:
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
except ImportError:  # a uvicorn without it: its default protocol, lines filtered by logs.SocketAccessFilter
    WebSocketsSansIOProtocol = None  # type: ignore[assignment,misc]


class Inbox(Generic[T]):
    """What uvicorn uses of an unbounded ``asyncio.Queue`` (``put_nowait``, ``get``, ``empty``), with
    the same wake-one order and cancellation rules; its deque exists only while it holds items."""

    __slots__ = ("_items", "_getters")

    def __init__(self) -> None:
        self._items: deque[T] | None = None
        self._getters: list[asyncio.Future[None]] = []  # an idle socket's one waiting receive: a list of one

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items) if self._items else 0

    def put_nowait(self, item: T) -> None:
        if self._items is None:
            self._items = deque()
        self._items.append(item)
        self._wake_next()

    async def get(self) -> T:
        while not self._items:
            getter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._getters.append(getter)
            try:
                await getter
            except BaseException:
                getter.cancel()
                if getter in self._getters:
                    self._getters.remove(getter)
                if self._items and not getter.cancelled():
                    self._wake_next()  # woken, then cancelled: the item goes to the next getter
                raise
        item = self._items.popleft()
        if not self._items:
            self._items = None  # 760 bytes an idle socket need not keep
        return item

    def _wake_next(self) -> None:
        while self._getters:
            getter = self._getters.pop(0)
            if not getter.done():
                getter.set_result(None)
                return


class Flag:
    """What uvicorn uses of an ``asyncio.Event`` (``set``, ``clear``, ``is_set``, ``wait``) for
    backpressure; waiters are kept only while the transport is paused."""

    __slots__ = ("_value", "_waiters")

    def __init__(self, value: bool = False) -> None:
        self._value = value
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._value

    def set(self) -> None:
        if self._value:
            return
        self._value = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._value = False

    async def wait(self) -> bool:
        if self._value:
            return True
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)
        return True


def room_socket_protocol() -> type[asyncio.Protocol] | str:
    """The protocol class to give uvicorn as ``ws=``."""
    if WebSocketsSansIOProtocol is None:
        return "auto"

    class LeanSocketProtocol(WebSocketsSansIOProtocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.logger = logging.getLogger(logs.SOCKET_LOGGER)  # its errors still reach uvicorn.error's handlers
            self.queue = Inbox()  # type: ignore[assignment]
            self.writable = Flag(True)  # type: ignore[assignment]

        async def send(self, message: Any) -> None:
            await super().send(message)
            if message["type"] == "websocket.accept" and self.handshake_complete:
                # The response is sent, the scope has its own copy of the request's headers, and
                # neither is read again: ~3 KB a socket. websockets' handshake parser keeps the
                # request in its frame for the socket's life, so its headers are emptied too.
                self.__dict__.pop("response", None)
                request = self.__dict__.pop("request", None)
                if request is not None:
                    request.headers.clear()

    return LeanSocketProtocol
