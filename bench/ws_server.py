"""Prototype: the room socket served by the ``websockets`` library's own asyncio server, in our process.

Run as ``python -m bench.ws_server`` with the environment of ``rooms-server`` plus ``WS_PORT``:
uvicorn serves the whole app on ``PORT`` as usual (HTTP, and ``/ws/groups/{id}`` too), and a
second listener on ``WS_PORT`` serves ``/ws/groups/{id}`` with ``websockets.asyncio.server`` —
the same handler (``rooms_server.web.ws.group_socket``) through a small adapter that gives it the
part of Starlette's ``WebSocket`` it uses. Same app state (hub, engine, database), so sockets of
both listeners are in the same rooms. It exists to measure what the ASGI stack costs per idle socket
(docs/BENCHMARKS.md, Memory) and is not part of the product: no TLS, no proxy headers, no origin
check beyond the handler's own, no HTTP bounds on the second port, and frames go through the
queue and ``ServerConnection.send`` (no fast path).
"""

from __future__ import annotations

import asyncio
import os
import re
from collections import namedtuple
from typing import Any

import uvicorn
from starlette.datastructures import State
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from rooms_server import logs
from rooms_server.app import create_app
from rooms_server.config import Settings
from rooms_server.web.ws import group_socket

_PATH = re.compile(r"^/ws/groups/([^/?]+)")
Address = namedtuple("Address", "host port")


class Socket:
    """What ``group_socket`` uses of Starlette's ``WebSocket``, over a websockets ServerConnection."""

    def __init__(self, conn: ServerConnection, state: dict[str, Any], group_id: str) -> None:
        self.conn = conn
        self.state = State(dict(state))
        assert conn.request is not None
        self.headers = conn.request.headers
        host, port = conn.remote_address[:2]
        self.client = Address(host, port)
        self.path_params = {"group_id": group_id}

    async def accept(self) -> None:
        """The opening handshake is already done."""

    async def receive(self) -> dict[str, Any]:
        try:
            message = await self.conn.recv()
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd is not None else 1006
            return {"type": "websocket.disconnect", "code": code}
        if isinstance(message, str):
            return {"type": "websocket.receive", "text": message}
        return {"type": "websocket.receive", "bytes": message}

    async def send_text(self, text: str) -> None:
        await self.conn.send(text)

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        await self.conn.close(code, reason or "")


async def main() -> None:
    settings = Settings.from_env()
    logs.configure(settings.log_format, settings.log_level)
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        ws_max_size=settings.limits.max_frame_bytes * 4,
        ws_per_message_deflate=False,
        log_level=settings.log_level.lower(),
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            serving.result()
            return
        await asyncio.sleep(0.05)
    state = server.lifespan.state

    async def handler(conn: ServerConnection) -> None:
        assert conn.request is not None
        match = _PATH.match(conn.request.path)
        if match is None:
            await conn.close(4004, "no such path")
            return
        await group_socket(Socket(conn, state, match.group(1)))  # type: ignore[arg-type]

    async with serve(
        handler,
        settings.host,
        int(os.environ["WS_PORT"]),
        compression=None,
        max_size=settings.limits.max_frame_bytes * 4,
        ping_interval=20,
        ping_timeout=20,
        backlog=4096,
    ):
        await serving  # uvicorn's own signal handling ends both (SIGTERM, SIGINT)


if __name__ == "__main__":
    import uvloop

    uvloop.run(main())
