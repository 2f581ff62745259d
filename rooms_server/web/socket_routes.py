"""Room sockets routed before Starlette's router, with nothing between the middlewares and the handler.

A socket's whole life runs inside its handler, and every layer between uvicorn and the handler
keeps a coroutine frame for that long: Starlette's exception middleware, its router, the route and
the session wrapper (with its own exception wrapper) are eight frames, ~3.5 KB per idle socket
(docs/BENCHMARKS.md, *Memory per idle socket*). ``DirectSocketRoutes`` is the innermost middleware:
for a WebSocket scope it matches the same ``WebSocketRoute``s with Starlette's own ``matches()``,
puts what the router would into the scope, and returns the endpoint's coroutine — a plain
function, so it keeps no frame either. Every other scope goes on to the router.

What it leaves out is Starlette's exception handlers, which a room socket does not use: its handler
closes the socket with a code for every failure it knows (web/ws.py), and for a WebSocket those
handlers only drop what they catch; anything else now reaches uvicorn, which logs it.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from starlette.routing import BaseRoute, Match, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

SocketEndpoint = Callable[[WebSocket], Awaitable[None]]


class DirectSocketRoutes:
    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        # Function endpoints only: a WebSocketEndpoint class takes Starlette's path.
        self.routes: list[tuple[WebSocketRoute, SocketEndpoint]] = [
            (route, route.endpoint)
            for route in routes
            if isinstance(route, WebSocketRoute) and inspect.isfunction(route.endpoint)
        ]

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[Any]:
        if scope["type"] == "websocket":
            for route, endpoint in self.routes:
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    scope.update(child_scope)  # path_params and endpoint, as the router sets them
                    return endpoint(WebSocket(scope, receive, send))
        return self.app(scope, receive, send)
