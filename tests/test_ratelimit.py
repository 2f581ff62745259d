"""Rate limits on entry points: WebSocket connection attempts per IP (close 4029) and invite joins per
IP and per invite (429 ``rate_limited`` with Retry-After), on ``memory://`` through the app, and on
``redis://`` across two real processes, where the counters are shared (``Engine.hit``)."""

from __future__ import annotations

import asyncio
import contextlib
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from rooms_server.app import create_app
from rooms_server.config import Limits, Settings
from rooms_server.db import migrate
from rooms_server.protocol import CloseCode
from tests.helpers import Guest, make_group
from tests.servers import Cluster, Guest as RemoteGuest
from tests.services import REDIS_URL, require

ORIGIN = "http://testserver"
LIMIT = 3


@pytest.fixture
def app(tmp_path: Path, migrated_sqlite_template: Path) -> Iterator[TestClient]:
    db = tmp_path / "rooms.db"
    db.write_bytes(migrated_sqlite_template.read_bytes())
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{db}",
        secret_key="k",
        public_base_url=ORIGIN,
        allowed_origins=(ORIGIN,),
        migrate_on_start=False,
        limits=Limits(connect_attempts_per_minute=LIMIT, invite_joins_per_minute=LIMIT),
    )
    with TestClient(create_app(settings)) as client:
        yield client


def first_frame_or_close(client: TestClient, group_id: str, token: str) -> str | int:
    """The first frame's type, or the close code when the server refuses the socket."""
    with client.websocket_connect(f"/ws/groups/{group_id}", headers={"origin": ORIGIN}) as ws:
        ws.send_text(orjson.dumps({"type": "hello", "token": token}).decode())
        try:
            kind: str = orjson.loads(ws.receive_text())["type"]
        except WebSocketDisconnect as closed:
            return closed.code
        return kind


def test_ratelimit_connection_attempts_per_ip_close_4029(app: TestClient) -> None:
    ann = Guest(app, "Ann")
    gid = make_group(app, ann, "Room")["id"]
    results = [first_frame_or_close(app, gid, ann.token) for _ in range(LIMIT + 2)]
    assert results == ["snapshot"] * LIMIT + [CloseCode.TOO_MANY_COMMANDS] * 2


def test_ratelimit_invite_joins_per_ip_are_429_with_retry_after(app: TestClient) -> None:
    ann = Guest(app, "Ann")
    invites = []
    for name in ("One", "Two"):
        gid = make_group(app, ann, name, is_public=False)["id"]
        invites.append(app.post(f"/api/groups/{gid}/invite", headers=ann.headers).json()["token"])
    guests = [Guest(app, f"G{n}") for n in range(LIMIT + 1)]
    statuses = [
        app.post(f"/api/invites/{invites[n % 2]}/join", headers=guest.headers).status_code
        for n, guest in enumerate(guests)
    ]
    assert statuses == [200] * LIMIT + [429]  # one IP, two invites: the IP's count
    refused = app.post(f"/api/invites/{invites[0]}/join", headers=guests[0].headers)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
    assert refused.headers["retry-after"] == "60"
    assert app.get(f"/api/invites/{invites[0]}").status_code == 200  # previews are not joins


def test_ratelimit_zero_turns_the_limits_off(tmp_path: Path, migrated_sqlite_template: Path) -> None:
    db = tmp_path / "rooms.db"
    db.write_bytes(migrated_sqlite_template.read_bytes())
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{db}",
        secret_key="k",
        public_base_url=ORIGIN,
        allowed_origins=(ORIGIN,),
        migrate_on_start=False,
        limits=Limits(connect_attempts_per_minute=0, invite_joins_per_minute=0),
    )
    with TestClient(create_app(settings)) as app:
        ann = Guest(app, "Ann")
        gid = make_group(app, ann, "Room", is_public=False)["id"]
        token = app.post(f"/api/groups/{gid}/invite", headers=ann.headers).json()["token"]
        assert all(first_frame_or_close(app, gid, ann.token) == "snapshot" for _ in range(8))
        guests = [Guest(app, f"G{n}") for n in range(8)]
        assert {app.post(f"/api/invites/{token}/join", headers=g.headers).status_code for g in guests} == {200}


# -- across processes: Redis counters --------------------------------------------------------------


