"""Admission: this process works on at most ADMISSION_LIMIT requests and socket starts at once.

A join storm (a thousand phones scanning the same QR code within seconds) sends every request at
once. Worked on together, they all progress and none finishes: each waits for a whole pass of an
event loop a thousand tasks long at every await, a writer holds SQLite's write lock across those
passes, and after the busy timeout the writers behind it fail with 503 — in our benchmark more than
half of the phones. Admitted a few at a time they finish in arrival order at the server's full
speed, and the others wait their turn in a FIFO queue (``asyncio.Semaphore`` is fair) without
costing anything but their connection.

A turn is taken only once the request can be worked on without waiting for its client: after its
body has arrived (buffered here, up to MAX_BODY_BYTES; a larger one goes on to the app's 413), and
for a room socket after its ``hello`` (web/ws.py), so that slow or silent clients never hold turns.
A turn not given within ``wait_s`` is answered 503 ``unavailable`` with Retry-After (a socket:
4013, reconnect with backoff). The health and metrics routes and static files are never queued.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UNQUEUED_PREFIXES = ("/static/", "/healthz", "/readyz", "/metrics")
RETRY_AFTER_S = 2


class Overloaded(Exception):
    """No turn within the admission wait."""


class Admission:
    def __init__(self, limit: int, wait_s: float) -> None:
        self.limit = limit
        self.wait_s = wait_s
        self._turns = asyncio.Semaphore(limit)  # built inside the app's loop (app.running)

    async def enter(self) -> Callable[[], None]:
        """Wait for a turn (Overloaded after ``wait_s``); returns its release, which may be called twice."""
        if not self._turns.locked():
            await self._turns.acquire()  # a free turn: taken at once, no deadline to arm
        else:
            try:
                async with asyncio.timeout(self.wait_s):
                    await self._turns.acquire()
            except TimeoutError:
                raise Overloaded from None
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self._turns.release()

        return release

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        release = await self.enter()
        try:
            yield
        finally:
            release()


class AdmissionMiddleware:
    """HTTP requests take a turn of the process's ``Admission`` (in the lifespan state) once their
    body is in; WebSocket scopes pass (their handler takes its turn after the hello)."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # A plain function for what it passes on: a socket's handler keeps no frame of it alive.
        admission = scope.get("state", {}).get("admission")
        if scope["type"] != "http" or admission is None or scope["path"].startswith(UNQUEUED_PREFIXES):
            return self.app(scope, receive, send)
        return self._admitted(admission, scope, receive, send)

    async def _admitted(self, admission: Admission, scope: Scope, receive: Receive, send: Send) -> None:
        replay = await self._buffered(receive)
        try:
            async with admission.turn():
                await self.app(scope, replay, send)
        except Overloaded:
            await _overloaded(send)

    async def _buffered(self, receive: Receive) -> Receive:
        """The request's messages up to the end of its body (or past MAX_BODY_BYTES), replayed."""
        messages: list[Message] = []
        size = 0
        while size <= self.max_body_bytes:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request" or not message.get("more_body", False):
                break
            size += len(message.get("body", b""))

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        return replay


async def _overloaded(send: Send) -> None:
    body = orjson.dumps(
        {"error": {"code": "unavailable", "message": "The server is busy; try again in a moment.", "details": {}}}
    )
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(RETRY_AFTER_S).encode()),
    ]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": body})
