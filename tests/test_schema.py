"""The migrated SQLite schema matches the original document (shared/seeds/schema-000.txt) exactly."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from pathlib import Path

import pytest

from rooms_server.db import migrate

# table -> [(column, declared type, NOT NULL)] in the seed's order; extensions last.
COLUMNS = {
    "users": [("id", "CHAR(32)", True), ("name", "VARCHAR(255)", True)],
    "groups": [
        ("id", "CHAR(32)", True),
        ("name", "VARCHAR(1000)", True),
        ("is_public", "BOOLEAN", True),
        ("listening_mode", "VARCHAR(8)", True),
        ("queue_mode", "VARCHAR(10)", True),
        ("repeat_mode", "VARCHAR(3)", True),
        ("autoplay", "BOOLEAN", True),
        ("autoplay_avoid_last", "INTEGER", True),
        ("who_may_add", "VARCHAR(8)", True),
        ("max_queued_per_member", "INTEGER", True),
        ("max_track_s", "INTEGER", True),
        ("replay_block_min", "INTEGER", True),
        ("host_user_id", "CHAR(32)", False),
        ("host_grace_s", "INTEGER", True),
        ("failover_to_members", "BOOLEAN", True),
        ("host_on_return", "VARCHAR(9)", True),
        ("host_away_since", "DATETIME", False),
        ("away_host_user_id", "CHAR(32)", False),
        ("stand_in_role", "VARCHAR(10)", False),
        ("roster_version", "INTEGER", True),
    ],
    "playlists": [
        ("id", "CHAR(32)", True),
        ("group_id", "CHAR(32)", True),
        ("current_track_index", "INTEGER", True),
        ("version", "INTEGER", True),
    ],
    "tracks": [
        ("id", "INTEGER", True),
        ("playlist_id", "CHAR(32)", True),
        ("added_by_user_id", "CHAR(32)", True),
        ("service", "VARCHAR(12)", True),
        ("title", "VARCHAR(512)", True),
        ("duration", "INTEGER", True),
        ("external_url", "TEXT", True),
        ("added_at", "DATETIME", True),
        ("position", "INTEGER", True),
        ("artwork_url", "TEXT", False),
    ],
    "connections": [
        ("id", "CHAR(32)", True),
        ("user_id", "CHAR(32)", True),
        ("group_id", "CHAR(32)", True),
        ("joined_at", "DATETIME", True),
        ("role", "VARCHAR(10)", True),
    ],
    "user_credentials": [
        ("id", "INTEGER", True),
        ("user_id", "CHAR(32)", True),
        ("service", "VARCHAR(12)", True),
        ("token", "TEXT", True),
        ("expiry", "DATETIME", False),
        ("refresh_token", "TEXT", False),
    ],
    "groupqr": [
        ("id", "CHAR(32)", True),
        ("group_id", "CHAR(32)", True),
        ("url", "VARCHAR(1000)", True),
        ("expired_at", "DATETIME", True),
        ("code", "VARCHAR(8)", False),
        ("role", "VARCHAR(10)", True),
        ("max_uses", "INTEGER", False),
        ("uses", "INTEGER", True),
    ],
    "invite_links": [
        ("id", "CHAR(32)", True),
        ("group_id", "CHAR(32)", True),
        ("token", "CHAR(32)", True),
        ("url", "VARCHAR(1000)", True),
        ("role", "VARCHAR(10)", True),
        ("label", "VARCHAR(80)", False),
        ("max_uses", "INTEGER", False),
        ("uses", "INTEGER", True),
        ("created_by_user_id", "CHAR(32)", True),
        ("created_at", "DATETIME", True),
        ("expired_at", "DATETIME", True),
    ],
    "chat_messages": [
        ("id", "INTEGER", True),
        ("group_id", "CHAR(32)", True),
        ("user_id", "CHAR(32)", True),
        ("name", "VARCHAR(255)", True),
        ("text", "TEXT", True),
        ("sent_at", "DATETIME", True),
    ],
    "playback_history": [
        ("id", "INTEGER", True),
        ("group_id", "CHAR(32)", True),
        ("track_id", "INTEGER", False),
        ("added_by_user_id", "CHAR(32)", True),
        ("service", "VARCHAR(12)", True),
        ("title", "VARCHAR(512)", True),
        ("duration", "INTEGER", True),
        ("external_url", "TEXT", True),
        ("artwork_url", "TEXT", False),
        ("started_at", "DATETIME", True),
        ("ended_at", "DATETIME", True),
        ("played_ms", "INTEGER", True),
        ("outcome", "VARCHAR(8)", True),
    ],
    "auth_sessions": [
        ("id", "CHAR(32)", True),
        ("user_id", "CHAR(32)", True),
        ("token_hash", "CHAR(64)", True),
        ("created_at", "DATETIME", True),
        ("expires_at", "DATETIME", True),
    ],
    "command_results": [
        ("user_id", "CHAR(32)", True),
        ("group_id", "CHAR(32)", True),
        ("command_id", "VARCHAR(64)", True),
        ("answer", "TEXT", True),
        ("created_at", "DATETIME", True),
    ],
    "group_speakers": [
        ("group_id", "CHAR(32)", True),
        ("device_key", "CHAR(32)", True),
        ("user_id", "CHAR(32)", True),
        ("marked_at", "DATETIME", True),
    ],
    "alembic_version": [("version_num", "VARCHAR(32)", True)],
}

# constraint name -> the clause that must follow it in the table's SQL
CONSTRAINTS = {
    "users": {"users_pk": "PRIMARY KEY (id)"},
    "groups": {
        "groups_pk": "PRIMARY KEY (id)",
        "groups_name_unique": "UNIQUE (name)",
        "groups_listening_mode_check": "CHECK (listening_mode IN ('everyone', 'speaker'))",
        "groups_queue_mode_check": "CHECK (queue_mode IN ('in_order', 'fair_turns'))",
        "groups_repeat_mode_check": "CHECK (repeat_mode IN ('off', 'one', 'all'))",
        "groups_who_may_add_check": "CHECK (who_may_add IN ('everyone', 'hosts'))",
        "groups_host_on_return_check": "CHECK (host_on_return IN ('hand_back', 'keep'))",
        "groups_host_user_id_fkey": "FOREIGN KEY(host_user_id) REFERENCES users (id)",
        "groups_away_host_user_id_fkey": "FOREIGN KEY(away_host_user_id) REFERENCES users (id)",
    },
    "playlists": {
        "playlists_pk": "PRIMARY KEY (id, group_id)",
        "playlists_group_id_fkey": "FOREIGN KEY(group_id) REFERENCES groups (id)",
        "playlists_id_unique": "UNIQUE (id)",
    },
    "tracks": {
        "tracks_pk": "PRIMARY KEY AUTOINCREMENT",  # inline on the id column: ids are never reused
        "tracks_playlist_id_fkey": "FOREIGN KEY(playlist_id) REFERENCES playlists (id)",
        "tracks_added_by_user_id_fkey": "FOREIGN KEY(added_by_user_id) REFERENCES users (id)",
    },
    "connections": {
        "connections_pk": "PRIMARY KEY (user_id, group_id, id)",
        "connections_user_id_fkey": "FOREIGN KEY(user_id) REFERENCES users (id)",
        "connections_group_id_fkey": "FOREIGN KEY(group_id) REFERENCES groups (id)",
        "connections_user_id_group_id_unique": "UNIQUE (user_id, group_id)",
        "connections_role_check": "CHECK (role IN ('admin', 'member', 'listener'))",
    },
    "user_credentials": {
        "user_credentials_pk": "PRIMARY KEY AUTOINCREMENT",
        "user_credentials_user_id_fkey": "FOREIGN KEY(user_id) REFERENCES users (id)",
        "user_credentials_user_id_service_unique": "UNIQUE (user_id, service)",
    },
    "groupqr": {
        "groupqr_pk": "PRIMARY KEY (id)",
        "groupqr_group_id_fkey": "FOREIGN KEY(group_id) REFERENCES groups (id)",
        "groupqr_group_id_unique": "UNIQUE (group_id)",
        "groupqr_url_unique": "UNIQUE (url)",
        "groupqr_code_unique": "UNIQUE (code)",
        "groupqr_role_check": "CHECK (role IN ('admin', 'member', 'listener'))",
        "groupqr_uses_check": "CHECK (uses >= 0 AND (max_uses IS NULL OR uses <= max_uses))",
    },
    "invite_links": {
        "invite_links_pk": "PRIMARY KEY (id)",
        "invite_links_group_id_fkey": "FOREIGN KEY(group_id) REFERENCES groups (id)",
        "invite_links_created_by_user_id_fkey": "FOREIGN KEY(created_by_user_id) REFERENCES users (id)",
        "invite_links_token_unique": "UNIQUE (token)",
        "invite_links_role_check": "CHECK (role IN ('admin', 'member', 'listener'))",
        "invite_links_uses_check": "CHECK (uses >= 0 AND (max_uses IS NULL OR uses <= max_uses))",
    },
    "chat_messages": {
        "chat_messages_pk": "PRIMARY KEY AUTOINCREMENT",
        "chat_messages_group_id_fkey": "FOREIGN KEY(group_id) REFERENCES groups (id)",
        "chat_messages_user_id_fkey": "FOREIGN KEY(user_id) REFERENCES users (id)",
    },
    "playback_history": {
        "playback_history_pk": "PRIMARY KEY AUTOINCREMENT",
        "playback_history_group_id_fkey": "FOREIGN KEY(group_id) REFERENCES groups (id)",
        "playback_history_added_by_user_id_fkey": "FOREIGN KEY(added_by_user_id) REFERENCES users (id)",
        "playback_history_outcome_check": "CHECK (outcome IN ('ended', 'skipped', 'voted', 'removed'))",
        "playback_history_played_ms_check": "CHECK (played_ms >= 0)",
    },
    "auth_sessions": {
        "auth_sessions_pk": "PRIMARY KEY (id)",
        "auth_sessions_user_id_fkey": "FOREIGN KEY(user_id) REFERENCES users (id)",
        "auth_sessions_token_hash_unique": "UNIQUE (token_hash)",
    },
    "command_results": {
        "command_results_pk": "PRIMARY KEY (user_id, group_id, command_id)",
        "command_results_user_id_fkey": "FOREIGN KEY(user_id) REFERENCES users (id)",
        "command_results_group_id_fkey": "FOREIGN KEY(group_id) REFERENCES groups (id)",
    },
    "group_speakers": {
        "group_speakers_pk": "PRIMARY KEY (group_id, device_key)",
        "group_speakers_group_id_fkey": "FOREIGN KEY(group_id) REFERENCES groups (id)",
        "group_speakers_user_id_fkey": "FOREIGN KEY(user_id) REFERENCES users (id)",
    },
    "alembic_version": {"alembic_version_pkc": "PRIMARY KEY (version_num)"},
}

INDEXES = {
    "idx_tracks_playlist_id": ("tracks", ["playlist_id"]),
    "idx_connections_user_id": ("connections", ["user_id"]),
    "idx_connections_group_id": ("connections", ["group_id"]),
    "idx_user_credentials_user_id": ("user_credentials", ["user_id"]),
    "idx_groupqr_expired_at": ("groupqr", ["expired_at"]),
    "idx_invite_links_group_id": ("invite_links", ["group_id"]),
    "idx_invite_links_expired_at": ("invite_links", ["expired_at"]),
    "idx_command_results_created_at": ("command_results", ["created_at"]),
    "idx_chat_messages_group_id": ("chat_messages", ["group_id", "id"]),
    "idx_playback_history_group_id": ("playback_history", ["group_id", "id"]),
    "idx_playback_history_group_id_url": ("playback_history", ["group_id", "external_url", "ended_at"]),
}


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> sqlite3.Connection:
    path: Path = tmp_path_factory.mktemp("schema") / "rooms.db"
    asyncio.run(migrate.upgrade(f"sqlite+aiosqlite:///{path}"))
    return sqlite3.connect(path)


def _sql(schema: sqlite3.Connection, table: str) -> str:
    row = schema.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone()
    assert row is not None, f"table {table} is missing"
    return re.sub(r"\s+", " ", str(row[0]))


@pytest.mark.parametrize("table", sorted(COLUMNS))
def test_schema_columns_types_and_nullability(schema: sqlite3.Connection, table: str) -> None:
    info = schema.execute(f"PRAGMA table_info({table})").fetchall()
    assert [(name, kind, bool(notnull)) for _, name, kind, notnull, _, _ in info] == COLUMNS[table]


@pytest.mark.parametrize("table", sorted(CONSTRAINTS))
def test_schema_constraint_names(schema: sqlite3.Connection, table: str) -> None:
    sql = _sql(schema, table)
    for name, clause in CONSTRAINTS[table].items():
        assert f"CONSTRAINT {name} {clause}" in sql, f"{table}: {name} {clause} not in {sql}"
    assert sql.count("CONSTRAINT ") == len(CONSTRAINTS[table]), f"{table} has constraints the test does not know"


@pytest.mark.parametrize("index", sorted(INDEXES))
def test_schema_recommended_indexes(schema: sqlite3.Connection, index: str) -> None:
    table, columns = INDEXES[index]
    rows = schema.execute(f"PRAGMA index_list({table})").fetchall()
    assert index in {row[1] for row in rows}
    assert [row[2] for row in schema.execute(f"PRAGMA index_info({index})").fetchall()] == columns


def test_schema_roster_triggers_are_on_connections(schema: sqlite3.Connection) -> None:
    """Migration 0014's triggers (roster.py): a later migration that rebuilds ``connections`` (batch
    mode on SQLite) drops them with the table and must create them again."""
    rows = schema.execute("SELECT name, tbl_name FROM sqlite_master WHERE type = 'trigger'").fetchall()
    names = ("connections_roster_insert", "connections_roster_update", "connections_roster_delete")
    assert sorted(rows) == sorted((name, "connections") for name in names)


def test_schema_autoincrement_ids_are_rowid_aliases(schema: sqlite3.Connection) -> None:
    for table in ("tracks", "user_credentials", "chat_messages", "playback_history"):
        pk = [row for row in schema.execute(f"PRAGMA table_info({table})").fetchall() if row[5]]
        assert [(row[1], row[2]) for row in pk] == [("id", "INTEGER")]
        assert f"id INTEGER NOT NULL CONSTRAINT {table}_pk PRIMARY KEY AUTOINCREMENT" in _sql(schema, table)


def test_schema_autoincrement_ids_are_never_reused(tmp_path: Path) -> None:
    """Add, delete the last row, add: a fresh id, also after the file is closed and opened again
    (SQLite without AUTOINCREMENT would hand out the deleted id again)."""
    path = tmp_path / "ids.db"
    asyncio.run(migrate.upgrade(f"sqlite+aiosqlite:///{path}"))
    user, group, playlist = "u" * 32, "g" * 32, "p" * 32

    def add_track(db: sqlite3.Connection) -> int:
        cursor = db.execute(
            "INSERT INTO tracks (playlist_id, added_by_user_id, service, title, duration, external_url, added_at)"
            " VALUES (?, ?, 'youtube', 't', 1, 'u', '2026-01-01 00:00:00')",
            (playlist, user),
        )
        db.commit()
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def add_credential(db: sqlite3.Connection) -> int:
        cursor = db.execute(
            "INSERT INTO user_credentials (user_id, service, token) VALUES (?, 'spotify', 'x')", (user,)
        )
        db.commit()
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO users (id, name) VALUES (?, 'U')", (user,))
        db.execute("INSERT INTO groups (id, name, is_public) VALUES (?, 'G', 1)", (group,))
        db.execute("INSERT INTO playlists (id, group_id, current_track_index) VALUES (?, ?, 0)", (playlist, group))
        first_track, first_credential = add_track(db), add_credential(db)
        db.execute("DELETE FROM tracks WHERE id = ?", (first_track,))
        db.execute("DELETE FROM user_credentials WHERE id = ?", (first_credential,))
        second_track, second_credential = add_track(db), add_credential(db)
        db.execute("DELETE FROM tracks WHERE id = ?", (second_track,))
        db.execute("DELETE FROM user_credentials WHERE id = ?", (second_credential,))
        db.commit()
    db.close()
    with sqlite3.connect(path) as db:  # a restart
        third_track, third_credential = add_track(db), add_credential(db)
    db.close()
    assert first_track < second_track < third_track
    assert first_credential < second_credential < third_credential


def test_schema_foreign_keys_are_valid_targets(schema: sqlite3.Connection) -> None:
    """tracks.playlist_id → playlists(id) needs a unique index on playlists.id to be usable."""
    unique_on_id = [row for row in schema.execute("PRAGMA index_list(playlists)").fetchall() if row[2] == 1]
    columns = [[c[2] for c in schema.execute(f"PRAGMA index_info('{row[1]}')")] for row in unique_on_id]
    assert ["id"] in columns


def test_schema_listening_mode_defaults_to_everyone_and_refuses_others(schema: sqlite3.Connection) -> None:
    """Rooms created before the column existed (or by a writer that omits it) listen on every phone."""
    info = {row[1]: row for row in schema.execute("PRAGMA table_info(groups)").fetchall()}
    assert info["listening_mode"][4] == "'everyone'"
    schema.execute("INSERT INTO groups (id, name, is_public) VALUES ('g' || hex(randomblob(15)), 'defaulted', 0)")
    assert schema.execute("SELECT listening_mode FROM groups WHERE name = 'defaulted'").fetchone() == ("everyone",)
    with pytest.raises(sqlite3.IntegrityError):
        schema.execute("INSERT INTO groups (id, name, is_public, listening_mode) VALUES ('x', 'bad', 0, 'loud')")
    schema.rollback()
