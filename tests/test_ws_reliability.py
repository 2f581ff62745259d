"""The room socket when things go wrong: exactly-once command ids, answers during outages, control
frames while a command waits, revocation and expiry at once, and the protocol's corner cases.

Through the app (TestClient) on both engines where the behaviour is the engine's; faults are
injected in-process here (a failing engine call, a SQLite file locked by another connection).
The same scenarios with real processes and real outages are in tests/test_outages.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import shutil
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy.exc import OperationalError
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

import rooms_server.session_check
import rooms_server.web.ws
from rooms_server.app import create_app
from rooms_server.auth import hash_token
from rooms_server.config import Settings
from tests.helpers import FakeClock, Guest, clock, error_code, make_group
from tests.ws_client import Phone, add, close_all

Room = tuple[TestClient, Guest, Guest, str]


def key() -> str:
    """A command id long enough to be an idempotency key (16+ characters)."""
    return f"k-{uuid.uuid4().hex}"


def playlist_titles(client: TestClient, guest: Guest, gid: str) -> list[str]:
    tracks = client.get(f"/api/groups/{gid}/playlist", headers=guest.headers).json()["tracks"]
    return [t["title"] for t in tracks]


def barrier(phone: Phone) -> list[dict[str, Any]]:
    """Everything the phone receives up to the pong of a fresh ping (answered in order with events)."""
    tag = uuid.uuid4().hex[:8]
    phone.send({"type": "ping", "client_time": 1.0, "id": tag})
    seen = []
    while (frame := phone.receive())["type"] != "pong" or frame.get("id") != tag:
        seen.append(frame)
    return seen


def close_code(phone: Phone) -> int:
    with pytest.raises(WebSocketDisconnect) as closed:
        for _ in range(50):
            phone.receive()
    return closed.value.code


def raw_hello(client: TestClient, gid: str, hello: dict[str, Any]) -> dict[str, Any]:
    with client.websocket_connect(f"/ws/groups/{gid}", headers={"origin": "http://testserver"}) as ws:
        ws.send_text(orjson.dumps(hello).decode())
        first: dict[str, Any] = orjson.loads(ws.receive_text())
        return first


def hold_group_lock(client: TestClient, gid: str) -> Callable[[], None]:
    """Take the group's engine lock inside the app (as another command would) until the returned
    function is called."""
    engine = client.app_state["engine"]
    held, release = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        async with engine.locks.lock(gid):
            held.set()
            await release.wait()

    client.portal.start_task_soon(hold)
    client.portal.call(held.wait)
    return lambda: client.portal.call(release.set)


@pytest.fixture
def make_app(tmp_path: Path, migrated_sqlite_template: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``make_app(**settings)``: an app of this test's own on SQLite and memory://; the periodic
    session check is off (hours), so whatever closes a socket here is the mechanism under test."""
    monkeypatch.setattr(rooms_server.session_check, "SESSION_CHECK_S", 3600.0)
    with contextlib.ExitStack() as stack:

        def start(**changes: Any) -> TestClient:
            db = tmp_path / f"rooms-{uuid.uuid4().hex[:6]}.db"
            shutil.copy(migrated_sqlite_template, db)
            settings = Settings(
                database_url=f"sqlite+aiosqlite:///{db}",
                secret_key="k",
                public_base_url="http://testserver",
                allowed_origins=("http://testserver",),
                migrate_on_start=False,
                playback_lead_ms=0,
            )
            client = TestClient(create_app(dataclasses.replace(settings, **changes), rate_clock=FakeClock()))
            stack.enter_context(client)
            client.db_path = db  # type: ignore[attr-defined]
            return client

        try:
            yield start
        finally:
            close_all()


def shared_room(client: TestClient) -> tuple[Guest, Guest, str]:
    ann, bob = Guest(client, "Ann"), Guest(client, "Bob")
    gid = make_group(client, ann, "Room")["id"]
    assert client.post(f"/api/groups/{gid}/join", headers=bob.headers).status_code == 200
    return ann, bob, gid


# -- exactly-once command ids -------------------------------------------------------------------------


