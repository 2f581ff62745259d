"""SQLite writers of one process queue in asyncio (db/session.WriterGate), bounded by the busy timeout."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text

from rooms_server import failures
from rooms_server.db.session import Database


async def test_db_writer_gate_writers_take_turns_in_arrival_order(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'gate.db'}")
    order: list[str] = []
    try:
        async with db.write() as session:
            await session.execute(text("CREATE TABLE t (name TEXT)"))
        first_in = asyncio.Event()
        release = asyncio.Event()

        async def writer(name: str, hold: asyncio.Event | None = None) -> None:
            async with db.write() as session:
                order.append(name)
                if hold is not None:
                    first_in.set()
                    await hold.wait()
                await session.execute(text("INSERT INTO t VALUES (:n)"), {"n": name})

        first = asyncio.create_task(writer("first", release))
        await first_in.wait()
        others = [asyncio.create_task(writer(f"w{i}")) for i in range(5)]
        await asyncio.sleep(0)  # let them queue: none may start while the first holds the gate
        assert order == ["first"]
        release.set()
        await asyncio.gather(first, *others)
        assert order == ["first", "w0", "w1", "w2", "w3", "w4"]
        async with db.read() as session:
            assert (await session.execute(text("SELECT count(*) FROM t"))).scalar_one() == 6
    finally:
        await db.close()


async def test_db_writer_gate_wait_is_bounded_and_answers_unavailable(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'gate.db'}", busy_timeout_ms=200)
    try:
        async with db.write():
            try:
                async with db.write():
                    raise AssertionError("a second writer got in while the first held the gate")
            except Exception as exc:  # the busy timeout ran out
                failure = failures.classify(exc)
        assert failure is not None and failure.backend == "database"
        async with db.write() as session:  # the gate is free again
            await session.execute(text("SELECT 1"))
    finally:
        await db.close()
