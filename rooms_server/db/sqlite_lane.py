"""SQLite transactions straight on ``sqlite3``, for the hot paths (``Database.read_core``/``write_core``).

A transaction on a Core connection cost 300–380 µs of CPU around statements of 10–20 µs: the
pool's checkout and reset on return, the ``begin`` event, and a hop into SQLAlchemy's greenlet
for each of connect, begin, commit and close. A join storm takes three per phone (the join, the
socket's token check, its snapshot), about a quarter of a phone's server CPU (docs/BENCHMARKS.md,
*Join storm*). The same transaction on ``sqlite3`` costs ~10 µs. Its statements are
``db/prepared.py``'s, compiled by SQLAlchemy for SQLite and run with SQLAlchemy's own bind and
result processors, so what is written and read is exactly what the ORM writes and reads.

The connections are this process's own, beside SQLAlchemy's pool, and tuned as its connections
are (db/session.py): WAL, ``synchronous=NORMAL``, foreign keys, and a busy timeout only for
readers. Readers are kept in a free list (a read transaction that awaits Redis holds one, so any
number may be open at once); the writer is one connection, used only within the process's
``WriterGate`` turn, which SQLAlchemy's writers take too, so the two never wait for each other's
lock. A failure is raised as SQLAlchemy raises it (``DBAPIError``), so ``db/errors.py`` and
``failures.py`` read it the same way ("locked" is an outage, a constraint a conflict).
"""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exc as sql_errors
from sqlalchemy.engine import Dialect, make_url

SQLITE_PRAGMAS = ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON")
BEGIN_RETRY_S = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05)  # then every 50 ms, as SQLite's own busy handler
IDLE_READERS_KEPT = 8  # more than the few a burst of snapshots holds at once would only hold memory


@dataclass(frozen=True, slots=True)
class SqliteTransaction:
    """An open transaction on one of the lane's connections: what ``db/prepared.py`` runs on."""

    sqlite: sqlite3.Connection
    dialect: Dialect


def retry_pause(attempt: int) -> float:
    """How long a writer waits before its ``attempt``-th retry of ``BEGIN IMMEDIATE``."""
    return BEGIN_RETRY_S[min(attempt, len(BEGIN_RETRY_S) - 1)]


def is_busy(exc: sqlite3.OperationalError) -> bool:
    """Another connection holds the lock (rather than a real failure)."""
    return exc.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def tune(connection: sqlite3.Connection, busy_timeout_ms: int) -> None:
    """The PRAGMAs of every connection, ours and SQLAlchemy's; transactions are begun explicitly."""
    connection.isolation_level = None
    for pragma in (*SQLITE_PRAGMAS, f"busy_timeout={int(busy_timeout_ms)}"):
        connection.execute(f"PRAGMA {pragma}")


class SqliteLane:
    """This process's direct read and write transactions on one SQLite file."""

    def __init__(self, path: str, dialect: Dialect, *, read_busy_ms: int, write_wait_s: float) -> None:
        self.path = path
        self.dialect = dialect
        self.read_busy_ms = read_busy_ms  # how long an inline reader may hold the loop on a busy file
        self.write_wait_s = write_wait_s  # how long a writer retries BEGIN IMMEDIATE on the loop
        self._readers: list[sqlite3.Connection] = []
        self._writer: sqlite3.Connection | None = None

    @classmethod
    def for_url(cls, url: str, dialect: Dialect, *, read_busy_ms: int, write_wait_s: float) -> SqliteLane | None:
        """The lane of a SQLite file; None for an in-memory database (each connection its own)."""
        path = make_url(url).database
        if not path or path == ":memory:" or path.startswith("file:"):
            return None
        return cls(path, dialect, read_busy_ms=read_busy_ms, write_wait_s=write_wait_s)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[SqliteTransaction]:
        connection = self._readers.pop() if self._readers else self._open(self.read_busy_ms)
        try:
            with wrapped("BEGIN"):
                connection.execute("BEGIN")
            yield SqliteTransaction(connection, self.dialect)
        finally:
            self._end_read(connection)

    def _end_read(self, connection: sqlite3.Connection) -> None:
        # A reader changed nothing: rolling back ends it as a commit would.
        if _rolled_back(connection) and len(self._readers) < IDLE_READERS_KEPT:
            self._readers.append(connection)
        else:
            connection.close()

    @asynccontextmanager
    async def write(self) -> AsyncIterator[SqliteTransaction]:
        """A write transaction that commits when the block ends without an exception. The caller
        holds the process's writer turn (``WriterGate``): one writer connection is enough."""
        connection, self._writer = self._writer or self._open(0), None
        healthy = True
        try:
            await self._begin_immediate(connection)
            yield SqliteTransaction(connection, self.dialect)
            with wrapped("COMMIT"):
                connection.execute("COMMIT")
        except BaseException:
            healthy = _rolled_back(connection)
            raise
        finally:
            if healthy:
                self._writer = connection
            else:  # in whatever state the failure left it: the next writer opens afresh
                connection.close()

    async def _begin_immediate(self, connection: sqlite3.Connection) -> None:
        """``BEGIN IMMEDIATE``, retried on the loop while another connection (another process)
        holds the write lock, for at most ``write_wait_s``; then "database is locked"."""
        deadline = time.monotonic() + self.write_wait_s
        for attempt in itertools.count():
            try:
                connection.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if not is_busy(exc) or time.monotonic() >= deadline:
                    raise sql_errors.OperationalError("BEGIN IMMEDIATE", None, exc) from None
            await asyncio.sleep(min(retry_pause(attempt), max(deadline - time.monotonic(), 0.0)))

    def _open(self, busy_timeout_ms: int) -> sqlite3.Connection:
        with wrapped("connect"):
            # Opened on the loop and used only there; a Database may outlive one loop for the next.
            connection = sqlite3.connect(self.path, check_same_thread=False)
            tune(connection, busy_timeout_ms)
        return connection

    def close(self) -> None:
        for connection in (*self._readers, *([self._writer] if self._writer else [])):
            connection.close()
        self._readers.clear()
        self._writer = None


@asynccontextmanager
async def savepoint(tx: SqliteTransaction) -> AsyncIterator[None]:
    """A transaction nested in ``tx``: what its block wrote is rolled back alone when it raises."""
    connection = tx.sqlite
    with wrapped("SAVEPOINT"):
        connection.execute("SAVEPOINT nested")
    try:
        yield
    except BaseException:
        with wrapped("ROLLBACK TO"):
            connection.execute("ROLLBACK TO nested")
            connection.execute("RELEASE nested")
        raise
    with wrapped("RELEASE"):
        connection.execute("RELEASE nested")


def _rolled_back(connection: sqlite3.Connection) -> bool:
    """End the connection's transaction, if one is open; False when the connection is unusable."""
    try:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
    except sqlite3.Error:
        return False
    return True


@contextmanager
def wrapped(statement: str, params: Sequence[Any] | None = None) -> Iterator[None]:
    """sqlite3's errors as SQLAlchemy raises them (``db/errors.py`` and ``failures.py`` read those):
    an IntegrityError is a Conflict, "locked" an outage."""
    try:
        yield
    except sqlite3.Error as exc:
        raise sql_errors.DBAPIError.instance(statement, params, exc, sqlite3.Error) from exc
