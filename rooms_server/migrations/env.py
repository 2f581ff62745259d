"""Alembic environment, async.

Two ways in: the ``alembic`` command (the URL comes from DATABASE_URL, else alembic.ini), and
``rooms_server.db.migrate`` which hands over an open connection (``config.attributes["connection"]``)
so migrations can run inside a running event loop. The engine made here never sets the SQLite
``foreign_keys`` pragma: a batch migration that recreates a parent table with it ON silently
deletes the child rows.
"""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import async_engine_from_config
from sqlalchemy.pool import NullPool

from rooms_server.config import normalize_database_url
from rooms_server.db.models import Base

config = context.config
target_metadata = Base.metadata

if os.environ.get("DATABASE_URL") and not config.attributes.get("url_fixed"):
    config.set_main_option("sqlalchemy.url", normalize_database_url(os.environ["DATABASE_URL"]))


def do_run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    engine = async_engine_from_config(config.get_section(config.config_ini_section, {}), poolclass=NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(do_run_migrations)
    await engine.dispose()


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
elif (shared := config.attributes.get("connection")) is not None:
    do_run_migrations(shared)
else:
    asyncio.run(run_async_migrations())
