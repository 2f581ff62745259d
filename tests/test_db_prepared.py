"""``db/prepared.py``: a prepared statement writes and reads exactly what the ORM does, inside the
caller's transaction, on SQLite (straight on sqlite3) and PostgreSQL (through Core)."""

from __future__ import annotations

from datetime import UTC

import pytest
from sqlalchemy import bindparam, insert, select

from rooms_server.db import identity, queries
from rooms_server.db.errors import Conflict
from rooms_server.db.models import AuthSession, Group, Membership, User
from rooms_server.db.prepared import Prepared
from rooms_server.db.session import Database

_USER_NAME = Prepared(select(User.name).where(User.id == bindparam("id")))
_SESSION_TIMES = Prepared(
    select(AuthSession.created_at, AuthSession.expires_at).where(AuthSession.user_id == bindparam("user_id"))
)
_PUBLIC = Prepared(select(Group.id, Group.is_public).where(Group.id == bindparam("id")))
_ADD_USER = Prepared(insert(User).values(id=bindparam("id"), name=bindparam("name")))


async def test_prepared_round_trips_the_orms_types(database_url: str) -> None:
    db = Database(database_url)
    try:
        async with db.write() as session:
            user = await identity.create_user(session, "Ann")
            expires_at = await identity.create_auth_session(session, user.id, "ab" * 32, 3600)
            group = await queries.create_group(session, "Room", True, user.id)
        async with db.read() as session:
            stored = (await session.execute(select(AuthSession).where(AuthSession.user_id == user.id))).scalar_one()
            times = await _SESSION_TIMES.first(session, user_id=user.id)
            public = await _PUBLIC.first(session, id=group.id)
        # What the prepared insert wrote, the ORM reads back as it would have written it, and the
        # prepared select reads it as the ORM does: aware UTC datetimes, a real bool.
        assert stored.expires_at == expires_at and stored.expires_at.tzinfo is not None
        assert times == (stored.created_at, stored.expires_at)
        assert times[1].tzinfo == UTC
        assert public == (group.id, True) and type(public[1]) is bool
    finally:
        await db.close()


async def test_prepared_flushes_pending_orm_changes_first(database_url: str) -> None:
    """A membership inserted by a prepared statement refers to a group the ORM has only added:
    the group must reach the database first, as autoflush would make it."""
    db = Database(database_url)
    try:
        async with db.write() as session:
            user = await identity.create_user(session, "Ann")
            group = Group(id="f" * 32, name="Pending", is_public=False)
            session.add(group)
            await queries.insert_member(session, group.id, user.id, queries.MEMBER)
        async with db.read() as session:
            assert await queries.role_in(session, group.id, user.id) == queries.MEMBER
            assert await queries.count_members(session, group.id) == 1
    finally:
        await db.close()


async def test_prepared_runs_in_the_callers_transaction(database_url: str) -> None:
    db = Database(database_url)
    try:
        with pytest.raises(RuntimeError):
            async with db.write() as session:
                await _ADD_USER.run(session, id="a" * 32, name="Rolled back")
                assert await _USER_NAME.scalar(session, id="a" * 32) == "Rolled back"  # seen inside
                raise RuntimeError("abort the transaction")
        async with db.read() as session:
            assert await _USER_NAME.scalar(session, id="a" * 32) is None
    finally:
        await db.close()


async def test_prepared_takes_each_new_transaction_of_a_session(database_url: str) -> None:
    """A session that commits and goes on runs its next statements on its new transaction's
    connection, not on the one it gave back."""
    db = Database(database_url)
    try:
        async with db._writes() as session:
            async with session.begin():
                await _ADD_USER.run(session, id="b" * 32, name="First")
            async with session.begin():
                await _ADD_USER.run(session, id="c" * 32, name="Second")
                assert await _USER_NAME.scalar(session, id="b" * 32) == "First"
        async with db.read() as session:
            assert await _USER_NAME.scalar(session, id="c" * 32) == "Second"
    finally:
        await db.close()


async def test_prepared_unique_violation_is_a_conflict(database_url: str) -> None:
    db = Database(database_url)
    try:
        async with db.write() as session:
            user = await identity.create_user(session, "Ann")
            group = await queries.create_group(session, "Room", True, user.id)
        with pytest.raises(Conflict):
            async with db.write() as session:
                await queries.insert_member(session, group.id, user.id, queries.MEMBER)  # the owner already is
        async with db.read() as session:
            assert await queries.count_members(session, group.id) == 1
    finally:
        await db.close()


async def test_prepared_binds_values_written_into_the_statement(database_url: str) -> None:
    """A literal in the statement (here the role) is bound as SQLAlchemy binds it."""
    admins = Prepared(
        select(Membership.user_id).where(Membership.group_id == bindparam("group_id"), Membership.role == "admin")
    )
    db = Database(database_url)
    try:
        async with db.write() as session:
            owner = await identity.create_user(session, "Ann")
            guest = await identity.create_user(session, "Bob")
            group = await queries.create_group(session, "Room", True, owner.id)
            await queries.insert_member(session, group.id, guest.id, queries.MEMBER)
        async with db.read() as session:
            assert await admins.all(session, group_id=group.id) == [(owner.id,)]
    finally:
        await db.close()


async def test_prepared_binds_a_list_of_values_for_in(database_url: str) -> None:
    """An expanding parameter takes a list of any length, each value bound by the column's type;
    an empty list matches nothing."""
    named = Prepared(select(User.name).where(User.id.in_(bindparam("ids", expanding=True))).order_by(User.name))
    db = Database(database_url)
    try:
        async with db.write() as session:
            users = [await identity.create_user(session, name) for name in ("Ann", "Bob", "Cy")]
        ids = [user.id for user in users]
        async with db.read_core() as connection:
            assert await named.all(connection, ids=ids[:2]) == [("Ann",), ("Bob",)]
            assert await named.all(connection, ids=ids) == [("Ann",), ("Bob",), ("Cy",)]
            assert await named.all(connection, ids=[ids[2], "0" * 32]) == [("Cy",)]
            assert await named.all(connection, ids=[]) == []
    finally:
        await db.close()
