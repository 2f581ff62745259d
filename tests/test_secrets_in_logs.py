"""Tokens never in URLs or logs, secrets never logged, credentials absent from every response and frame.

A real server process (INFO logs, uvicorn's access log on) goes through the whole flow: guests
created, a private group, an invite, a join by the invite, a service token handed in, a room socket
with hello and commands, a resume, logout. Then its log (stdout + stderr) is read: no bearer token,
invite token, handed-in service token, SECRET_KEY or Fernet key appears in it, and none of the
service tokens appears in any HTTP response or WebSocket frame either.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from rooms_server.db import migrate
from rooms_server.logredact import redact
from tests.servers import Cluster, HttpError, RoomClient, add_frame
from tests.services import REDIS_URL, require

pytestmark = [pytest.mark.postgres, pytest.mark.redis]
FERNET_KEY = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


@pytest.fixture
async def server(fresh_postgres_url: str, tmp_path: Path) -> AsyncIterator[Cluster]:
    require("Redis", REDIS_URL)
    await migrate.upgrade(fresh_postgres_url)
    cluster = Cluster(fresh_postgres_url, REDIS_URL, tmp_path / "cluster", env={"TOKEN_ENCRYPTION_KEYS": FERNET_KEY})
    try:
        await asyncio.to_thread(cluster.start, 1)
        yield cluster
    finally:
        await cluster.close_clients()
        await asyncio.to_thread(cluster.stop)


def test_secrets_redact_hides_capabilities_in_urls() -> None:
    assert redact("POST /api/invites/abcDEF_123/join HTTP/1.1") == "POST /api/invites/<redacted>/join HTTP/1.1"
    assert redact("GET /join/abc") == "GET /join/<redacted>"
    assert redact("GET /api/services/spotify/callback?code=s3cr3t&state=xyz") == (
        "GET /api/services/spotify/callback?code=<redacted>&state=<redacted>"
    )
    assert redact("GET /api/groups?q=x&limit=5") == "GET /api/groups?q=x&limit=5"


async def test_secrets_whole_flow_leaves_no_token_or_secret_in_the_log(server: Cluster) -> None:
    api = server.api(0)
    ann = await api.guest("Ann")
    bob = await api.guest("Bob")
    gid = await api.create_group(ann, "Private", is_public=False)
    invite = await api.acall("POST", f"/api/groups/{gid}/invite", {}, ann.token)
    preview = await api.acall("GET", f"/api/invites/{invite['token']}")
    assert preview["group"]["id"] == gid
    joined = await api.acall("POST", f"/api/invites/{invite['token']}/join", None, bob.token)
    access, refresh = f"spotify-access-{secrets.token_hex(8)}", f"spotify-refresh-{secrets.token_hex(8)}"
    responses = [preview, joined]
    responses.append(
        await api.acall(
            "PUT", "/api/me/services/spotify", {"access_token": access, "refresh_token": refresh}, bob.token
        )
    )
    responses.append(await api.acall("GET", "/api/me/services", None, bob.token))
    responses.append(await api.acall("GET", "/api/me", None, bob.token))

    a = await server.connect(0, ann, gid)
    b = await server.connect(0, bob, gid)
    assert (await a.command(add_frame("song"))).type == "ack"
    assert (await b.command({"type": "chat", "text": "hi"})).type == "ack"
    await a.find("chat", text="hi")
    resume = b.resume_point()
    await b.close()
    b2 = await server.connect(0, bob, gid, resume=resume)
    frames: list[RoomClient] = [a, b, b2]

    await api.acall("DELETE", "/api/session", None, bob.token)
    with pytest.raises(HttpError) as refused:
        await api.acall("GET", "/api/me", None, bob.token)
    assert refused.value.status == 401
    await server.close_clients()
    await asyncio.to_thread(server.stop)

    log = server[0].log()
    assert "POST /api/invites/<redacted>/join" in log and '"WebSocket /ws/groups/' in log  # the access log is on
    secrets_file = (
        (server.workdir / ".rooms-secrets.json").read_text()
        if (server.workdir / ".rooms-secrets.json").exists()
        else ""
    )
    forbidden = {
        "Ann's token": ann.token,
        "Bob's token": bob.token,
        "invite token": invite["token"],
        "service access token": access,
        "service refresh token": refresh,
        "SECRET_KEY": server._secret,
        "Fernet key": FERNET_KEY,
    }
    for what, value in forbidden.items():
        assert value not in log, f"{what} appears in the server log"
    assert secrets_file == "" or FERNET_KEY not in secrets_file  # configured keys are never written out
    seen = repr(responses) + "".join(f.text for client in frames for f in (client.first, *client.frames))
    for what in ("service access token", "service refresh token", "SECRET_KEY", "Fernet key"):
        assert forbidden[what] not in seen, f"{what} appears in a response or frame"
    assert ann.token not in seen and bob.token not in seen
