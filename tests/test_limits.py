"""The limits of the room socket (and of the playlist over HTTP) through the app (TestClient, memory
engine), with small configured Limits. Every frame sent or received is checked against
docs/asyncapi.yaml; the deliberately bad frames are checked to be invalid by the document too."""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from jsonschema import ValidationError
from starlette.testclient import TestClient, WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

import rooms_server.web.ws
from rooms_server.app import create_app
from rooms_server.config import Limits, Settings
from rooms_server.web.ws_loop import MAX_BAD_FRAMES, MAX_RATE_STRIKES
from tests.asyncapi_frames import validate_client_frame, validate_server_frame
from tests.helpers import Guest, error_code, make_group
from tests.ws_client import Phone, add, close_all

ORIGIN = "http://testserver"
SMALL = Limits(
    max_frame_bytes=1024,
    commands_per_second=1000.0,
    command_burst=1000,
    chat_max_chars=20,
    max_queue_tracks=3,
    max_connections_per_user=2,
    send_queue_frames=256,
)
TRACK = {"service": "youtube", "url": "https://youtu.be/dQw4w9WgXcQ", "title": "Song", "duration": 200}

OpenApp = Callable[..., TestClient]


@pytest.fixture
def open_app(tmp_path: Path, migrated_sqlite_template: Path) -> Iterator[OpenApp]:
    """Start the app with SMALL limits, changed by keyword (``open_app(command_burst=3)``)."""
    databases = itertools.count()
    with contextlib.ExitStack() as stack:

        def start(**changes: Any) -> TestClient:
            db = tmp_path / f"rooms-{next(databases)}.db"
            shutil.copy(migrated_sqlite_template, db)
            settings = Settings(
                database_url=f"sqlite+aiosqlite:///{db}",
                secret_key="k",
                public_base_url=ORIGIN,
                allowed_origins=(ORIGIN,),
                migrate_on_start=False,
                playback_lead_ms=0,
                limits=dataclasses.replace(SMALL, **changes),
            )
            return stack.enter_context(TestClient(create_app(settings)))

        try:
            yield start
        finally:
            close_all()


def room(client: TestClient) -> tuple[Guest, str]:
    ann = Guest(client, "Ann")
    return ann, make_group(client, ann, "Room")["id"]


def close_code(phone: Phone) -> int:
    """Read on until the server closes the socket; its close code."""
    with pytest.raises(WebSocketDisconnect) as closed:
        for _ in range(10):
            phone.receive()
    return closed.value.code


def send_bad(phone: Phone, raw: str) -> None:
    """Send a frame the document itself refuses."""
    with pytest.raises((ValidationError, orjson.JSONDecodeError)):
        validate_client_frame(raw)
    phone.ws.send_text(raw)


@contextlib.contextmanager
def raw_socket(
    client: TestClient, group_id: str, headers: dict[str, str] | None = None
) -> Iterator[WebSocketTestSession]:
    with client.websocket_connect(f"/ws/groups/{group_id}", headers={"origin": ORIGIN, **(headers or {})}) as ws:
        yield ws


def send(ws: WebSocketTestSession, frame: dict[str, Any]) -> None:
    validate_client_frame(frame)
    ws.send_text(orjson.dumps(frame).decode())


def refused(client: TestClient, group_id: str, hello: dict[str, Any], headers: dict[str, str] | None = None) -> int:
    with raw_socket(client, group_id, headers) as ws:
        send(ws, hello)
        with pytest.raises(WebSocketDisconnect) as closed:
            for _ in range(10):
                validate_server_frame(ws.receive_text())
    return closed.value.code


def playlist_titles(client: TestClient, guest: Guest, group_id: str) -> list[str]:
    playlist = client.get(f"/api/groups/{group_id}/playlist", headers=guest.headers).json()
    return [t["title"] for t in playlist["tracks"]]


def add_frame(title: str) -> dict[str, Any]:
    return {"type": "add", "id": "big", **TRACK, "title": title}


def encoded(frame: dict[str, Any]) -> bytes:
    return orjson.dumps(frame)


