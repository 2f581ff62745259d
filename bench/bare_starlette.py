"""A bare Starlette room socket on uvicorn, for the memory baseline of one idle connection.

Run as ``python -m bench.bare_starlette --port P``: the same uvicorn settings as ``rooms-server``
(websockets-sansio, uvloop, httptools, no permessage-deflate), one WebSocket route that accepts,
reads ``hello``, answers a small ``snapshot`` and then reads until the client goes. No hub, no
engine, no database: the difference between it and our server is what the room costs per socket.
"""

from __future__ import annotations

import argparse

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
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


app = Starlette(routes=[WebSocketRoute("/{path:path}", room)])

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, ws_per_message_deflate=False, log_level="warning")
