"""``queries.present_members``: the snapshot's bounded list, on SQLite and PostgreSQL, by both of
its ways (a few present users looked up by id; many found by reading the members in order)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from rooms_server.db import identity, queries
from rooms_server.db.models import Membership, utcnow
from rooms_server.db.session import Database

Rows = list[tuple[str, str, str]]


async def a_room(db: Database, members: int) -> tuple[str, list[str]]:
    """A group whose host joined first and ``members`` guests after, one second apart; the
    second guest is a co-host. Returns the group id and every user id in joining order."""
    start = utcnow()
    async with db.write() as session:
        host = await identity.create_user(session, "Host")
        group = await queries.create_group(session, "Room", True, host.id)
        ids = [host.id]
        for n in range(members):
            user = await identity.create_user(session, f"Guest {n:03}")
            role = queries.ADMIN if n == 1 else queries.MEMBER
            joined = start + timedelta(seconds=n + 1)
            session.add(Membership(id=user.id, user_id=user.id, group_id=group.id, joined_at=joined, role=role))
            ids.append(user.id)
    return group.id, ids


async def listed(db: Database, group_id: str, present: set[str], limit: int) -> Rows:
    async with db.read() as session:
        rows, hosts, _ = await queries.present_members(session, group_id, present, limit)
    assert len(hosts) == 2  # every host of the group, present or not
    return rows


@pytest.mark.parametrize(
    ("members", "present_every", "limit"), [(9, 1, 3), (60, 2, 4), (60, 7, 2), (30, 3, 50), (60, 20, 5)]
)
async def test_present_members_hosts_first_then_joining_order_only_those_present(
    database_url: str, members: int, present_every: int, limit: int
) -> None:
    db = Database(database_url)
    try:
        group_id, ids = await a_room(db, members)
        present = set(ids[::present_every]) | {ids[2]}  # the co-host is always in
        rows = await listed(db, group_id, present, limit)
    finally:
        await db.close()
    hosts = [ids[0], ids[2]] if ids[0] in present else [ids[2]]
    expected = [*hosts, *(u for u in ids if u in present and u not in hosts)][:limit]
    assert [row.user_id for row in rows] == expected
    assert all(row.role == (queries.ADMIN if row.user_id in hosts else queries.MEMBER) for row in rows)


async def test_present_members_of_nobody_present_is_empty(database_url: str) -> None:
    db = Database(database_url)
    try:
        group_id, _ = await a_room(db, 5)
        assert await listed(db, group_id, set(), 10) == []
        assert await listed(db, group_id, {"not-a-member"} | {f"x{n}" for n in range(40)}, 3) == []
    finally:
        await db.close()