def test_ws_command_id_repeated_add_gets_the_first_ack_and_adds_nothing(room: Room) -> None:
    client, ann, _, gid = room
    a = Phone(client, ann, gid)
    frame = {"type": "add", "service": "youtube", "url": "https://youtu.be/aaaaaaaaaaa", "title": "once"}
    frame |= {"duration": 100, "id": key()}
    first = a.command(frame)
    assert first["type"] == "ack" and "duplicate" not in first
    again = a.command(frame)
    assert again == {"type": "ack", "seq": first["seq"], "id": frame["id"], "duplicate": True}
    assert [f["type"] for f in barrier(a) if f["type"] == "track_added"] == []
    assert playlist_titles(client, ann, gid) == ["once"]
    a.close()


def test_ws_command_id_answers_go_with_a_deleted_group(room: Room) -> None:
    """A remembered answer belongs to its group: deleting the group deletes it (a foreign key)."""
    client, ann, _, gid = room
    a = Phone(client, ann, gid)
    frame = {"type": "add", "service": "youtube", "url": "https://youtu.be/aaaaaaaaaaa", "title": "t", "duration": 9}
    assert a.command(frame | {"id": key()})["type"] == "ack"
    a.close()
    assert client.delete(f"/api/groups/{gid}", headers=ann.headers).status_code == 204
    assert client.get(f"/api/groups/{gid}", headers=ann.headers).status_code == 404


def test_ws_command_id_repeated_on_a_new_socket_changes_nothing(room: Room) -> None:
    """The retry after a lost answer: the phone reconnects and sends the same chat again."""
    client, ann, bob, gid = room
    b = Phone(client, bob, gid)
    a = Phone(client, ann, gid)
    frame = {"type": "chat", "text": "hello once", "id": key()}
    first = a.command(frame)
    a.close()
    a2 = Phone(client, ann, gid, resume={"epoch": a.epoch, "seq": a.seq})
    assert a2.command(frame) == {**first, "duplicate": True}
    assert a2.command({"type": "chat", "text": "next", "id": key()})["type"] == "ack"
    b.until("chat", text="next")
    assert [e["text"] for e in b.events if e["type"] == "chat"] == ["hello once", "next"]
    a2.close()
    b.close()


def test_ws_command_id_repeated_refusal_gets_the_same_error(room: Room) -> None:
    """A refused command is answered too: promoted meanwhile, Bob's retried skip is still refused;
    a new id is a new command."""
    client, ann, bob, gid = room
    a, b = Phone(client, ann, gid), Phone(client, bob, gid)
    add(a, "one")
    add(a, "two")
    track_id = client.get(f"/api/groups/{gid}/playlist", headers=ann.headers).json()["tracks"][0]["id"]
    skip = {"type": "skip", "expected_track_id": track_id, "id": key()}
    refused = b.command(skip)
    assert refused["code"] == "forbidden" and "duplicate" not in refused
    promoted = client.patch(f"/api/groups/{gid}/members/{bob.id}", json={"role": "admin"}, headers=ann.headers)
    assert promoted.status_code == 200
    b.until("role_changed", user_id=bob.id)
    assert b.command(skip) == {**refused, "duplicate": True}
    assert b.command({**skip, "id": key()})["type"] == "ack"
    a.close()
    b.close()


def test_ws_command_id_shorter_than_16_characters_is_only_echoed(room: Room) -> None:
    """A page that numbers its commands c1, c2… from each load must never see a new command taken for an old one."""
    client, ann, _, gid = room
    a = Phone(client, ann, gid)
    assert a.command({"type": "chat", "text": "one", "id": "c1"})["type"] == "ack"
    assert "duplicate" not in a.command({"type": "chat", "text": "two", "id": "c1"})
    a.until("chat", text="two")
    assert [e["text"] for e in a.events if e["type"] == "chat"] == ["one", "two"]
    a.close()


# -- failures become answers ----------------------------------------------------------------------------


