"""``db/batched.py``: small writes queued together commit in one SQLite transaction, each in a
savepoint of its own; a caller hears back only once its write is committed."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError

from rooms_server.db import identity, queries
from rooms_server.db.models import User
from rooms_server.db.prepared import Prepared
from rooms_server.db.session import Database, Direct
from rooms_server.db.sqlite_lane import SqliteTransaction

_NAMES = Prepared(select(User.name).order_by(User.name))
_USER = Prepared(select(User.id).where(User.id == bindparam("id")))


@pytest.fixture
def sqlite_url(tmp_path: Path, migrated_sqlite_template: Path) -> str:
    target = tmp_path / "rooms.db"
    shutil.copy(migrated_sqlite_template, target)
    return f"sqlite+aiosqlite:///{target}"


def _counting_transactions(db: Database) -> list[int]:
    """Count the write transactions the database opens (one entry per transaction)."""
    opened: list[int] = []
    write_core = db.write_core

    @asynccontextmanager
    async def counted() -> AsyncIterator[Direct]:
        opened.append(1)
        async with write_core() as tx:
            yield tx

    db.write_core = counted  # type: ignore[method-assign]
    return opened


async def _names(db: Database) -> list[str]:
    async with db.read_core() as tx:
        return [name for (name,) in await _NAMES.all(tx)]


async def test_batched_writes_queued_together_commit_in_one_transaction(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    opened = _counting_transactions(db)
    try:
        users = await asyncio.gather(
            *(db.batched.run(lambda tx, n=n: identity.create_user(tx, f"Guest {n:02}")) for n in range(20))
        )
        assert [user.name for user in users] == [f"Guest {n:02}" for n in range(20)]
        assert await _names(db) == [f"Guest {n:02}" for n in range(20)]
        assert len(opened) < 20  # the writes that waited went together
    finally:
        await db.close()


async def test_batched_write_that_fails_is_rolled_back_alone(database_url: str) -> None:
    """Its caller gets its error; the writes beside it in the batch are stored."""
    db = Database(database_url)
    try:
        async with db.write() as session:
            host = await identity.create_user(session, "Host")
            group = await queries.create_group(session, "Room", True, host.id)

        async def half_then_fail(tx: Direct) -> None:
            await identity.create_user(tx, "Half")  # written, then rolled back with its savepoint
            await queries.insert_member(tx, group.id, host.id, queries.MEMBER)  # the host already is one

        results = await asyncio.gather(
            db.batched.run(lambda tx: identity.create_user(tx, "Before")),
            db.batched.run(half_then_fail),
            db.batched.run(lambda tx: identity.create_user(tx, "After")),
            return_exceptions=True,
        )
        assert isinstance(results[1], IntegrityError)
        assert await _names(db) == ["After", "Before", "Host"]
    finally:
        await db.close()


async def test_batched_callers_hear_back_only_after_the_commit(sqlite_url: str) -> None:
    """A COMMIT that fails (here a deferred foreign key, checked at COMMIT) fails every write of
    the batch, and none of them is stored: no caller was told "done" before it was."""
    db = Database(sqlite_url)
    try:

        async def breaks_the_commit(tx: Direct) -> None:
            await Prepared(select(User.id).where(User.id == bindparam("id"))).first(tx, id="x")
            assert isinstance(tx, SqliteTransaction)
            tx.sqlite.execute("PRAGMA defer_foreign_keys = ON")
            await queries.insert_member(tx, "0" * 32, "1" * 32, queries.MEMBER)  # no such group or user

        results = await asyncio.gather(
            db.batched.run(lambda tx: identity.create_user(tx, "Good")),
            db.batched.run(breaks_the_commit),
            return_exceptions=True,
        )
        assert all(isinstance(result, IntegrityError) for result in results), results
        assert await _names(db) == []
        user = await db.batched.run(lambda tx: identity.create_user(tx, "Next"))  # the lane goes on
        async with db.read_core() as tx:
            assert await _USER.scalar(tx, id=user.id) == user.id
    finally:
        await db.close()


async def test_batched_write_runs_on_postgresql_as_a_transaction_of_its_own(database_url: str) -> None:
    db = Database(database_url)
    opened = _counting_transactions(db)
    try:
        await asyncio.gather(*(db.batched.run(lambda tx, n=n: identity.create_user(tx, f"G{n}")) for n in range(3)))
        assert await _names(db) == ["G0", "G1", "G2"]
        assert len(opened) == (3 if database_url.startswith("postgresql") else 1)
    finally:
        await db.close()
