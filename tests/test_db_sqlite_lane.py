"""``db/sqlite_lane.py``: the hot paths' transactions straight on sqlite3 (``read_core`` and
``write_core`` on a SQLite file) commit, roll back, nest and fail as SQLAlchemy's transactions do."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import Insert, bindparam, insert, select
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect
from sqlalchemy.exc import OperationalError

from rooms_server.db import identity
from rooms_server.db.errors import Conflict
from rooms_server.db.models import User
from rooms_server.db.prepared import Prepared
from rooms_server.db.session import Database
from rooms_server.db.sqlite_lane import IDLE_READERS_KEPT, SqliteLane, SqliteTransaction, savepoint

_NAME = Prepared(select(User.name).where(User.id == bindparam("id")))


@pytest.fixture
def sqlite_url(tmp_path: Path, migrated_sqlite_template: Path) -> str:
    """A migrated SQLite file (the lane is SQLite's own: PostgreSQL's hot paths run on Core)."""
    target = tmp_path / "rooms.db"
    shutil.copy(migrated_sqlite_template, target)
    return f"sqlite+aiosqlite:///{target}"


async def test_sqlite_lane_is_what_the_hot_paths_run_on(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    try:
        async with db.read_core() as reading:
            assert isinstance(reading, SqliteTransaction)
            assert reading.sqlite.in_transaction
        async with db.write_core() as writing:
            assert isinstance(writing, SqliteTransaction)
    finally:
        await db.close()


async def test_sqlite_lane_write_commits_and_a_failed_block_leaves_nothing(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    try:
        async with db.write_core() as tx:
            kept = await identity.create_user(tx, "Kept")
        with pytest.raises(RuntimeError):
            async with db.write_core() as tx:
                dropped = await identity.create_user(tx, "Dropped")
                assert await _NAME.scalar(tx, id=dropped.id) == "Dropped"  # seen inside
                raise RuntimeError("abort")
        async with db.read() as session:  # and SQLAlchemy's own connections see the same
            assert await _NAME.scalar(session, id=kept.id) == "Kept"
            assert await _NAME.scalar(session, id=dropped.id) is None
        async with db.write_core() as tx:  # the writer connection is still good
            await identity.create_user(tx, "After")
    finally:
        await db.close()


async def test_sqlite_lane_constraint_violation_is_a_conflict(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    try:
        async with db.write_core() as tx:
            user = await identity.create_user(tx, "Ann")
        with pytest.raises(Conflict):
            async with db.write_core() as tx:
                await Prepared(_insert_user()).run(tx, id=user.id, name="Twin")
    finally:
        await db.close()


async def test_sqlite_lane_savepoint_rolls_back_only_its_own_block(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    try:
        async with db.write_core() as tx:
            assert isinstance(tx, SqliteTransaction)
            first = await identity.create_user(tx, "First")
            with pytest.raises(RuntimeError):
                async with savepoint(tx):
                    inner = await identity.create_user(tx, "Inner")
                    raise RuntimeError("abort the nested block")
            async with savepoint(tx):
                last = await identity.create_user(tx, "Last")
        async with db.read_core() as reading:
            assert await _NAME.scalar(reading, id=first.id) == "First"
            assert await _NAME.scalar(reading, id=inner.id) is None
            assert await _NAME.scalar(reading, id=last.id) == "Last"
    finally:
        await db.close()


async def test_sqlite_lane_readers_see_what_was_committed_and_are_reused(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    lane = db._lane
    assert lane is not None
    try:
        async with db.read_core() as early:
            assert await _NAME.scalar(early, id="0" * 32) is None  # its snapshot starts at its first read
            async with db.write_core() as tx:
                user = await identity.create_user(tx, "Ann")
            assert await _NAME.scalar(early, id=user.id) is None  # committed after that snapshot
        async with db.read_core() as late:
            assert await _NAME.scalar(late, id=user.id) == "Ann"
        held = [lane.read() for _ in range(IDLE_READERS_KEPT + 3)]  # more at once than are kept idle
        opened = [await reader.__aenter__() for reader in held]
        assert len({id(tx.sqlite) for tx in opened}) == len(held)
        for reader in held:
            await reader.__aexit__(None, None, None)
        assert len(lane._readers) == IDLE_READERS_KEPT
    finally:
        await db.close()


async def test_sqlite_lane_writer_waits_for_another_connections_lock_on_the_loop(tmp_path: Path) -> None:
    """Another process holds the write lock: BEGIN IMMEDIATE is retried with sleeps on the loop,
    goes through once the lock is released, and gives up after the busy timeout."""
    path = tmp_path / "rooms.db"
    setup = sqlite3.connect(path)
    setup.execute("PRAGMA journal_mode=WAL")  # as every database of ours is once migrated
    setup.execute("CREATE TABLE t (v INTEGER)")
    setup.close()
    lane = SqliteLane(str(path), sqlite_dialect(), read_busy_ms=0, write_wait_s=60)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")

    async def insert(into: SqliteLane, value: int) -> None:
        async with into.write() as tx:
            tx.sqlite.execute("INSERT INTO t (v) VALUES (?)", (value,))

    writing = asyncio.ensure_future(insert(lane, 1))
    for _ in range(20):  # the loop keeps running while the writer waits
        await asyncio.sleep(0.005)
    assert not writing.done()
    other.execute("COMMIT")
    await writing
    impatient = SqliteLane(str(path), lane.dialect, read_busy_ms=0, write_wait_s=0.05)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(OperationalError, match="database is locked"):
            await insert(impatient, 2)
    finally:
        other.execute("ROLLBACK")
    await insert(impatient, 3)
    assert [v for (v,) in other.execute("SELECT v FROM t ORDER BY v")] == [1, 3]
    other.close()
    lane.close()
    impatient.close()


def test_sqlite_lane_is_not_used_for_an_in_memory_database() -> None:
    dialect = sqlite_dialect()
    assert SqliteLane.for_url("sqlite+aiosqlite://", dialect, read_busy_ms=0, write_wait_s=1) is None
    assert SqliteLane.for_url("sqlite+aiosqlite:///:memory:", dialect, read_busy_ms=0, write_wait_s=1) is None
    assert SqliteLane.for_url("sqlite+aiosqlite:///rooms.db", dialect, read_busy_ms=0, write_wait_s=1) is not None


def _insert_user() -> Insert:
    return insert(User).values(id=bindparam("id"), name=bindparam("name"))
