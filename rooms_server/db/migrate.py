"""Run Alembic from code, inside or outside a running event loop.

The scripts are package data (``rooms_server/migrations``), so ``rooms-server`` and
``rooms-server migrate`` work from any directory after ``pip install``: no ``alembic.ini`` is read
here (the one at the top of a checkout is for developers running the ``alembic`` command).
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

SCRIPT_LOCATION = "rooms_server:migrations"  # resolved by Alembic through importlib.resources


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.set_main_option("path_separator", "os")
    config.set_main_option("sqlalchemy.url", url)
    config.attributes["url_fixed"] = True
    return config


async def upgrade(url: str, revision: str = "head") -> None:
    await _migrate(url, "upgrade", revision)


async def downgrade(url: str, revision: str) -> None:
    await _migrate(url, "downgrade", revision)


async def _migrate(url: str, action: str, revision: str) -> None:
    # A plain engine on purpose: without the app's foreign_keys pragma, because a SQLite batch
    # migration that recreates a parent table with it ON silently deletes the child rows.
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_run, alembic_config(url), action, revision)
    finally:
        await engine.dispose()


def _run(connection: Connection, config: Config, action: str, revision: str) -> None:
    config.attributes["connection"] = connection
    if action == "upgrade":
        command.upgrade(config, revision)
    else:
        command.downgrade(config, revision)