def test_ws_engine_failure_answers_each_pipelined_command_unavailable(
    room: Room, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine fails every commit: each of three commands sent back to back gets its own
    ``unavailable`` with a retry hint, the socket stays open, and a retry of the same id (not
    recorded: nothing happened) applies once the engine is back."""
    client, ann, _, gid = room
    a = Phone(client, ann, gid)
    engine = client.app_state["engine"].state
    real_commit = engine.commit

    async def failing_commit(*args: Any, **kwargs: Any) -> bool:
        raise RedisConnectionError("Connection refused")

    monkeypatch.setattr(engine, "commit", failing_commit)
    frames = [{"type": "chat", "text": f"m{n}", "id": key()} for n in range(3)]
    for frame in frames:
        a.send(frame)
    replies = [a.receive() for _ in frames]
    assert [(r["type"], r["code"], r["id"]) for r in replies] == [("error", "unavailable", f["id"]) for f in frames]
    assert all(r["retry_after_ms"] > 0 for r in replies)
    monkeypatch.setattr(engine, "commit", real_commit)
    expected_seq = a.seq + 1
    assert a.command(frames[0]) == {"type": "ack", "seq": expected_seq, "id": frames[0]["id"]}
    a.until("chat", text="m0")
    assert [e["text"] for e in a.events if e["type"] == "chat"] == ["m0"]
    a.close()


def test_ws_socket_that_cannot_start_is_closed_4013(room: Room, monkeypatch: pytest.MonkeyPatch) -> None:
    """The database fails the handshake, then the engine fails the first frame: 4013 both times
    (reconnect and resume), never an abort; the next attempt works."""
    client, ann, _, gid = room

    async def locked(*args: Any) -> None:
        raise OperationalError("SELECT", {}, sqlite3.OperationalError("database is locked"))

    with monkeypatch.context() as patch:
        patch.setattr(rooms_server.web.ws.identity, "room_access", locked)
        with client.websocket_connect(f"/ws/groups/{gid}", headers={"origin": "http://testserver"}) as ws:
            ws.send_text(orjson.dumps({"type": "hello", "token": ann.token}).decode())
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_text()
        assert closed.value.code == 4013
    engine = client.app_state["engine"].state

    async def engine_down(*args: Any) -> None:
        raise RedisConnectionError("Connection refused")

    with monkeypatch.context() as patch:
        patch.setattr(engine, "get", engine_down)
        with client.websocket_connect(f"/ws/groups/{gid}", headers={"origin": "http://testserver"}) as ws:
            ws.send_text(orjson.dumps({"type": "hello", "token": ann.token}).decode())
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_text()
        assert closed.value.code == 4013
    phone = Phone(client, ann, gid)
    assert phone.first["type"] == "snapshot"
    phone.close()


def test_ws_and_http_sqlite_locked_past_the_busy_timeout(make_app: Callable[..., TestClient]) -> None:
    """Another connection holds SQLite's write lock: a durable command gets ``unavailable`` and a
    live-only one still works; HTTP writes get 503 ``unavailable`` with Retry-After after the
    (configured, short) busy timeout, not 15 s; reads go on (WAL). Released, everything works."""
    client = make_app(sqlite_busy_timeout_ms=200)
    ann, _, gid = shared_room(client)
    a = Phone(client, ann, gid)
    holder = sqlite3.connect(client.db_path, isolation_level=None)  # type: ignore[attr-defined]
    holder.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        refused = a.command(
            {"type": "add", "service": "youtube", "url": "https://youtu.be/bbbbbbbbbbb", "title": "x", "duration": 60}
        )
        assert (refused["type"], refused["code"]) == ("error", "unavailable"), refused
        assert a.command({"type": "chat", "text": "still here"})["type"] == "ack"
        response = client.post("/api/groups", json={"name": "New"}, headers=ann.headers)
        assert response.status_code == 503 and error_code(response) == "unavailable"
        assert response.headers["retry-after"] == "1"
        assert time.monotonic() - started < 10  # bounded by the busy timeout (0.2 s), with slack
        assert client.get(f"/api/groups/{gid}", headers=ann.headers).status_code == 200
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    add(a, "after")
    assert playlist_titles(client, ann, gid) == ["after"]
    a.close()


# -- control frames while a command waits ---------------------------------------------------------------


def test_ws_ping_is_answered_while_a_command_waits_for_the_lock(room: Room) -> None:
    client, ann, _, gid = room
    a = Phone(client, ann, gid)
    release = hold_group_lock(client, gid)
    command = {"type": "chat", "text": "behind the lock", "id": key()}
    a.send(command)
    a.send({"type": "ping", "client_time": 5.0, "id": "p"})
    pong = a.receive()  # before the command's answer: the command still waits for the lock
    assert (pong["type"], pong["id"]) == ("pong", "p")
    release()
    frames = [a.receive(), a.receive()]
    assert sorted(f["type"] for f in frames) == ["ack", "chat"]
    a.close()


def test_ws_rate_limit_is_charged_when_commands_arrive_not_when_they_run(room: Room) -> None:
    """60 commands arrive at 16 per second of the (injected) clock while the group is locked, then
    run all at once: none is rate limited, because the bucket counted them on arrival."""
    client, ann, _, gid = room
    a = Phone(client, ann, gid)
    fake = clock(client)
    release = hold_group_lock(client, gid)
    ids = [f"r{n}" for n in range(60)]
    for frame_id in ids:
        a.send({"type": "react", "emoji": "🎉", "id": frame_id})
        fake.advance(1 / 16)
    release()
    answers = {}
    while len(answers) < len(ids):
        frame = a.receive()
        if frame["type"] in ("ack", "error"):
            answers[frame["id"]] = frame["type"]
    assert set(answers.values()) == {"ack"}
    a.close()


# -- revocation and expiry ----------------------------------------------------------------------------


def test_ws_logout_ends_the_tokens_sockets_at_once(make_app: Callable[..., TestClient]) -> None:
    """The periodic session check is off (an hour): the logout itself closes both of Ann's sockets
    with 4501, and Bob's stays open."""
    client = make_app()
    ann, bob, gid = shared_room(client)
    a1, a2, b = Phone(client, ann, gid), Phone(client, ann, gid), Phone(client, bob, gid)
    assert client.delete("/api/session", headers=ann.headers).status_code == 204
    assert close_code(a1) == 4501 and close_code(a2) == 4501
    assert b.command({"type": "chat", "text": "still here"})["type"] == "ack"
    b.close()


def test_ws_token_expiry_ends_its_socket_at_that_moment(make_app: Callable[..., TestClient]) -> None:
    client = make_app()
    ann, _, gid = shared_room(client)
    expires = (datetime.now(UTC) + timedelta(seconds=1)).replace(tzinfo=None)
    with contextlib.closing(sqlite3.connect(client.db_path)) as db:  # type: ignore[attr-defined]
        db.execute("UPDATE auth_sessions SET expires_at = ? WHERE token_hash = ?", (expires, hash_token(ann.token)))
        db.commit()
    a = Phone(client, ann, gid)
    assert close_code(a) == 4501  # within about a second, long before any periodic check


# -- protocol corners ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "resume",
    [
        {"epoch": "e", "seq": -1},
        {"epoch": "", "seq": 3},
        {"epoch": 5, "seq": 3},
        {"epoch": "e", "seq": "3"},
        {"epoch": "e"},
        {"epoch": "e", "seq": 1, "extra": True},
        "e:3",
        None,
        [],
    ],
)
def test_ws_malformed_resume_point_gets_a_snapshot(room: Room, resume: Any) -> None:
    client, ann, _, gid = room
    first = raw_hello(client, gid, {"type": "hello", "token": ann.token, "resume": resume})
    assert first["type"] == "snapshot" and first["recovered"] is False


