"""The database layer's own connection handling (SQLite through aiosqlite)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from queue import SimpleQueue
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from rooms_server.db import session
from rooms_server.db.session import READ_BUSY_TIMEOUT_MS, Database, Session, _connect_sqlite_inline


async def test_session_sqlite_close_after_a_forced_stop_returns(tmp_path: Path) -> None:
    """SQLAlchemy stops a connection by force when its graceful close is cancelled; the close that
    follows must not wait for the worker thread that already left (the loop would never finish)."""
    connection = await _connect_sqlite_inline(str(tmp_path / "rooms.db"))
    connection.stop()
    with contextlib.suppress(ValueError):  # "Connection closed", when the stop got there first
        await asyncio.wait_for(connection.close(), timeout=30)
    assert connection.stop() is None


async def test_session_sqlite_statements_run_on_the_loop_thread(tmp_path: Path) -> None:
    """SQLite itself reports the thread that ran each statement (a function registered on the
    raw connection): reads and writes alike run on the loop's, with no hop to a worker thread."""
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'rooms.db'}")

    async def thread_of(session: Session) -> int:
        raw = await (await session.connection()).get_raw_connection()
        sqlite_connection = raw.driver_connection._connection  # type: ignore[union-attr]
        sqlite_connection.create_function("thread_id", 0, threading.get_ident)
        return int((await session.execute(text("SELECT thread_id()"))).scalar_one())

    try:
        async with database.read() as session:
            read_thread = await thread_of(session)
        async with database.write() as session:
            write_thread = await thread_of(session)
    finally:
        await database.close()
    assert read_thread == write_thread == threading.get_ident()


async def test_session_sqlite_connections_are_tuned_and_work(tmp_path: Path) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'rooms.db'}", busy_timeout_ms=1234)
    try:
        async with database.write() as session:  # a writer never waits inside SQLite: see the next test
            assert (await session.execute(text("PRAGMA busy_timeout"))).scalar_one() == 0
            assert (await session.execute(text("PRAGMA journal_mode"))).scalar_one() == "wal"
            assert (await session.execute(text("PRAGMA foreign_keys"))).scalar_one() == 1
        async with database.read() as session:  # inline on the loop: a busy file holds it briefly
            assert (await session.execute(text("PRAGMA busy_timeout"))).scalar_one() == READ_BUSY_TIMEOUT_MS
            assert (await session.execute(text("PRAGMA journal_mode"))).scalar_one() == "wal"
            assert (await session.execute(text("PRAGMA foreign_keys"))).scalar_one() == 1
    finally:
        await database.close()


async def test_session_sqlite_writer_waits_for_another_connections_lock_on_the_loop(tmp_path: Path) -> None:
    """Another connection (another process, say) holds the write lock: our writer retries its
    BEGIN IMMEDIATE with sleeps on the loop, so the loop goes on meanwhile, gets the lock once it
    is released, and gives up after the busy timeout ("database is locked")."""
    path = tmp_path / "rooms.db"
    database = Database(f"sqlite+aiosqlite:///{path}", busy_timeout_ms=60_000)
    async with database.write() as session:
        await session.execute(text("CREATE TABLE t (v INTEGER)"))
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    ticks = 0
    writing = asyncio.ensure_future(_insert(database, 1))
    while ticks < 20:  # the loop keeps running while the writer waits
        await asyncio.sleep(0.005)
        ticks += 1
    assert not writing.done()
    other.execute("COMMIT")
    await writing
    impatient = Database(f"sqlite+aiosqlite:///{path}", busy_timeout_ms=50)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(OperationalError, match="database is locked"):
            await _insert(impatient, 2)
    finally:
        other.execute("ROLLBACK")
        other.close()
    await _insert(impatient, 3)
    async with database.read() as session:
        assert (await session.execute(text("SELECT v FROM t ORDER BY v"))).scalars().all() == [1, 3]
    await database.close()
    await impatient.close()


async def _insert(database: Database, value: int) -> None:
    async with database.write() as session:
        await session.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": value})


def test_session_sqlite_connection_collected_after_its_loop_closed_stops_quietly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection garbage collected after its test's loop closed is stopped by its ``__del__``
    with no loop running: the worker thread must end, not die raising "Event loop is closed"
    (which pytest then pins on whatever test runs next)."""
    died: list[threading.ExceptHookArgs] = []
    monkeypatch.setattr(threading, "excepthook", died.append)
    loop = asyncio.new_event_loop()
    connection = loop.run_until_complete(_connect_sqlite_inline(str(tmp_path / "rooms.db")))
    asyncio.set_event_loop(loop)  # the loop stays current after closing, as test runners leave it
    loop.close()
    try:
        connection.stop()  # what aiosqlite's __del__ does
        connection._thread.join(timeout=30)
    finally:
        asyncio.set_event_loop(None)
    assert not connection._thread.is_alive()
    assert died == []


def test_session_sqlite_worker_drops_answers_for_a_closed_loop_and_carries_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """An operation that finishes after its loop closed (a test's or a shut-down app's) has nobody
    to answer: the worker drops the answer (a result or an error) and serves the next one."""
    died: list[threading.ExceptHookArgs] = []
    monkeypatch.setattr(threading, "excepthook", died.append)
    loop = asyncio.new_event_loop()
    future = loop.create_future()
    loop.close()
    tx: SimpleQueue[tuple[asyncio.Future[Any] | None, Callable[[], Any]]] = SimpleQueue()
    served: list[str] = []
    tx.put((future, lambda: served.append("result")))
    tx.put((future, lambda: 1 / 0))
    tx.put((None, lambda: session._STOP_RUNNING))
    worker = threading.Thread(target=session._worker, args=(tx,))
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert died == [] and served == ["result"] and not future.done()
