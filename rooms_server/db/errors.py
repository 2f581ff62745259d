"""What the database layer's exceptions mean, so that nothing above ``db/`` imports SQLAlchemy.

``failures`` asks :func:`outage` whether an exception is a database outage (retry later) rather
than a bug, ``metrics`` asks :func:`is_database_error` which backend failed, and the HTTP handlers
catch :data:`Conflict` when a unique key refuses a write that raced another one.
"""

from __future__ import annotations

import sqlite3

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import exc as sql_errors

# A unique key or a foreign key refused the write: another request took the name, the code or the
# membership at the same moment. Callers retry or answer 409; it is never an outage.
Conflict = sql_errors.IntegrityError

# The exception classes a database failure may arrive as (web handlers and the socket catch these).
DATABASE_ERRORS: tuple[type[BaseException], ...] = (
    sql_errors.OperationalError,
    sql_errors.InterfaceError,
    sql_errors.TimeoutError,  # no pooled connection within the pool timeout
    sql_errors.DBAPIError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.InterfaceError,
    ConnectionError,  # a refused or reset connection of the database driver (not wrapped on connect)
)

# PostgreSQL restarting (57P01 admin shutdown, 57P03 cannot connect now), connections lost or refused.
_TRANSIENT_DRIVER_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.InterfaceError,
    OSError,
)
# SQLite answers "database is locked" / "database table is locked" when the busy timeout runs out.
_SQLITE_TRANSIENT = ("locked", "busy", "unable to open", "disk i/o")

NOT_AN_OUTAGE = None


def outage(exc: BaseException) -> BaseException | str | None:
    """Whether ``exc`` is a database outage: the exception to describe, a fixed description, or None.

    None means it is no outage (a bad query, a constraint: a bug or a conflict, not "retry later").
    """
    if isinstance(exc, sql_errors.TimeoutError):
        return "no database connection free in time"
    if isinstance(exc, sql_errors.DBAPIError):
        return (exc.orig or exc) if _transient_sql(exc) else NOT_AN_OUTAGE
    if isinstance(exc, DATABASE_ERRORS):
        return exc
    return NOT_AN_OUTAGE


def _transient_sql(exc: sql_errors.DBAPIError) -> bool:
    """A lost or refused connection, a server shutting down, or SQLite's busy timeout; not a bad query."""
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    if isinstance(orig, sqlite3.Error) or "sqlite" in type(orig).__module__:
        return any(word in str(orig).lower() for word in _SQLITE_TRANSIENT)
    # SQLAlchemy's asyncpg adapter wraps the driver's exception; the driver's own is the cause.
    cause = getattr(orig, "__cause__", None) or orig
    return isinstance(cause, _TRANSIENT_DRIVER_ERRORS)


def is_database_error(exc: BaseException) -> bool:
    """Raised by the database layer or a driver (this exception only, not its causes)."""
    return isinstance(exc, sql_errors.SQLAlchemyError | sqlite3.Error) or type(exc).__module__.startswith("asyncpg")
