"""The database engine and its session factories.

SQLite is tuned on every connection (WAL, foreign keys, busy timeout) and runs its transactions
with an explicit ``BEGIN``: the Python driver otherwise starts them lazily at the first write, so a
read-then-write would run its read outside the transaction. Write transactions use
``BEGIN IMMEDIATE`` so that two writers queue on the busy timeout instead of failing on a lock
upgrade. The busy timeout (SQLITE_BUSY_TIMEOUT_MS) bounds that queue: a writer behind a lock held
longer fails with "database is locked", which callers answer as ``unavailable`` (failures.py).
PostgreSQL connections are bounded the same way: connecting and waiting for a pooled connection
each give up after POOL_TIMEOUT_S.

SQLite statements run on the event loop's own thread (``InlineSqliteConnection``), not on a
worker thread per connection: our statements are indexed lookups and small writes of microseconds,
while each hop to a worker thread and back cost more than the statement (a one-statement read
transaction took 575 µs of CPU through the threads, 294 µs inline; each further statement 220 µs
against 80 µs) and, worse, waited for a whole pass of a busy loop: under a join storm a write
transaction holding the write lock across six such hops took a second. Nothing inline may wait
for a lock, so a writer's connection has no busy timeout: ``BEGIN IMMEDIATE``, the only statement
of a WAL writer that waits for another connection (another process's writer), is retried on the
loop with short sleeps until SQLITE_BUSY_TIMEOUT_MS (``_begin_immediate``). A WAL reader never
waits for a writer; the rare reader that finds the file busy (a crashed writer's recovery) waits
at most READ_BUSY_TIMEOUT_MS.

The hot paths' transactions (``read_core``/``write_core``) skip SQLAlchemy's connections on
SQLite and run on ``sqlite3`` itself (db/sqlite_lane.py): their overhead, not their statements,
was a quarter of a join storm.

SQLite takes one writer at a time whatever we do, so this process's writers queue for it in
asyncio (``WriterGate``) rather than each holding a pooled connection and sleeping in SQLite's
busy handler: under many concurrent writers those sleeps and pool waits, not the writes, were what
bounded throughput. Readers are not gated (WAL lets them run beside the writer). The gate's wait is
bounded by the busy timeout too and fails like SQLite's own ("database is locked": ``unavailable``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from queue import SimpleQueue
from typing import Any

import aiosqlite
from sqlalchemy import event, exc as sql_errors, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.util import await_only

from rooms_server.db.batched import BatchedWrites
from rooms_server.db.sqlite_lane import SqliteLane, SqliteTransaction, is_busy, retry_pause, tune

# What ``Database.read()``/``write()`` yield. Code above ``db/`` only hands it back to the query
# functions of ``db/`` (it never runs SQL itself), so it names it here rather than importing SQLAlchemy.
Session = AsyncSession
# What the hot paths' queries (db/prepared.py) run in: a session, or what ``read_core`` and
# ``write_core`` yield (a Core connection, or on SQLite a transaction straight on sqlite3).
Transaction = AsyncSession | AsyncConnection | SqliteTransaction
Direct = AsyncConnection | SqliteTransaction

DEFAULT_BUSY_TIMEOUT_MS = 5000
READ_BUSY_TIMEOUT_MS = 250  # how long an inline reader may hold the loop when the file is busy
POOL_TIMEOUT_S = 5.0


def make_sql_engine(
    url: str, *, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS, writer: bool = False, **kwargs: Any
) -> AsyncEngine:
    """The engine for ``url``; for SQLite, ``writer``: transactions ``BEGIN IMMEDIATE``, waiting up
    to ``busy_timeout_ms`` for the write lock on the loop, and otherwise a reader's engine."""
    if url.startswith("sqlite"):
        # A connection waits for the pool no longer than a writer waits for the lock.
        pool_timeout = max(busy_timeout_ms / 1000, 0.1)
        connection_busy_ms = 0 if writer else min(busy_timeout_ms, READ_BUSY_TIMEOUT_MS)
        connect_args = {"timeout": connection_busy_ms / 1000, "async_creator_fn": _connect_sqlite_inline}
        engine = create_async_engine(url, connect_args=connect_args, pool_timeout=pool_timeout, **kwargs)
        _tune_sqlite(engine, connection_busy_ms, begin_wait_s=busy_timeout_ms / 1000 if writer else None)
        return engine
    return create_async_engine(
        url, pool_pre_ping=True, pool_timeout=POOL_TIMEOUT_S, connect_args={"timeout": POOL_TIMEOUT_S}, **kwargs
    )


