"""A token that expires while its socket is open closes the socket (4501) within the session check
period, which is itself bounded: at most 60 s (the issue's bound) between two checks."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

import rooms_server.session_check
from rooms_server.app import create_app
from rooms_server.config import Settings
from tests.helpers import Guest, make_group
from tests.ws_client import Phone, close_all


def test_session_expiry_check_period_is_at_most_60_s() -> None:
    assert rooms_server.session_check.SESSION_CHECK_S <= 60
    assert Settings().presence_ttl_s / 3 <= 60


def test_session_expiry_expired_token_closes_a_live_socket_4501(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, migrated_sqlite_template: Path
) -> None:
    monkeypatch.setattr(rooms_server.session_check, "SESSION_CHECK_S", 0.2)
    db = tmp_path / "rooms.db"
    shutil.copy(migrated_sqlite_template, db)
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{db}",
        secret_key="k",
        allowed_origins=("http://testserver",),
        migrate_on_start=False,
    )
    with TestClient(create_app(settings)) as client:
        ann, bob = Guest(client, "Ann"), Guest(client, "Bob")
        gid = make_group(client, ann, "Room")["id"]
        client.post(f"/api/groups/{gid}/join", headers=bob.headers)
        phone, other = Phone(client, ann, gid), Phone(client, bob, gid)
        try:
            with contextlib.closing(sqlite3.connect(db)) as conn, conn:
                changed = conn.execute(
                    "UPDATE auth_sessions SET expires_at = '2000-01-01 00:00:00.000000' WHERE user_id = ?",
                    (ann.id,),
                ).rowcount
            assert changed == 1
            with pytest.raises(WebSocketDisconnect) as closed:
                for _ in range(20):
                    phone.receive()
            assert closed.value.code == 4501
            assert client.get("/api/me", headers=ann.headers).status_code == 401
            assert other.command({"type": "chat", "text": "still here"})["type"] == "ack"  # Bob's token is fine
        finally:
            close_all()
