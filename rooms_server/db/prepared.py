"""Statements of the hot paths, compiled once and run on SQLite's own connection.

A join storm runs a dozen small statements per phone (the join, the socket's token check, its
snapshot). SQLite answers each in microseconds, but SQLAlchemy's execution around it (the ORM's
session machinery, then Core's compiled-cache lookup, execution context and result object) cost
100–140 µs per statement: 58 % of a phone's server CPU (docs/BENCHMARKS.md, *Join storm*).

A ``Prepared`` is an ordinary Core statement. On SQLite, whose statements run on the event loop's
thread (db/session.py), it is compiled once for the dialect into its SQL, its parameter order and
the bind and result processors of its columns' types (the same ones SQLAlchemy itself applies, so
what is stored and read back is identical), and run straight on the ``sqlite3`` connection of the
session's transaction. On every other database it runs on the session's Core connection:
PostgreSQL's round trip dwarfs the machinery there, and asyncpg's prepared-statement cache is
SQLAlchemy's.

Either way the statement joins the caller's transaction; pending ORM changes are flushed first,
as SQLAlchemy's autoflush would. What a ``Prepared`` returns is plain tuples, never ORM objects.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Delete, Insert, Select, Update, exc as sql_errors
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql.compiler import SQLCompiler

from rooms_server.db.session import InlineSqliteConnection

Statement = Select[*tuple[Any, ...]] | Insert | Update | Delete
Processor = Callable[[Any], Any] | None
Row = tuple[Any, ...]

_CONNECTION = "prepared.connection"  # session.info: (the transaction, its connection)


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]  # the parameters, in the statement's positional order
    defaults: dict[str, Any]  # values bound inside the statement (literals in a where clause)
    binds: tuple[Processor, ...]
    results: tuple[Processor, ...]

    def execute(self, connection: sqlite3.Connection, params: dict[str, Any]) -> sqlite3.Cursor:
        values = (params[n] if n in params else self.defaults[n] for n in self.names)
        args = tuple(v if p is None or v is None else p(v) for v, p in zip(values, self.binds, strict=True))
        try:
            return connection.execute(self.sql, args)
        except sqlite3.Error as exc:  # as SQLAlchemy wraps it: IntegrityError is a Conflict, "locked" an outage
            raise sql_errors.DBAPIError.instance(self.sql, args, exc, sqlite3.Error) from exc

    def row(self, raw: Sequence[Any]) -> Row:
        return tuple(v if p is None or v is None else p(v) for v, p in zip(raw, self.results, strict=True))


class Prepared:
    """A Core statement with named ``bindparam``s, run in a session's transaction (module docstring)."""

    def __init__(self, statement: Statement) -> None:
        self.statement = statement
        self._compiled: dict[str, _Compiled] = {}

    async def all(self, session: AsyncSession, **params: Any) -> list[Row]:
        connection = await _connection_of(session)
        if not isinstance(connection, sqlite3.Connection):
            return [tuple(row) for row in (await connection.execute(self.statement, params)).all()]
        compiled = self._for(session)
        return [compiled.row(row) for row in compiled.execute(connection, params).fetchall()]

    async def first(self, session: AsyncSession, **params: Any) -> Row | None:
        connection = await _connection_of(session)
        if not isinstance(connection, sqlite3.Connection):
            row = (await connection.execute(self.statement, params)).first()
            return None if row is None else tuple(row)
        compiled = self._for(session)
        found = compiled.execute(connection, params).fetchone()
        return None if found is None else compiled.row(found)

    async def scalar(self, session: AsyncSession, **params: Any) -> Any:
        row = await self.first(session, **params)
        return None if row is None else row[0]

    async def run(self, session: AsyncSession, **params: Any) -> int:
        """An INSERT, UPDATE or DELETE: the number of rows it touched."""
        connection = await _connection_of(session)
        if not isinstance(connection, sqlite3.Connection):
            return int((await connection.execute(self.statement, params)).rowcount)
        compiled = self._for(session)
        return compiled.execute(connection, params).rowcount

    def _for(self, session: AsyncSession) -> _Compiled:
        dialect = session.get_bind().dialect
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            compiled = self._compiled[dialect.name] = _compile(self.statement, dialect)
        return compiled


def _compile(statement: Statement, dialect: Dialect) -> _Compiled:
    compiled = statement.compile(dialect=dialect)
    assert isinstance(compiled, SQLCompiler) and compiled.positiontup is not None, "a positional dialect"
    names = tuple(compiled.positiontup)
    binds = tuple(compiled.binds[n].type.dialect_impl(dialect).bind_processor(dialect) for n in names)
    defaults = {n: compiled.binds[n].value for n in names if not compiled.binds[n].required}
    columns = statement.selected_columns if isinstance(statement, Select) else ()
    results = tuple(c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns)
    return _Compiled(compiled.string, names, defaults, binds, results)


async def _connection_of(session: AsyncSession) -> sqlite3.Connection | AsyncConnection:
    """The connection of the session's transaction (begun if need be): SQLite's own when its
    statements run on the loop's thread, else SQLAlchemy's Core connection. ORM changes are
    flushed first, as autoflush would."""
    if session.new or session.dirty or session.deleted:
        await session.flush()
    transaction = session.sync_session.get_transaction()
    cached = session.info.get(_CONNECTION)
    if transaction is not None and cached is not None and cached[0] is transaction:
        found: sqlite3.Connection | AsyncConnection = cached[1]
        return found
    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    found = driver.sqlite if isinstance(driver, InlineSqliteConnection) and driver.sqlite else connection
    session.info[_CONNECTION] = (session.sync_session.get_transaction(), found)
    return found