def test_ws_binary_frames_are_refused_and_never_executed(room: Room) -> None:
    client, ann, _, gid = room
    a = Phone(client, ann, gid)
    a.ws.send_bytes(orjson.dumps({"type": "chat", "text": "binary", "id": "b1"}))
    refusal = a.receive()
    assert (refusal["type"], refusal["code"]) == ("error", "binary_frame")
    assert [f for f in barrier(a) if f["type"] == "chat"] == []
    assert a.command({"type": "chat", "text": "text"})["type"] == "ack"
    a.close()


def test_ws_binary_hello_is_refused(room: Room) -> None:
    client, ann, _, gid = room
    with client.websocket_connect(f"/ws/groups/{gid}", headers={"origin": "http://testserver"}) as ws:
        ws.send_bytes(orjson.dumps({"type": "hello", "token": ann.token}))
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
    assert closed.value.code == 4501


def test_ws_chat_text_is_nfc_and_free_of_control_characters(room: Room) -> None:
    client, ann, _, gid = room
    a = Phone(client, ann, gid)
    assert a.command({"type": "chat", "text": " Cafe\u0301\u0007 au\nlait\t "})["type"] == "ack"
    assert a.until("chat")["text"] == "Café aulait"
    blank = a.command({"type": "chat", "text": "\u0001\u0002\n"})
    assert (blank["type"], blank["code"]) == ("error", "bad_frame")
    a.close()
