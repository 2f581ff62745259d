"""The reference: a bare ``websockets`` server that broadcasts like a room, with nothing else.

Run as ``python -m bench.reference --port P``. Every socket sends ``hello`` and gets a small
``snapshot``; a ``skip`` or ``previous`` from any socket produces the same event frame our server
produces for one (one ``index_changed`` carrying the new playback, same keys, same
``epoch``/``seq``/``ts`` framing, so the same size), serialised once with orjson and sent to every
socket with ``websockets.broadcast()``; the sender then gets ``ack {id, seq}``. ``ping``
gets ``pong``. No database, no engine, no permissions, no compression: what is left is the cost
of a Python asyncio server writing one frame to N sockets, which is what our fan-out is compared
with. ``SIGTERM`` stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import signal
import time

import orjson
from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed


def now_ms() -> int:
    return int(time.time() * 1000)


class Room:
    def __init__(self) -> None:
        self.sockets: set[ServerConnection] = set()
        self.epoch = secrets.token_hex(8)
        self.seq = 0
        self.index = 0
        self.track_ids = (1, 2)

    def snapshot(self) -> bytes:
        return orjson.dumps({"type": "snapshot", "epoch": self.epoch, "seq": self.seq, "server_time": now_ms()})

    def switch(self, index: int) -> int:
        """The frame of a skip, broadcast to every socket; returns the seq to acknowledge."""
        self.index = index % len(self.track_ids)
        track_id = self.track_ids[self.index]
        ts = now_ms()
        playback = {"is_playing": False, "position_ms": 0, "server_time_ms": ts}
        body = {
            "type": "index_changed",
            "index": self.index,
            "track_id": track_id,
            "cause": "host",
            "queue_ended": False,
            "playback": playback,
            "ends_at_ms": None,
        }
        self.seq += 1
        frame = orjson.dumps({**body, "epoch": self.epoch, "seq": self.seq, "ts": ts}).decode()
        broadcast(self.sockets, frame)
        return self.seq


async def handler(ws: ServerConnection, room: Room) -> None:
    try:
        hello = orjson.loads(await ws.recv())
        if hello.get("type") != "hello":
            await ws.close(4501, "the first frame must be hello")
            return
        await ws.send(room.snapshot().decode())
        room.sockets.add(ws)
        async for raw in ws:
            frame = orjson.loads(raw)
            kind = frame.get("type")
            if kind in ("skip", "previous"):
                seq = room.switch(room.index + (1 if kind == "skip" else -1))
                await ws.send(orjson.dumps({"type": "ack", "seq": seq, "id": frame.get("id")}).decode())
            elif kind == "ping":
                reply = {"type": "pong", "client_time": frame.get("client_time"), "server_time": now_ms()}
                await ws.send(orjson.dumps(reply).decode())
    except ConnectionClosed:
        pass
    finally:
        room.sockets.discard(ws)


async def main(port: int) -> None:
    room = Room()
    stop = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set_result, None)
    asyncio.get_running_loop().add_signal_handler(signal.SIGINT, stop.set_result, None)
    # Same keepalive as uvicorn's defaults (20 s / 20 s) and no compression, as in our server.
    async with serve(
        lambda ws: handler(ws, room),
        "127.0.0.1",
        port,
        compression=None,
        ping_interval=20,
        ping_timeout=20,
        max_size=16 * 1024,
        backlog=4096,
    ):
        await stop


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    import uvloop

    uvloop.run(main(args.port))
