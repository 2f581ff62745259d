"""Hostile input at the edges: 10,000-character names everywhere a name is taken, and a
permessage-deflate compression bomb against a real server process (uvicorn, as deployed)."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from websockets.asyncio.client import connect

from rooms_server.db import migrate
from tests.helpers import Guest, error_code, make_group
from tests.servers import HOST, Cluster
from tests.services import REDIS_URL, require

LONG = "é" * 10_000  # 10,000 characters, 20,000 bytes of UTF-8
TRACK = {"service": "youtube", "url": "https://youtu.be/dQw4w9WgXcQ", "duration": 200}


def test_hostile_input_10000_character_names_are_422_everywhere(client: TestClient) -> None:
    assert client.post("/api/users", json={"name": LONG}).status_code == 422
    ann = Guest(client, "Ann")
    assert client.post("/api/groups", json={"name": LONG}, headers=ann.headers).status_code == 422
    gid = make_group(client, ann, "Room")["id"]
    assert client.patch(f"/api/groups/{gid}", json={"name": LONG}, headers=ann.headers).status_code == 422
    long_title = client.post(f"/api/groups/{gid}/tracks", json={**TRACK, "title": LONG}, headers=ann.headers)
    assert long_title.status_code == 422
    long_url = client.post(
        f"/api/groups/{gid}/tracks", json={**TRACK, "url": "https://youtu.be/" + LONG}, headers=ann.headers
    )
    assert long_url.status_code == 422
    long_token = client.put("/api/me/services/spotify", json={"access_token": LONG}, headers=ann.headers)
    assert long_token.status_code == 422
    search = client.get("/api/groups", params={"q": LONG})  # beyond its maxLength: refused, not cut
    assert search.status_code == 422 and error_code(search) == "validation_error"
    assert client.get("/api/groups/" + "x" * 10_000, headers=ann.headers).status_code == 404
    assert client.get("/api/me", headers=ann.headers).json()["name"] == "Ann"


@pytest.fixture
async def server(fresh_postgres_url: str, tmp_path: Path) -> AsyncIterator[Cluster]:
    require("Redis", REDIS_URL)
    await migrate.upgrade(fresh_postgres_url)
    cluster = Cluster(fresh_postgres_url, REDIS_URL, tmp_path / "cluster")
    try:
        await asyncio.to_thread(cluster.start, 1)
        yield cluster
    finally:
        await cluster.close_clients()
        await asyncio.to_thread(cluster.stop)


@pytest.mark.postgres
@pytest.mark.redis
async def test_hostile_input_permessage_deflate_is_never_negotiated(server: Cluster) -> None:
    """A client offering permessage-deflate gets a handshake without any extension."""
    async with connect(f"{server[0].ws_url}/ws/groups/x", proxy=None, compression="deflate") as ws:
        assert ws.response is not None
        assert "Sec-WebSocket-Extensions" not in ws.response.headers
        assert ws.protocol.extensions == []


def _masked_frame(first_byte: int, payload: bytes) -> bytes:
    mask = os.urandom(4)
    length = len(payload)
    if length < 126:
        header = bytes([first_byte, 0x80 | length])
    elif length < 2**16:
        header = bytes([first_byte, 0x80 | 126]) + length.to_bytes(2, "big")
    else:
        header = bytes([first_byte, 0x80 | 127]) + length.to_bytes(8, "big")
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


@pytest.mark.postgres
@pytest.mark.redis
async def test_hostile_input_compression_bomb_is_refused_and_the_server_lives(server: Cluster) -> None:
    """A raw client sends a deflate bomb (12 MiB of zeros, compressed to ~12 KiB: under the frame
    limit) as a text frame with RSV1 set, though no extension was negotiated: the server fails
    the connection (a protocol error), never inflates it, and goes on serving."""
    bomb = zlib.compressobj(9, zlib.DEFLATED, -15)
    payload = bomb.compress(b"\0" * (12 * 2**20)) + bomb.flush(zlib.Z_SYNC_FLUSH)[:-4]
    assert len(payload) < 16 * 1024  # under MAX_FRAME_BYTES: only inflating would make it big
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET /ws/groups/x HTTP/1.1\r\nHost: {HOST}:{server[0].port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"
    )
    reader, writer = await asyncio.open_connection(HOST, server[0].port)
    try:
        writer.write(request.encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 101") and b"permessage-deflate" not in head.lower()
        writer.write(_masked_frame(0x80 | 0x40 | 0x1, payload))  # FIN, RSV1 (compressed), text
        await writer.drain()
        received = await asyncio.wait_for(reader.read(1024), 10)
        # A close frame (opcode 8) with 1002 protocol error, or the connection simply dropped.
        assert received == b"" or (received[0] & 0x0F == 0x8 and int.from_bytes(received[2:4], "big") == 1002)
    finally:
        writer.close()
    health = await server.api(0).acall("GET", "/healthz")
    assert health is not None
    with socket.create_connection((HOST, server[0].port), timeout=5):
        pass