class _SqliteConnection(aiosqlite.Connection):
    """aiosqlite's connection with an idempotent ``stop``.

    SQLAlchemy terminates a connection by closing it gracefully and, if that is cancelled (a task
    torn down at shutdown), stopping it by force. aiosqlite's ``close`` then stops the worker thread
    a second time and awaits an answer from a thread that already left: that future never resolves
    and the event loop cannot finish (seen as a TestClient that hangs at exit). A second stop is a
    no-op here instead. Its worker thread is a daemon (as SQLAlchemy makes aiosqlite's own) and
    drops answers for a loop that has closed (``_worker``).
    """

    _stop_requested = False

    def __init__(self, connector: Callable[[], sqlite3.Connection], iter_chunk_size: int) -> None:
        super().__init__(connector, iter_chunk_size)
        self._thread = threading.Thread(target=_worker, args=(self._tx,), daemon=True)

    def stop(self) -> asyncio.Future[Any] | None:
        if self._stop_requested:
            return None
        self._stop_requested = True
        if _no_running_loop():
            # Garbage collected after its event loop closed (``__del__``): aiosqlite would tie the
            # stop's answer to that closed loop, and its worker thread then dies raising "Event loop
            # is closed". Nobody awaits this stop, so it goes without an answer.
            self._running = False
            self._tx.put_nowait((None, self._close_and_stop))
            return None
        return super().stop()

    def _close_and_stop(self) -> object:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        return _STOP_RUNNING


class InlineSqliteConnection(_SqliteConnection):
    """Runs each call at once on the calling (event loop) thread; its worker thread only opens
    and closes the connection (see the module docstring)."""

    @property
    def sqlite(self) -> sqlite3.Connection | None:
        return self._connection

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)


def _worker(tx: SimpleQueue[tuple[asyncio.Future[Any] | None, Callable[[], Any]]]) -> None:
    """aiosqlite's worker loop, except that an answer for a loop that has closed is dropped.

    aiosqlite hands each answer to the awaiting loop with ``call_soon_threadsafe``, which raises once
    that loop is closed (a test's or a shut-down app's), and then raises again handing the error
    over: the worker thread dies with "Event loop is closed". Nobody can await on a closed loop, so
    the answer goes nowhere instead, and the thread carries on until it is stopped.
    """
    while True:
        future, function = tx.get()
        try:
            result = function()
        except BaseException as exc:  # noqa: B036 - handed to the awaiting task, as aiosqlite does
            _answer(future, aiosqlite.core.set_exception, exc)
            continue
        _answer(future, aiosqlite.core.set_result, result)
        if result is _STOP_RUNNING:
            return


def _answer(future: asyncio.Future[Any] | None, setter: Callable[[asyncio.Future[Any], Any], None], value: Any) -> None:
    if future is None:
        return
    loop = future.get_loop()
    if loop.is_closed():
        return
    with contextlib.suppress(RuntimeError):  # it closed between the check and the call
        loop.call_soon_threadsafe(setter, future, value)


def _no_running_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return True
    return False


# What ends aiosqlite's worker thread (not public; checked by tests/test_db_session.py).
_STOP_RUNNING: object = aiosqlite.core._STOP_RUNNING_SENTINEL


def _connect_sqlite_inline(database: str, *, iter_chunk_size: int = 64, **kwargs: Any) -> aiosqlite.Connection:
    """What ``aiosqlite.connect`` does (SQLAlchemy's ``async_creator_fn`` hook), with the class above.

    The loop's thread runs every call but the opening one, so sqlite3 must not insist on it."""
    return InlineSqliteConnection(_connector(database, {**kwargs, "check_same_thread": False}), iter_chunk_size)


def _connector(database: str, kwargs: dict[str, Any]) -> Callable[[], sqlite3.Connection]:
    def connector() -> sqlite3.Connection:
        connection: sqlite3.Connection = sqlite3.connect(database, **kwargs)
        return connection

    return connector


