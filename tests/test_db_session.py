"""The database layer's own connection handling (SQLite through aiosqlite)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from sqlalchemy import text

from rooms_server.db.session import Database, _connect_sqlite


async def test_session_sqlite_close_after_a_forced_stop_returns(tmp_path: Path) -> None:
    """SQLAlchemy stops a connection by force when its graceful close is cancelled; the close that
    follows must not wait for the worker thread that already left (the loop would never finish)."""
    connection = await _connect_sqlite(str(tmp_path / "rooms.db"))
    connection.stop()
    with contextlib.suppress(ValueError):  # "Connection closed", when the stop got there first
        await asyncio.wait_for(connection.close(), timeout=30)
    assert connection.stop() is None


async def test_session_sqlite_connections_are_tuned_and_work(tmp_path: Path) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'rooms.db'}", busy_timeout_ms=1234)
    try:
        async with database.read() as session:
            assert (await session.execute(text("PRAGMA busy_timeout"))).scalar_one() == 1234
            assert (await session.execute(text("PRAGMA journal_mode"))).scalar_one() == "wal"
            assert (await session.execute(text("PRAGMA foreign_keys"))).scalar_one() == 1
    finally:
        await database.close()
