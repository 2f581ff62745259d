"""``groups.roster_version``: the triggers of migration 0014 move it for every change of a group's
memberships but a member joining, on SQLite and PostgreSQL."""

from __future__ import annotations

from rooms_server.db import identity, queries
from rooms_server.db.session import Database


async def version(db: Database, group_id: str) -> int | None:
    async with db.read_core() as connection:
        return await queries.roster_version(connection, group_id)


async def test_db_roster_version_moves_with_every_change_but_a_member_joining(database_url: str) -> None:
    db = Database(database_url)
    try:
        async with db.write() as session:
            host = await identity.create_user(session, "Host")
            guests = [await identity.create_user(session, f"Guest {n}") for n in range(3)]
            group = await queries.create_group(session, "Room", True, host.id)
            other = await queries.create_group(session, "Other", True, host.id)
        start = await version(db, group.id)
        assert start is not None
        async with db.write() as session:
            await queries.insert_member(session, group.id, guests[0].id, queries.MEMBER)
            await queries.insert_member(session, group.id, guests[1].id, queries.LISTENER)
        assert await version(db, group.id) == start  # joining at the end of the order: kept rosters hold
        steps = [
            lambda s: queries.insert_member(s, group.id, guests[2].id, queries.ADMIN),  # a new host
            lambda s: queries.set_role(s, group.id, guests[0].id, queries.LISTENER),
            lambda s: queries.remove_member(s, group.id, guests[1].id),
        ]
        for n, step in enumerate(steps, 1):
            async with db.write() as session:
                await step(session)
            assert await version(db, group.id) == start + n
        other_start = await version(db, other.id)
        async with db.write() as session:
            await queries.set_role(session, other.id, host.id, queries.ADMIN)  # unchanged, still a write
        assert await version(db, other.id) == (other_start or 0) + 1
        assert await version(db, group.id) == start + len(steps)
        assert await version(db, "no-such-group") is None
    finally:
        await db.close()
