"""A bare Starlette room socket on uvicorn, for the memory baseline of one idle connection.

Run as ``python -m bench.bare_starlette --port P``: the same uvicorn settings as ``rooms-server``
(websockets-sansio, uvloop, httptools, no permessage-deflate), one WebSocket route that accepts,
reads ``hello``, answers a small ``snapshot`` and then reads until the client goes. No hub, no
engine, no database: the difference between it and our server is what the room costs per socket.

It also answers ``POST /api/invites/{token}/join`` with a made-up guest and token, so that the join
storm (one request, then a socket, per phone) has the stack's own floor in the same run: what 1000
phones cost in uvicorn and Starlette before any room logic.
"""

from __future__ import annotations

import argparse
import secrets

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect


async def room(ws: WebSocket) -> None:
    await ws.accept()
    try:
        await ws.receive_text()
        await ws.send_text(orjson.dumps({"type": "snapshot", "epoch": "0" * 16, "seq": 0}).decode())
        while True:
            await ws.receive_text()
    except WebSocketDisconnect:
        pass


async def join(request: Request) -> Response:
    body = orjson.loads(await request.body())
    guest = {"user": {"id": secrets.token_hex(16), "name": body["name"]}, "token": secrets.token_urlsafe(32)}
    return Response(orjson.dumps(guest), status_code=201, media_type="application/json")


app = Starlette(
    routes=[Route("/api/invites/{token}/join", join, methods=["POST"]), WebSocketRoute("/{path:path}", room)]
)

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, ws_per_message_deflate=False, log_level="warning")
