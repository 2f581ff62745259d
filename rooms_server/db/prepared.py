"""Statements of the hot paths, compiled once and run on SQLite's own connection.

A join storm runs a dozen small statements per phone (the join, the socket's token check, its
snapshot). SQLite answers each in microseconds, but SQLAlchemy's execution around it (the ORM's
session machinery, then Core's compiled-cache lookup, execution context and result object) cost
100–140 µs per statement: 58 % of a phone's server CPU (docs/BENCHMARKS.md, *Join storm*).

A ``Prepared`` is an ordinary Core statement. On SQLite, whose statements run on the event loop's
thread (db/session.py), it is compiled once for the dialect into its SQL, its parameter order and
the bind and result processors of its columns' types (the same ones SQLAlchemy itself applies, so
what is stored and read back is identical), and run straight on the ``sqlite3`` connection of the
transaction. On every other database it runs on the transaction's Core connection:
PostgreSQL's round trip dwarfs the machinery there, and asyncpg's prepared-statement cache is
SQLAlchemy's.

Either way the statement joins the caller's transaction: an ORM session's (pending ORM changes
are flushed first, as SQLAlchemy's autoflush would), a Core connection's, or what the hot paths
take (``Database.read_core``/``write_core``): on SQLite a transaction straight on ``sqlite3``
(db/sqlite_lane.py), since a session's bookkeeping, and then a Core connection's, cost more than
their statements. What a ``Prepared`` returns is plain tuples, never ORM objects.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Delete, Insert, Select, Update
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql.compiler import SQLCompiler

from rooms_server.db.session import InlineSqliteConnection, Transaction
from rooms_server.db.sqlite_lane import SqliteTransaction, wrapped

Statement = Select[*tuple[Any, ...]] | Insert | Update | Delete
Processor = Callable[[Any], Any] | None
Row = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]  # the parameters, in the statement's positional order
    defaults: dict[str, Any]  # values bound inside the statement (literals in a where clause)
    binds: tuple[Processor, ...]
    results: tuple[Processor, ...]
    converts: bool  # whether any result column has a processor (else sqlite3's rows are the rows)
    lists: frozenset[str]  # ``bindparam(..., expanding=True)``: a list of values, as for IN

    def execute(self, connection: sqlite3.Connection, params: dict[str, Any]) -> sqlite3.Cursor:
        if self.lists:
            return self._execute_with_lists(connection, params)
        values = (params[n] if n in params else self.defaults[n] for n in self.names)
        args = tuple(v if p is None or v is None else p(v) for v, p in zip(values, self.binds, strict=True))
        return self._run(connection, self.sql, args)

    def _execute_with_lists(self, connection: sqlite3.Connection, params: dict[str, Any]) -> sqlite3.Cursor:
        """As SQLAlchemy renders an expanding parameter: one ``?`` per value of its list (an empty
        list is ``NULL``, which nothing equals)."""
        sql = self.sql
        args: list[Any] = []
        for name, process in zip(self.names, self.binds, strict=True):
            value = params[name] if name in params else self.defaults[name]
            values = list(value) if name in self.lists else [value]
            args.extend(v if process is None or v is None else process(v) for v in values)
            if name in self.lists:
                sql = sql.replace(f"__[POSTCOMPILE_{name}]", ", ".join("?" * len(values)) or "NULL", 1)
        return self._run(connection, sql, tuple(args))

    @staticmethod
    def _run(connection: sqlite3.Connection, sql: str, args: tuple[Any, ...]) -> sqlite3.Cursor:
        with wrapped(sql, args):
            return connection.execute(sql, args)

    def row(self, raw: Sequence[Any]) -> Row:
        return tuple(v if p is None or v is None else p(v) for v, p in zip(raw, self.results, strict=True))


class Prepared:
    """A Core statement with named ``bindparam``s, run in the caller's transaction (module docstring)."""

    def __init__(self, statement: Statement) -> None:
        self.statement = statement
        self._compiled: _Compiled | None = None  # for SQLite, the only database it runs on directly

    async def all(self, tx: Transaction, **params: Any) -> list[Row]:
        target = await self._target(tx)
        if isinstance(target, AsyncConnection):
            return [tuple(row) for row in (await target.execute(self.statement, params)).all()]
        compiled, raw = target
        rows = compiled.execute(raw, params).fetchall()
        return [compiled.row(row) for row in rows] if compiled.converts else rows

    async def first(self, tx: Transaction, **params: Any) -> Row | None:
        target = await self._target(tx)
        if isinstance(target, AsyncConnection):
            row = (await target.execute(self.statement, params)).first()
            return None if row is None else tuple(row)
        compiled, raw = target
        found = compiled.execute(raw, params).fetchone()
        return None if found is None else compiled.row(found)

    async def scalar(self, tx: Transaction, **params: Any) -> Any:
        row = await self.first(tx, **params)
        return None if row is None else row[0]

    async def run(self, tx: Transaction, **params: Any) -> int:
        """An INSERT, UPDATE or DELETE: the number of rows it touched."""
        target = await self._target(tx)
        if isinstance(target, AsyncConnection):
            return int((await target.execute(self.statement, params)).rowcount)
        compiled, raw = target
        return compiled.execute(raw, params).rowcount

    async def _target(self, tx: Transaction) -> tuple[_Compiled, sqlite3.Connection] | AsyncConnection:
        """Where the statement runs: straight on sqlite3 (compiled once), else the Core connection."""
        if isinstance(tx, SqliteTransaction):
            return self._for(tx.dialect), tx.sqlite
        connection = await _connection_of(tx)
        # Begun, so its pooled connection is there to read without a round trip.
        driver = connection.sync_connection.connection.driver_connection  # type: ignore[union-attr]
        if isinstance(driver, InlineSqliteConnection) and driver.sqlite is not None:
            return self._for(connection.dialect), driver.sqlite
        return connection

    def _for(self, dialect: Dialect) -> _Compiled:
        if self._compiled is None:
            self._compiled = _compile(self.statement, dialect)
        return self._compiled


def _compile(statement: Statement, dialect: Dialect) -> _Compiled:
    compiled = statement.compile(dialect=dialect)
    assert isinstance(compiled, SQLCompiler) and compiled.positiontup is not None, "a positional dialect"
    names = tuple(compiled.positiontup)
    binds = tuple(compiled.binds[n].type.dialect_impl(dialect).bind_processor(dialect) for n in names)
    defaults = {n: compiled.binds[n].value for n in names if not compiled.binds[n].required}
    columns = statement.selected_columns if isinstance(statement, Select) else ()
    results = tuple(c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns)
    converts = any(p is not None for p in results)
    lists = frozenset(n for n in names if compiled.binds[n].expanding)
    return _Compiled(compiled.string, names, defaults, binds, results, converts, lists)


async def _connection_of(tx: AsyncSession | AsyncConnection) -> AsyncConnection:
    """The Core connection of the transaction, begun; a session's ORM changes are flushed first,
    as autoflush would."""
    if isinstance(tx, AsyncConnection):
        return tx
    if tx.new or tx.dirty or tx.deleted:
        await tx.flush()
    return await tx.connection()
