"""rooms_server.web.socket_routes: room sockets go straight from the middlewares to their handler;
everything else goes on to Starlette's router."""

from __future__ import annotations

import inspect
from typing import Any

from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from rooms_server.web.socket_routes import DirectSocketRoutes

seen: list[WebSocket] = []


async def endpoint(ws: WebSocket) -> None:
    seen.append(ws)


async def inner(scope: Any, receive: Any, send: Any) -> None:
    seen.append(scope)


async def receive() -> Any:
    return {"type": "websocket.connect"}


async def send(message: Any) -> None:
    return None


def socket_scope(path: str) -> dict[str, Any]:
    return {"type": "websocket", "path": path, "root_path": "", "headers": [], "query_string": b""}


def shortcut() -> DirectSocketRoutes:
    seen.clear()
    routes = [
        WebSocketRoute("/ws/groups/{group_id:str}", endpoint),
        Route("/ws/groups/{group_id:str}", lambda request: PlainTextResponse("http")),
    ]
    return DirectSocketRoutes(inner, routes)


async def test_socket_routes_a_room_socket_gets_its_handler_with_nothing_between() -> None:
    scope = socket_scope("/ws/groups/g1")
    awaitable = shortcut()(scope, receive, send)
    # The handler's own coroutine, not a wrapper's: no frame of this layer lives as long as the socket.
    assert inspect.iscoroutine(awaitable) and awaitable.cr_code is endpoint.__code__
    await awaitable
    (ws,) = seen
    assert isinstance(ws, WebSocket) and ws.path_params == {"group_id": "g1"}
    assert scope["path_params"] == {"group_id": "g1"} and scope["endpoint"] is endpoint


async def test_socket_routes_other_sockets_and_http_go_on_to_the_router() -> None:
    routes = shortcut()
    for scope in (
        socket_scope("/ws/groups/g1/extra"),
        socket_scope("/ws/other"),
        {**socket_scope("/ws/groups/g1"), "type": "http", "method": "GET"},
    ):
        seen.clear()
        await routes(scope, receive, send)
        assert seen == [scope] and "path_params" not in scope
