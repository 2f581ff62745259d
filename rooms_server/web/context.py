"""Where a log line comes from: each HTTP request and socket handshake gets a request id.

A pure ASGI middleware (it must see WebSocket scopes too, and touch nothing of the body): the id is
the client's ``X-Request-ID`` when it is a plain token (a proxy's id then follows the request
through our logs), else a new one; HTTP responses carry it back in ``X-Request-ID``. The group id of
``/api/groups/{id}…`` and ``/ws/groups/{id}`` is bound too. Both are context variables
(``rooms_server.logs``) that every log record of the request picks up.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable

from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rooms_server import logs

_SAFE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_GROUP_PATH = re.compile(r"^/(?:api|ws)/groups/([0-9a-f]{32})(?:/|$)")


class RequestContext:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Not a coroutine for what it only passes on: the inner app's awaitable is returned, so a
        # socket's handler does not keep this frame alive for its whole life (docs/BENCHMARKS.md, Memory).
        if scope["type"] not in ("http", "websocket"):
            return self.app(scope, receive, send)
        request_id = _incoming_id(scope) or secrets.token_hex(8)
        logs.request_id.set(request_id)  # this task's own context: nothing leaks to other requests
        group = _GROUP_PATH.match(scope["path"])
        logs.group_id.set(group.group(1) if group else None)
        if scope["type"] == "websocket":
            return self.app(scope, receive, send)
        return self._http(scope, receive, send, request_id)

    async def _http(self, scope: Scope, receive: Receive, send: Send, request_id: str) -> None:
        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        await self.app(scope, receive, send_with_id)


def _incoming_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            text = value.decode("latin-1")
            return text if _SAFE_ID.fullmatch(text) else None
    return None


class HttpGZip:
    """Starlette's gzip for HTTP; a WebSocket scope is handed on without a coroutine frame of its own."""

    def __init__(self, app: ASGIApp, minimum_size: int = 500) -> None:
        self.app = app
        self.gzip = GZipMiddleware(app, minimum_size=minimum_size)

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] != "http":
            return self.app(scope, receive, send)
        return self.gzip(scope, receive, send)
