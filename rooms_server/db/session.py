"""The database engine and its session factories.

SQLite is tuned on every connection (WAL, foreign keys, busy timeout) and runs its transactions
with an explicit ``BEGIN``: the Python driver otherwise starts them lazily at the first write, so a
read-then-write would run its read outside the transaction. Write transactions use
``BEGIN IMMEDIATE`` so that two writers queue on the busy timeout instead of failing on a lock
upgrade. The busy timeout (SQLITE_BUSY_TIMEOUT_MS) bounds that queue: a writer behind a lock held
longer fails with "database is locked", which callers answer as ``unavailable`` (failures.py).
PostgreSQL connections are bounded the same way: connecting and waiting for a pooled connection
each give up after POOL_TIMEOUT_S.

SQLite takes one writer at a time whatever we do, so this process's writers queue for it in
asyncio (``WriterGate``) rather than each holding a pooled connection and sleeping in SQLite's
busy handler: under many concurrent writers those sleeps and pool waits, not the writes, were what
bounded throughput. Readers are not gated (WAL lets them run beside the writer). The gate's wait is
bounded by the busy timeout too and fails like SQLite's own ("database is locked": ``unavailable``).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from queue import SimpleQueue
from typing import Any

import aiosqlite
from sqlalchemy import event, exc as sql_errors, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.util import await_

# What ``Database.read()``/``write()`` yield. Code above ``db/`` only hands it back to the query
# functions of ``db/`` (it never runs SQL itself), so it names it here rather than importing SQLAlchemy.
Session = AsyncSession

SQLITE_PRAGMAS = ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON")
DEFAULT_BUSY_TIMEOUT_MS = 5000
POOL_TIMEOUT_S = 5.0


def make_sql_engine(url: str, *, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS, **kwargs: Any) -> AsyncEngine:
    if url.startswith("sqlite"):
        # Python's sqlite3 ``timeout`` is the busy timeout too; both say the same. A connection
        # waits for the pool no longer than a writer waits for the lock.
        pool_timeout = max(busy_timeout_ms / 1000, 0.1)
        connect_args = {"timeout": busy_timeout_ms / 1000, "async_creator_fn": _connect_sqlite}
        engine = create_async_engine(url, connect_args=connect_args, pool_timeout=pool_timeout, **kwargs)
        _tune_sqlite(engine, busy_timeout_ms)
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


def _connect_sqlite(database: str, *, iter_chunk_size: int = 64, **kwargs: Any) -> aiosqlite.Connection:
    """What ``aiosqlite.connect`` does (SQLAlchemy's ``async_creator_fn`` hook), with the class above."""

    def connector() -> sqlite3.Connection:
        connection: sqlite3.Connection = sqlite3.connect(database, **kwargs)
        return connection

    proxy: aiosqlite.Connection = _SqliteConnection(connector, iter_chunk_size)
    return proxy


def _tune_sqlite(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver; the "begin" hook below issues BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (*SQLITE_PRAGMAS, f"busy_timeout={int(busy_timeout_ms)}"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get("sqlite_immediate", False)
        connection.connection.info[_BEGIN] = "BEGIN IMMEDIATE" if immediate else "BEGIN"

    engine.sync_engine.dialect.do_begin = _do_begin  # type: ignore[method-assign]


_BEGIN = "rooms_sqlite_begin"


def _do_begin(dbapi_connection: Any) -> None:
    """The BEGIN the "begin" hook chose, in one trip to aiosqlite's thread.

    Issued from the dialect's ``do_begin`` (not with ``exec_driver_sql`` from the hook) so that a
    busy database fails like any statement (SQLAlchemy wraps the driver's error); and straight on
    aiosqlite's connection, which takes one trip to its thread where a cursor takes three: every
    write transaction pays for its BEGIN (a profile of bench/run commands).
    """
    statement = dbapi_connection.info.get(_BEGIN, "BEGIN")
    adapted = dbapi_connection.dbapi_connection  # SQLAlchemy's adapter of the aiosqlite connection
    driver = getattr(adapted, "_connection", None)
    if isinstance(driver, aiosqlite.Connection):
        await_(driver.execute(statement))
        return
    cursor = dbapi_connection.cursor()
    cursor.execute(statement)
    cursor.close()


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
        self._gate = WriterGate(max(busy_timeout_ms / 1000, 0.1)) if url.startswith("sqlite") else None
        self.sql_engine = make_sql_engine(url, busy_timeout_ms=busy_timeout_ms)
        self._reads = async_sessionmaker(self.sql_engine, expire_on_commit=False)
        writer = (
            self.sql_engine.execution_options(sqlite_immediate=True) if url.startswith("sqlite") else self.sql_engine
        )
        self._writes = async_sessionmaker(writer, expire_on_commit=False)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self._reads() as session, session.begin():
            yield session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A transaction that commits when the block ends without an exception."""
        async with contextlib.AsyncExitStack() as stack:
            if self._gate is not None:
                await stack.enter_async_context(self._gate.held())
            session = await stack.enter_async_context(self._writes())
            await stack.enter_async_context(session.begin())
            yield session

    async def ping(self) -> None:
        async with self.sql_engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def close(self) -> None:
        await self.sql_engine.dispose()