def test_limits_frame_larger_than_max_frame_bytes_is_refused_and_the_socket_lives(open_app: OpenApp) -> None:
    client = open_app()
    ann, gid = room(client)
    phone = Phone(client, ann, gid)
    # A title of "é" (2 UTF-8 bytes each) fills the frame to exactly the limit; one more byte is too much,
    # although the frame has far fewer characters than the limit: the limit is on UTF-8 bytes.
    room_left = SMALL.max_frame_bytes - len(encoded(add_frame("")))
    exact = add_frame("é" * (room_left // 2) + "x" * (room_left % 2))
    over = add_frame(exact["title"] + "x")
    assert len(encoded(exact)) == SMALL.max_frame_bytes == len(encoded(over)) - 1
    assert len(encoded(over).decode()) < SMALL.max_frame_bytes
    validate_client_frame(over)  # a valid frame, only too large for this server
    phone.ws.send_text(encoded(over).decode())
    refusal = phone.receive()
    assert refusal["type"] == "error" and refusal["code"] == "frame_too_large"
    assert playlist_titles(client, ann, gid) == []
    phone.send({"type": "ping", "client_time": 7.0, "id": "alive"})
    assert phone.until("pong")["id"] == "alive"
    assert phone.command(exact)["type"] == "ack"
    assert playlist_titles(client, ann, gid) == [exact["title"]]


def test_limits_chat_longer_than_chat_max_chars_is_refused(open_app: OpenApp) -> None:
    client = open_app()
    ann, gid = room(client)
    phone = Phone(client, ann, gid)
    refusal = phone.command({"type": "chat", "text": "x" * (SMALL.chat_max_chars + 1), "id": "long"})
    assert refusal["type"] == "error" and refusal["code"] == "bad_frame" and refusal["id"] == "long"
    # Characters, not bytes: 20 emoji (80 UTF-8 bytes) are within the limit.
    assert phone.command({"type": "chat", "text": "🎉" * SMALL.chat_max_chars})["type"] == "ack"
    said = phone.until("chat")
    assert said["text"] == "🎉" * SMALL.chat_max_chars and said["user_id"] == ann.id
    assert [e["type"] for e in phone.events].count("chat") == 1


def test_limits_commands_beyond_the_bucket_are_rate_limited_then_closed_4029(open_app: OpenApp) -> None:
    burst = 3
    client = open_app(commands_per_second=0.001, command_burst=burst)  # no refill within the test
    ann, gid = room(client)
    phone = Phone(client, ann, gid)
    replies = [phone.command({"type": "react", "emoji": "🎉", "id": f"r{n}"}) for n in range(burst)]
    assert [r["type"] for r in replies] == ["ack"] * burst
    for n in range(MAX_RATE_STRIKES):
        refusal = phone.command({"type": "react", "emoji": "🎉", "id": f"x{n}"})
        assert (refusal["type"], refusal["code"], refusal["id"]) == ("error", "rate_limited", f"x{n}")
        if n == 0:  # a ping is not a command: answered even while commands are refused
            phone.send({"type": "ping", "client_time": 1.0, "id": "p"})
            assert phone.until("pong")["id"] == "p"
    phone.send({"type": "react", "emoji": "🎉", "id": "one-too-many"})
    assert close_code(phone) == 4029
    assert [e["type"] for e in phone.events].count("reaction") == burst


def test_limits_repeated_bad_frames_close_4510(open_app: OpenApp) -> None:
    client = open_app()
    ann, gid = room(client)
    phone = Phone(client, ann, gid)
    bad = itertools.cycle(
        [
            ('{"type": "nope", "id": "b"}', "unknown_type"),
            ('{"type": "skip", "id": "b"}', "bad_frame"),
            ('{"type": "chat", "text": 5, "id": "b"}', "bad_frame"),
            ('{"type": "seek", "position_ms": 1.5, "id": "b"}', "bad_frame"),
            ("[]", "bad_frame"),
            ("{", "bad_json"),
        ]
    )
    for raw, code in itertools.islice(bad, MAX_BAD_FRAMES):
        send_bad(phone, raw)
        assert phone.receive()["code"] == code
    phone.send({"type": "ping", "client_time": 2.0, "id": "still-here"})
    assert phone.until("pong")["id"] == "still-here"
    send_bad(phone, '{"type": "skip", "id": "b"}')
    assert close_code(phone) == 4510


def test_limits_full_playlist_refuses_add_with_queue_full(open_app: OpenApp) -> None:
    client = open_app()
    ann, gid = room(client)
    phone = Phone(client, ann, gid)
    for title in ("a", "b", "c"):
        add(phone, title)
    refusal = phone.command({"type": "add", **TRACK, "id": "fourth"})
    assert (refusal["type"], refusal["code"], refusal["id"]) == ("error", "queue_full", "fourth")
    assert playlist_titles(client, ann, gid) == ["a", "b", "c"]
    # A removal makes room again.
    first = phone.until("track_added")["track"]["id"]
    assert phone.command({"type": "remove", "track_id": first})["type"] == "ack"
    add(phone, "d")
    assert playlist_titles(client, ann, gid) == ["b", "c", "d"]


def test_limits_http_add_to_a_full_playlist_is_409_queue_full(open_app: OpenApp) -> None:
    client = open_app()
    ann, gid = room(client)
    phone = Phone(client, ann, gid)
    for title in ("a", "b", "c"):
        response = client.post(f"/api/groups/{gid}/tracks", json={**TRACK, "title": title}, headers=ann.headers)
        assert response.status_code == 201, response.text
        assert phone.until("track_added")["track"]["title"] == title
    response = client.post(f"/api/groups/{gid}/tracks", json=TRACK, headers=ann.headers)
    assert response.status_code == 409 and error_code(response) == "queue_full"
    assert playlist_titles(client, ann, gid) == ["a", "b", "c"]
    # The room saw nothing of the refused add: the next event is the next change.
    assert phone.command({"type": "chat", "text": "next"})["type"] == "ack"
    kinds = [e["type"] for e in phone.events]
    assert kinds.count("track_added") == 3 and kinds[-1] == "chat"


def test_limits_connections_per_user_beyond_the_limit_close_4509(open_app: OpenApp) -> None:
    client = open_app()
    ann, gid = room(client)
    bob = Guest(client, "Bob")
    assert client.post(f"/api/groups/{gid}/join", headers=bob.headers).status_code == 200
    watcher = Phone(client, bob, gid)
    phones = [Phone(client, ann, gid) for _ in range(SMALL.max_connections_per_user)]
    assert refused(client, gid, {"type": "hello", "token": ann.token}) == 4509
    assert Phone(client, bob, gid).first["type"] == "snapshot"  # the limit is per user
    # The limit counts open sockets: once Ann's are gone (the room saw her leave), she may connect again.
    for phone in phones:
        phone.close()
    watcher.until("members_changed", left=ann.id)
    again = [Phone(client, ann, gid) for _ in range(SMALL.max_connections_per_user)]
    assert all(p.first["type"] == "snapshot" for p in again)


def test_limits_bearer_header_authenticates_a_hello_without_token(open_app: OpenApp) -> None:
    client = open_app()
    ann, gid = room(client)
    with raw_socket(client, gid, {"authorization": f"Bearer {ann.token}"}) as ws:
        send(ws, {"type": "hello"})
        snapshot = validate_server_frame(ws.receive_text())
        assert snapshot["type"] == "snapshot" and snapshot["you"]["user_id"] == ann.id
        send(ws, {"type": "chat", "text": "hi", "id": "c"})
        replies = [validate_server_frame(ws.receive_text()) for _ in range(2)]
        assert {r["type"] for r in replies} == {"chat", "ack"}
    assert refused(client, gid, {"type": "hello"}, {"authorization": "Bearer forged"}) == 4501
    assert refused(client, gid, {"type": "hello"}, {"authorization": f"Basic {ann.token}"}) == 4501


def test_limits_hello_not_sent_in_time_closes_4012(open_app: OpenApp, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rooms_server.web.ws, "HELLO_TIMEOUT_S", 0.2)
    client = open_app()
    ann, gid = room(client)
    for headers in ({}, {"authorization": f"Bearer {ann.token}"}):  # the header does not replace the hello
        with raw_socket(client, gid, headers) as ws, pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
        assert closed.value.code == 4012


def test_limits_strikes_are_forgotten_after_their_window() -> None:
    """An occasional bad frame never adds up to a close: strikes count per window (injected clock)."""
    from rooms_server.web.ws_loop import Strikes

    now = [100.0]
    strikes = Strikes(window_s=60.0, clock=lambda: now[0])
    assert [strikes.add() for _ in range(3)] == [1, 2, 3]
    now[0] += 60.0
    assert strikes.add() == 4  # still inside the window
    now[0] += 0.001
    assert strikes.add() == 1


def test_limits_autoplay_keeps_a_full_playlist_at_its_limit(open_app: OpenApp) -> None:
    client = open_app()
    ann, gid = room(client)
    phone = Phone(client, ann, gid)
    for title in ("a", "b", "c"):
        add(phone, title)
    assert phone.command({"type": "queue_settings", "autoplay": True})["type"] == "ack"
    assert phone.command({"type": "play"})["type"] == "ack"
    for _ in range(3):  # run out of tracks: autoplay re-adds one, dropping the oldest played
        current = client.get(f"/api/groups/{gid}/playlist", headers=ann.headers).json()
        track_id = current["tracks"][current["current_track_index"]]["id"]
        assert phone.command({"type": "skip", "expected_track_id": track_id})["type"] == "ack"
    assert phone.until("track_removed")
    titles = playlist_titles(client, ann, gid)
    assert len(titles) == 3 and titles[:2] == ["b", "c"]
