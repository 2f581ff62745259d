"""Invites and host failover with two real server processes on one Redis, on SQLite and PostgreSQL.

- Phones racing through both processes for an invite's last uses: exactly as many get in as the
  limit allows, the others get 410 ``invite_used_up``, and the count in SQL is the limit.
- A killed host phone: after the grace period the room passes to the senior member once (both
  processes hold sockets of the room and both check it; one compare-and-set wins), every phone
  sees one ``role_changed`` and one ``hosting_changed``, and the host's return hands it back.
- A host who only reconnects: a process saw the host away (the grace period started, in SQL) and
  saw them back (it ended); nothing changed hands. The exact timing rules are the in-process tests'
  (tests/test_ws_hosting.py, on an injected clock).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from tests.servers import Cluster, Guest, HttpError, RoomClient, StartServers, assert_ack, shared_room

pytestmark = [pytest.mark.redis]

FAST_CHECKS = {"HOST_CHECK_S": "0.2"}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'rooms.db'}"
    url: str = request.getfixturevalue("fresh_postgres_url")
    return url


async def away_since(database_url: str, group_id: str) -> datetime | None:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            query = sa.text("SELECT host_away_since FROM groups WHERE id = :id")
            value = (await conn.execute(query, {"id": group_id})).scalar_one()
    finally:
        await engine.dispose()
    return value if value is None or isinstance(value, datetime) else datetime.fromisoformat(str(value))


async def eventually_away(database_url: str, group_id: str, *, away: bool, wait_s: float = 30) -> None:
    """Until a process has written (or cleared) the start of the host's grace period."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    while (await away_since(database_url, group_id) is not None) != away:
        assert loop.time() < deadline, f"host_away_since never became {'set' if away else 'NULL'}"
        await asyncio.sleep(0.1)


async def join_status(cluster: Cluster, index: int, guest: Guest, token: str) -> int | str:
    try:
        await cluster.api(index).acall("POST", f"/api/invites/{token}/join", None, guest.token)
    except HttpError as exc:
        return exc.status if '"invite_used_up"' not in exc.body else "used_up"
    return 200


async def test_hosting_cluster_invite_use_limit_holds_under_a_race(
    start_servers: StartServers, database_url: str
) -> None:
    cluster = await start_servers(2, database_url=database_url)
    gid, (ann,) = await shared_room(cluster, "Ann")
    for limit, phones in ((1, 2), (1, 2), (1, 2), (3, 12)):
        link = await cluster.api(0).acall(
            "POST", f"/api/groups/{gid}/invites", {"role": "member", "max_uses": limit}, ann.token
        )
        guests = [await cluster.api(i % 2).guest(f"Phone {i}") for i in range(phones)]
        results = await asyncio.gather(*(join_status(cluster, i % 2, g, link["token"]) for i, g in enumerate(guests)))
        assert sorted(results, key=str) == sorted([200] * limit + ["used_up"] * (phones - limit), key=str), results
        links = await cluster.api(1).acall("GET", f"/api/groups/{gid}/invites", None, ann.token)
        assert next(item["uses"] for item in links["items"] if item["id"] == link["id"]) == limit
    members = await cluster.api(1).acall("GET", f"/api/groups/{gid}/members", None, ann.token)
    assert len(members["items"]) == 1 + 3 * 1 + 3


async def test_hosting_cluster_failover_after_a_killed_host_phone_once_then_hand_back(
    start_servers: StartServers, database_url: str
) -> None:
    cluster = await start_servers(2, database_url=database_url, **FAST_CHECKS)
    gid, (ann, bob, cy) = await shared_room(cluster, "Ann", "Bob", "Cy")
    await cluster.api(0).acall("PATCH", f"/api/groups/{gid}/hosting", {"grace_s": 1}, ann.token)
    host = await cluster.connect(0, ann, gid)
    phones = [await cluster.connect(1, bob, gid), await cluster.connect(0, cy, gid)]
    await host.until("members_changed", joined=cy.id)
    host.ws.transport.abort()  # the phone is gone: no close frame, the TCP connection just ends
    for phone in phones:
        changed = await phone.until("hosting_changed", cause="failover")
        assert changed["hosting"]["host_user_id"] == bob.id and changed["hosting"]["away_host_user_id"] == ann.id
    assert_ack(await phones[0].command({"type": "pause"}))  # Bob's socket has host rights now
    marker = "after the failover"
    assert_ack(await phones[1].command({"type": "chat", "text": marker}))
    for phone in phones:
        await phone.until("chat", text=marker)
        assert [f["cause"] for f in phone.of_type("hosting_changed")] == ["failover"]
        assert [(f["user_id"], f["role"]) for f in phone.of_type("role_changed")] == [(bob.id, "admin")]

    back = await cluster.connect(1, ann, gid)
    for phone in phones:
        await phone.until("hosting_changed", cause="handback")
    # The watch may hand back between Ann's arrival and her snapshot: then the snapshot shows it.
    if back.first["hosting"]["host_user_id"] != ann.id:
        assert back.first["hosting"]["away_host_user_id"] == ann.id
        await back.until("hosting_changed", cause="handback")
    members = await cluster.api(0).acall("GET", f"/api/groups/{gid}/members", None, ann.token)
    assert {m["user_id"]: m["role"] for m in members["items"]} == {ann.id: "admin", bob.id: "member", cy.id: "member"}


async def test_hosting_cluster_no_failover_when_the_host_only_reconnects(
    start_servers: StartServers, database_url: str
) -> None:
    cluster = await start_servers(2, database_url=database_url, **FAST_CHECKS)
    gid, (ann, bob) = await shared_room(cluster, "Ann", "Bob")
    await cluster.api(0).acall("PATCH", f"/api/groups/{gid}/hosting", {"grace_s": 60}, ann.token)
    host = await cluster.connect(0, ann, gid)
    bob_phone = await cluster.connect(1, bob, gid)
    await host.until("members_changed", joined=bob.id)
    host.ws.transport.abort()
    await bob_phone.until("members_changed", left=ann.id)
    await eventually_away(database_url, gid, away=True)  # a process saw the host away
    again: RoomClient = await cluster.connect(1, ann, gid)  # the phone reconnects, to the other process
    await eventually_away(database_url, gid, away=False)  # and a process saw the host back
    assert again.first["hosting"]["host_user_id"] == ann.id
    marker = "after the reconnect"
    assert_ack(await again.command({"type": "chat", "text": marker}))
    await bob_phone.until("chat", text=marker)
    assert bob_phone.of_type("hosting_changed") == [] and bob_phone.of_type("role_changed") == []