def _tune_sqlite(engine: AsyncEngine, busy_timeout_ms: int, *, begin_wait_s: float | None) -> None:
    """PRAGMAs on every connection; ``begin_wait_s``: a writer's engine (see ``_begin_immediate``)."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Transaction control taken away from the driver: the "begin" hook below issues BEGIN.
        tune(dbapi_connection, busy_timeout_ms)

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # Straight on sqlite3: through exec_driver_sql a BEGIN cost as much as a query (db/prepared.py).
        raw = connection.connection.driver_connection
        assert isinstance(raw, InlineSqliteConnection) and raw.sqlite is not None
        if begin_wait_s is None:
            try:
                raw.sqlite.execute("BEGIN")
            except sqlite3.Error as exc:
                raise sql_errors.DBAPIError.instance("BEGIN", None, exc, sqlite3.Error) from exc
        else:
            _begin_immediate(raw.sqlite, begin_wait_s)


def _begin_immediate(raw: sqlite3.Connection, wait_s: float) -> None:
    """``BEGIN IMMEDIATE``, retried while another connection holds the write lock, for at most
    ``wait_s``; the retries sleep on the loop (this runs in SQLAlchemy's greenlet), never block it.
    Past ``wait_s`` it fails as SQLite's busy timeout does ("database is locked": ``unavailable``)."""
    deadline = time.monotonic() + wait_s
    for attempt in itertools.count():
        try:
            raw.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if not is_busy(exc) or time.monotonic() >= deadline:
                raise sql_errors.OperationalError("BEGIN IMMEDIATE", None, exc) from None
        await_only(asyncio.sleep(min(retry_pause(attempt), max(deadline - time.monotonic(), 0.0))))


class WriterGate:
    """This process's SQLite writers, one at a time, in arrival order, each waiting at most ``timeout_s``."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _current(self) -> asyncio.Lock:
        # A Database may outlive its event loop (tests run apps one loop after another): one lock per loop.
        loop = asyncio.get_running_loop()
        if self._lock is None or self._loop is not loop:
            self._lock, self._loop = asyncio.Lock(), loop
        return self._lock

    @asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        lock = self._current()
        try:
            async with asyncio.timeout(self.timeout_s):
                await lock.acquire()
        except TimeoutError:
            busy = sqlite3.OperationalError("database is locked (waited for this process's other writers)")
            raise sql_errors.OperationalError("BEGIN IMMEDIATE", None, busy) from None
        try:
            yield
        finally:
            lock.release()


class Database:
    """Owns the engine; hands out sessions for reads and for writes."""

    def __init__(self, url: str, *, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS) -> None:
        self.url = url
        self.busy_timeout_ms = busy_timeout_ms  # how long a writer waits for the write lock
        self._gate = WriterGate(max(busy_timeout_ms / 1000, 0.1)) if url.startswith("sqlite") else None
        sqlite = url.startswith("sqlite")
        self.sql_engine = make_sql_engine(url, busy_timeout_ms=busy_timeout_ms, writer=sqlite)
        self._read_engine = make_sql_engine(url, busy_timeout_ms=busy_timeout_ms) if sqlite else self.sql_engine
        self._reads = async_sessionmaker(self._read_engine, expire_on_commit=False)
        self._writes = async_sessionmaker(self.sql_engine, expire_on_commit=False)
        self._lane = (
            SqliteLane.for_url(
                url,
                self.sql_engine.dialect,
                read_busy_ms=min(busy_timeout_ms, READ_BUSY_TIMEOUT_MS),
                write_wait_s=busy_timeout_ms / 1000,
            )
            if sqlite
            else None
        )
        # Small independent writes of the hot paths (a join), committed in batches on SQLite.
        self.batched = BatchedWrites(self, batch=self._lane is not None)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self._reads() as session, session.begin():
            yield session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A transaction that commits when the block ends without an exception."""
        async with self._writer_turn(), self._writes() as session, session.begin():
            yield session

    @asynccontextmanager
    async def read_core(self) -> AsyncIterator[Direct]:
        """A read transaction with no ORM session, for the hot paths whose queries are all
        ``db/prepared.py`` statements (a session's own bookkeeping cost as much as their
        statements): on SQLite straight on sqlite3 (db/sqlite_lane.py), else a Core connection."""
        if self._lane is not None:
            async with self._lane.read() as transaction:
                yield transaction
            return
        async with self._read_engine.connect() as connection, connection.begin():
            yield connection

    @asynccontextmanager
    async def write_core(self) -> AsyncIterator[Direct]:
        """``write()`` for the hot paths (see ``read_core``)."""
        async with self._writer_turn():
            if self._lane is not None:
                async with self._lane.write() as transaction:
                    yield transaction
                return
            async with self.sql_engine.connect() as connection, connection.begin():
                yield connection

    @asynccontextmanager
    async def _writer_turn(self) -> AsyncIterator[None]:
        """This process's turn to write to SQLite (``WriterGate``); nothing to wait for elsewhere."""
        if self._gate is None:
            yield
            return
        async with self._gate.held():
            yield

    async def ping(self) -> None:
        async with self.sql_engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def close(self) -> None:
        if self._lane is not None:
            self._lane.close()
        await self.sql_engine.dispose()
        if self._read_engine is not self.sql_engine:
            await self._read_engine.dispose()