@pytest.fixture
async def cluster(fresh_postgres_url: str, tmp_path: Path) -> AsyncIterator[Cluster]:
    require("Redis", REDIS_URL)
    await migrate.upgrade(fresh_postgres_url)
    env = {"CONNECT_ATTEMPTS_PER_MINUTE": str(LIMIT + 1), "INVITE_JOINS_PER_MINUTE": str(LIMIT + 1)}
    made = Cluster(fresh_postgres_url, REDIS_URL, tmp_path / "cluster", env=env)
    try:
        await asyncio.to_thread(made.start, 2)
        yield made
    finally:
        await asyncio.to_thread(made.stop)


def post_from(base_url: str, path: str, token: str, ip: str) -> tuple[int, dict[str, str]]:
    """POST as a client at ``ip`` (X-Forwarded-For, trusted from 127.0.0.1 as behind a local proxy)."""
    request = urllib.request.Request(
        f"{base_url}{path}", method="POST", headers={"Authorization": f"Bearer {token}", "X-Forwarded-For": ip}
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}


async def socket_result(ws_url: str, group_id: str, token: str) -> Any:
    """The first frame's type, or the close code when the server refuses the socket."""
    ws = await connect(f"{ws_url}/ws/groups/{group_id}", proxy=None, compression=None, open_timeout=10)
    try:
        try:
            await ws.send(orjson.dumps({"type": "hello", "token": token}).decode())
            return orjson.loads(await asyncio.wait_for(ws.recv(), 10))["type"]
        except ConnectionClosed:
            return ws.close_code
    finally:
        with contextlib.suppress(ConnectionClosed):
            await ws.close()


@pytest.mark.postgres
@pytest.mark.redis
async def test_ratelimit_limits_hold_across_processes_with_redis(cluster: Cluster) -> None:
    """LIMIT + 1 per minute, attempts alternating between the two processes: the shared counter
    refuses the next one whichever process gets it."""
    api = cluster.api(0)
    ann: RemoteGuest = await api.guest("Ann")
    gids = [await api.create_group(ann, name, is_public=False) for name in ("One", "Two")]
    results = [await socket_result(cluster[n % 2].ws_url, gids[0], ann.token) for n in range(LIMIT + 2)]
    assert results == ["snapshot"] * (LIMIT + 1) + [CloseCode.TOO_MANY_COMMANDS]

    tokens = [(await api.acall("POST", f"/api/groups/{gid}/invite", None, ann.token))["token"] for gid in gids]
    guests = [await cluster.api(n % 2).guest(f"G{n}") for n in range(LIMIT + 2)]
    # Per invite: every join from another IP.
    per_invite = [
        await asyncio.to_thread(
            post_from, cluster[n % 2].base_url, f"/api/invites/{tokens[0]}/join", g.token, f"10.0.0.{n + 1}"
        )
        for n, g in enumerate(guests)
    ]
    assert [status for status, _ in per_invite] == [200] * (LIMIT + 1) + [429]
    assert per_invite[-1][1].get("retry-after") == "60"
    # Per IP: one IP, the other invite (whose own count is fresh).
    per_ip = [
        await asyncio.to_thread(
            post_from, cluster[n % 2].base_url, f"/api/invites/{tokens[1]}/join", g.token, "10.9.9.9"
        )
        for n, g in enumerate(guests)
    ]
    assert [status for status, _ in per_ip] == [200] * (LIMIT + 1) + [429]


def test_ratelimit_code_lookups_count_with_joins_per_ip(app: TestClient) -> None:
    """Guessing codes costs what guessing tokens does: one IP's lookups and joins share one budget."""
    ann = Guest(app, "Ann")
    gid = make_group(app, ann, "Coded", is_public=False)["id"]
    created = app.post(f"/api/groups/{gid}/invite", headers=ann.headers).json()
    bob = Guest(app, "Bob")
    assert app.get(f"/api/codes/{created['code']}").status_code == 200
    assert app.get("/api/codes/ZZZZZZ").status_code == 404  # a wrong guess counts too
    assert app.post(f"/api/invites/{created['token']}/join", headers=bob.headers).status_code == 200
    refused = app.get(f"/api/codes/{created['code']}")
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
    assert refused.headers["retry-after"] == "60"
