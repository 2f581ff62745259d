"""Migrations: up, down and up again on both databases; models and migrations agree."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.ext.asyncio import create_async_engine

from rooms_server.db import migrate
from rooms_server.db.models import Base

TABLES = {
    "users",
    "groups",
    "playlists",
    "tracks",
    "connections",
    "user_credentials",
    "groupqr",
    "auth_sessions",
    "command_results",
    "group_speakers",
    "chat_messages",
    "playback_history",
    "invite_links",
}


async def _tables(url: str) -> set[str]:
    engine = create_async_engine(url)
    async with engine.connect() as conn:
        names = await conn.run_sync(lambda c: set(sa.inspect(c).get_table_names()))
    await engine.dispose()
    return names


async def _check(url: str) -> None:
    """``alembic check``: autogenerate finds nothing to do between the models and the database."""
    engine = create_async_engine(url)
    async with engine.connect() as conn:
        await conn.run_sync(lambda c: _run_check(c, url))
    await engine.dispose()


def _run_check(connection: sa.Connection, url: str) -> None:
    config = migrate.alembic_config(url)
    config.attributes["connection"] = connection
    command.check(config)


def _roundtrip(url: str) -> None:
    asyncio.run(migrate.upgrade(url))
    assert asyncio.run(_tables(url)) == TABLES | {"alembic_version"}
    asyncio.run(_check(url))
    asyncio.run(migrate.downgrade(url, "base"))
    assert asyncio.run(_tables(url)) == {"alembic_version"}
    asyncio.run(migrate.upgrade(url))
    assert asyncio.run(_tables(url)) == TABLES | {"alembic_version"}
    asyncio.run(_check(url))


def test_migrations_roundtrip_sqlite(tmp_path: Path) -> None:
    _roundtrip(f"sqlite+aiosqlite:///{tmp_path}/m.db")


@pytest.mark.postgres
def test_migrations_roundtrip_postgres(fresh_postgres_url: str) -> None:
    _roundtrip(fresh_postgres_url)


def test_migrations_models_cover_every_table() -> None:
    assert set(Base.metadata.tables) == TABLES


async def test_migrations_keep_child_rows_through_batch_migrations(tmp_path: Path) -> None:
    """Batch mode recreates tables on SQLite; with foreign keys ON that would cascade-delete rows."""
    url = f"sqlite+aiosqlite:///{tmp_path}/m.db"
    await migrate.upgrade(url, "0001")
    ids = {"u": "u" * 32, "g": "g" * 32, "p": "p" * 32, "c": "c" * 32}
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.execute(sa.text("INSERT INTO users VALUES (:u, 'Ann')"), ids)
        await conn.execute(sa.text("INSERT INTO groups VALUES (:g, 'G', 1)"), ids)
        await conn.execute(sa.text("INSERT INTO playlists VALUES (:p, :g, 0)"), ids)
        for title in ("a", "b", "c"):
            await conn.execute(
                sa.text(
                    "INSERT INTO tracks (playlist_id, added_by_user_id, service, title, duration, external_url,"
                    " added_at) VALUES (:p, :u, 'youtube', :t, 60, 'https://y', '2026-01-01 00:00:00')"
                ),
                {**ids, "t": title},
            )
        await conn.execute(sa.text("INSERT INTO connections VALUES (:c, :u, :g, '2026-01-01', 'admin')"), ids)
    await engine.dispose()
    await migrate.upgrade(url)
    engine = create_async_engine(url)
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.text("SELECT title, position FROM tracks ORDER BY id"))).all()
        members = (await conn.execute(sa.text("SELECT count(*) FROM connections"))).scalar_one()
        problems = (await conn.execute(sa.text("PRAGMA foreign_key_check"))).all()
        host = (await conn.execute(sa.text("SELECT host_user_id FROM groups"))).scalar_one()
    await engine.dispose()
    assert [tuple(r) for r in rows] == [("a", 0), ("b", 1), ("c", 2)]
    assert members == 1 and problems == []
    assert host == ids["u"]  # 0011 makes each group's first admin its host


async def test_migrations_0007_keeps_every_row_and_makes_ids_autoincrement(tmp_path: Path) -> None:
    """0007 rebuilds tracks and user_credentials on SQLite: same rows and ids, the index kept, and
    from then on an id is never handed out twice; its downgrade keeps the rows too."""
    url = f"sqlite+aiosqlite:///{tmp_path}/m.db"
    await migrate.upgrade(url, "0006")
    ids = {"u": "u" * 32, "g": "g" * 32, "p": "p" * 32}
    insert_track = sa.text(
        "INSERT INTO tracks (id, playlist_id, added_by_user_id, service, title, duration, external_url, added_at,"
        " position) VALUES (:id, :p, :u, 'youtube', :t, 60, 'https://y', '2026-01-01 00:00:00', :pos)"
    )
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.execute(sa.text("INSERT INTO users VALUES (:u, 'Ann')"), ids)
        await conn.execute(sa.text("INSERT INTO groups VALUES (:g, 'G', 1)"), ids)
        await conn.execute(sa.text("INSERT INTO playlists VALUES (:p, :g, 0, 3)"), ids)
        for pos, (track_id, title) in enumerate([(3, "a"), (7, "b"), (9, "c")]):
            await conn.execute(insert_track, {**ids, "id": track_id, "t": title, "pos": pos})
        await conn.execute(sa.text("INSERT INTO user_credentials VALUES (5, :u, 'spotify', 'tok', NULL, 'ref')"), ids)
    await engine.dispose()
    await migrate.upgrade(url)
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        rows = (await conn.execute(sa.text("SELECT id, title, position FROM tracks ORDER BY id"))).all()
        credentials = (
            await conn.execute(sa.text("SELECT id, service, token, refresh_token FROM user_credentials"))
        ).all()
        indexes = (await conn.execute(sa.text("PRAGMA index_list(tracks)"))).all()
        await conn.execute(sa.text("DELETE FROM tracks WHERE id = 9"))
        await conn.execute(insert_track.bindparams(id=None), {**ids, "t": "d", "pos": 2})
        newest = (await conn.execute(sa.text("SELECT max(id) FROM tracks"))).scalar_one()
    await engine.dispose()
    assert [tuple(r) for r in rows] == [(3, "a", 0), (7, "b", 1), (9, "c", 2)]
    assert [tuple(r) for r in credentials] == [(5, "spotify", "tok", "ref")]
    assert "idx_tracks_playlist_id" in {row[1] for row in indexes}
    assert newest == 10  # not 9 again
    await migrate.downgrade(url, "0006")
    engine = create_async_engine(url)
    async with engine.connect() as conn:
        titles = (await conn.execute(sa.text("SELECT title FROM tracks ORDER BY id"))).scalars().all()
    await engine.dispose()
    assert titles == ["a", "b", "d"]
