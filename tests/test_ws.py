"""The room socket through the app (TestClient), on both engines; every frame is checked against
docs/asyncapi.yaml by tests/ws_client.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from rooms_server.app import create_app
from rooms_server.config import Settings
from tests.helpers import Guest, clock, make_group
from tests.ws_client import Phone, add, close_all


def test_ws_first_frame_is_a_snapshot(room: tuple[TestClient, Guest, Guest, str]) -> None:
    client, ann, _, gid = room
    phone = Phone(client, ann, gid)
    snap = phone.first
    assert snap["type"] == "snapshot" and snap["recovered"] is False
    assert snap["group"]["id"] == gid and snap["you"] == {"user_id": ann.id, "name": "Ann", "role": "admin"}
    assert snap["playlist"]["tracks"] == [] and snap["playlist"]["current_index"] == 0
    assert [m["user_id"] for m in snap["members"]] == [ann.id]
    assert snap["playback"]["is_playing"] is False
    phone.close()


def test_ws_add_reaches_every_member_in_order(room: tuple[TestClient, Guest, Guest, str]) -> None:
    client, ann, bob, gid = room
    a, b = Phone(client, ann, gid), Phone(client, bob, gid)
    a.until("members_changed", joined=bob.id)
    ack = add(b, "first")
    added = b.until("track_added")
    assert ack["seq"] >= added["seq"]
    assert added["track"]["title"] == "first" and added["track"]["added_by_name"] == "Bob"
    assert a.until("track_added")["seq"] == added["seq"]
    playlist = client.get(f"/api/groups/{gid}/playlist", headers=ann.headers).json()
    assert [t["title"] for t in playlist["tracks"]] == ["first"]
    a.close()
    b.close()


def test_ws_member_cannot_skip_but_admin_can(room: tuple[TestClient, Guest, Guest, str]) -> None:
    client, ann, bob, gid = room
    a, b = Phone(client, ann, gid), Phone(client, bob, gid)
    add(a, "one")
    add(a, "two")
    first_id = a.until("track_added")["track"]["id"]
    refused = b.command({"type": "skip", "expected_track_id": first_id})
    assert refused["type"] == "error" and refused["code"] == "forbidden"
    assert a.command({"type": "skip", "expected_track_id": first_id})["type"] == "ack"
    assert b.until("index_changed", index=1)["track_id"] != first_id
    stale = a.command({"type": "skip", "expected_track_id": first_id})
    assert stale["type"] == "error" and stale["code"] == "stale_track"
    assert client.get(f"/api/groups/{gid}/playlist", headers=ann.headers).json()["current_track_index"] == 1
    a.close()
    b.close()


def test_ws_remove_before_current_keeps_the_same_track(room: tuple[TestClient, Guest, Guest, str]) -> None:
    client, ann, _, gid = room
    a = Phone(client, ann, gid)
    for title in ("a", "b", "c"):
        add(a, title)
    tracks = client.get(f"/api/groups/{gid}/playlist", headers=ann.headers).json()["tracks"]
    ids = [t["id"] for t in tracks]
    assert a.command({"type": "jump", "track_id": ids[2]})["type"] == "ack"
    assert a.command({"type": "remove", "track_id": ids[0]})["type"] == "ack"
    playlist = client.get(f"/api/groups/{gid}/playlist", headers=ann.headers).json()
    assert [t["title"] for t in playlist["tracks"]] == ["b", "c"]
    assert playlist["tracks"][playlist["current_track_index"]]["id"] == ids[2]
    a.close()


def test_ws_move_names_track_ids(room: tuple[TestClient, Guest, Guest, str]) -> None:
    client, ann, _, gid = room
    a = Phone(client, ann, gid)
    for title in ("a", "b", "c"):
        add(a, title)
    ids = [t["id"] for t in client.get(f"/api/groups/{gid}/playlist", headers=ann.headers).json()["tracks"]]
    assert a.command({"type": "move", "track_id": ids[2], "after_track_id": None})["type"] == "ack"
    moved = a.until("track_moved")
    assert moved["track_id"] == ids[2]
    titles = [t["title"] for t in client.get(f"/api/groups/{gid}/playlist", headers=ann.headers).json()["tracks"]]
    assert titles == ["c", "a", "b"]
    a.close()


def test_ws_resume_replays_exactly_the_missed_events(room: tuple[TestClient, Guest, Guest, str]) -> None:
    """A phone drops, 20 events happen, it resumes: same state as one that never left."""
    client, ann, bob, gid = room
    a, b = Phone(client, ann, gid), Phone(client, bob, gid)
    add(b, "seed")
    b.until("track_added")
    a.until("track_added")
    resume = {"epoch": b.epoch, "seq": b.seq}
    b.close()
    a.until("members_changed", left=bob.id)
    for n in range(20):
        a.command({"type": "chat", "text": f"message {n}"})
    b2 = Phone(client, bob, gid, resume=resume)
    assert b2.first["type"] == "resumed" and b2.first["seq"] == resume["seq"]
    b2.epoch, b2.seq = resume["epoch"], resume["seq"]
    replay = [b2.receive() for _ in range(a.seq - resume["seq"])]
    assert [e["seq"] for e in replay] == list(range(resume["seq"] + 1, a.seq + 1))
    assert [e["text"] for e in replay if e["type"] == "chat"] == [f"message {n}" for n in range(20)]
    assert b2.seq == a.seq
    a.close()
    b2.close()


def test_ws_resume_from_an_unknown_epoch_gets_a_snapshot(room: tuple[TestClient, Guest, Guest, str]) -> None:
    client, ann, _, gid = room
    phone = Phone(client, ann, gid, resume={"epoch": "gone", "seq": 3})
    assert phone.first["type"] == "snapshot" and phone.first["recovered"] is False
    phone.close()


def test_ws_bad_frames_get_errors_and_the_socket_lives(room: tuple[TestClient, Guest, Guest, str]) -> None:
    client, ann, _, gid = room
    phone = Phone(client, ann, gid)
    for raw in ("{", "[]", '{"type": "nope"}', '{"type": "skip"}', '{"type": "chat", "text": 5}'):
        phone.ws.send_text(raw)
        assert phone.receive()["type"] == "error"
    phone.send({"type": "ping", "client_time": 1.5, "id": "p"})
    pong = phone.until("pong")
    assert pong["client_time"] == 1.5 and pong["id"] == "p"
    phone.close()


def close_code(phone: Phone) -> int:
    """Read on until the server closes the socket; the close code."""
    with pytest.raises(WebSocketDisconnect) as closed:
        for _ in range(10):
            phone.receive()
    return closed.value.code


def _refused(client: TestClient, gid: str, hello: dict[str, object], origin: str = "http://testserver") -> int:
    with client.websocket_connect(f"/ws/groups/{gid}", headers={"origin": origin}) as ws:
        ws.send_json(hello)
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
    return closed.value.code


def test_ws_refusals_have_documented_close_codes(room: tuple[TestClient, Guest, Guest, str]) -> None:
    client, ann, _, gid = room
    eve = Guest(client, "Eve")
    secret = make_group(client, ann, "Secret", is_public=False)["id"]
    assert _refused(client, gid, {"type": "hello", "token": ann.token}, origin="https://evil.example") == 4508
    assert _refused(client, gid, {"type": "hello"}) == 4501
    assert _refused(client, gid, {"type": "hello", "token": "forged"}) == 4501
    assert _refused(client, gid, {"type": "chat", "text": "hi"}) == 4501
    assert _refused(client, secret, {"type": "hello", "token": eve.token}) == 4504
    assert _refused(client, "0" * 32, {"type": "hello", "token": eve.token}) == 4504
    assert _refused(client, gid, {"type": "hello", "token": eve.token}) == 4503  # public, not joined


def test_ws_role_change_applies_at_once(room: tuple[TestClient, Guest, Guest, str]) -> None:
    client, ann, bob, gid = room
    a, b = Phone(client, ann, gid), Phone(client, bob, gid)
    add(a, "one")
    track_id = a.until("track_added")["track"]["id"]
    client.patch(f"/api/groups/{gid}/members/{bob.id}", json={"role": "admin"}, headers=ann.headers)
    assert b.until("role_changed", user_id=bob.id)["role"] == "admin"
    assert b.command({"type": "play"})["type"] == "ack"
    client.patch(f"/api/groups/{gid}/members/{bob.id}", json={"role": "member"}, headers=ann.headers)
    b.until("role_changed", user_id=bob.id, role="member")
    assert b.command({"type": "skip", "expected_track_id": track_id})["code"] == "forbidden"
    a.close()
    b.close()


def test_ws_removed_member_is_closed(room: tuple[TestClient, Guest, Guest, str]) -> None:
    client, ann, bob, gid = room
    b = Phone(client, bob, gid)
    assert client.delete(f"/api/groups/{gid}/members/{bob.id}", headers=ann.headers).status_code == 204
    b.until("member_removed", user_id=bob.id)
    assert close_code(b) == 4503


def test_ws_group_deleted_closes_sockets(room: tuple[TestClient, Guest, Guest, str]) -> None:
    client, ann, bob, gid = room
    b = Phone(client, bob, gid)
    assert client.delete(f"/api/groups/{gid}", headers=ann.headers).status_code == 204
    b.until("group_deleted")
    assert close_code(b) == 4505


def test_ws_http_add_and_rename_reach_the_room(room: tuple[TestClient, Guest, Guest, str]) -> None:
    client, ann, bob, gid = room
    b = Phone(client, bob, gid)
    body = {
        "service": "spotify",
        "url": "https://open.spotify.com/track/4uLU6hMCjMI75M1A2tKUQC",
        "title": "Song",
        "duration": 200,
    }
    assert client.post(f"/api/groups/{gid}/tracks", json=body, headers=ann.headers).status_code == 201
    assert b.until("track_added")["track"]["title"] == "Song"
    client.patch(f"/api/groups/{gid}", json={"name": "Renamed"}, headers=ann.headers)
    assert b.until("group_changed")["name"] == "Renamed"
    b.close()


def test_ws_vote_skip_by_the_one_friend_of_a_present_host_passes(room: tuple[TestClient, Guest, Guest, str]) -> None:
    """Hosts skip directly, so they are not counted among the voters: one friend is a majority."""
    client, ann, bob, gid = room
    a, b = Phone(client, ann, gid), Phone(client, bob, gid)
    add(a, "one")
    add(a, "two")
    first = client.get(f"/api/groups/{gid}/playlist", headers=ann.headers).json()["tracks"][0]["id"]
    assert b.first["votes"]["needed"] == 1
    assert b.command({"type": "vote_skip", "track_id": first})["type"] == "ack"
    changed = a.until("index_changed", index=1)
    assert changed["cause"] == "vote" and b.until("index_changed", index=1)["cause"] == "vote"
    a.close()
    b.close()


def test_ws_vote_skip_needs_a_majority_of_the_present_guests(room: tuple[TestClient, Guest, Guest, str]) -> None:
    client, ann, bob, gid = room
    cy = Guest(client, "Cy")
    assert client.post(f"/api/groups/{gid}/join", headers=cy.headers).status_code == 200
    a, b, c = Phone(client, ann, gid), Phone(client, bob, gid), Phone(client, cy, gid)
    add(a, "one")
    add(a, "two")
    first = client.get(f"/api/groups/{gid}/playlist", headers=ann.headers).json()["tracks"][0]["id"]
    assert c.first["votes"]["needed"] == 2  # two guests present: one vote is exactly half
    assert b.command({"type": "vote_skip", "track_id": first})["type"] == "ack"
    assert c.until("votes_changed")["votes"] == 1
    assert a.command({"type": "vote_skip", "track_id": first})["type"] == "ack"  # a host's vote counts too
    assert c.until("index_changed", index=1)["cause"] == "vote"
    close_all()


def test_ws_playback_is_a_clock_and_advances_at_track_end(room: tuple[TestClient, Guest, Guest, str]) -> None:
    client, ann, _, gid = room
    a = Phone(client, ann, gid)
    add(a, "short", duration=1)
    add(a, "next")
    assert a.command({"type": "play"})["type"] == "ack"
    playback = a.until("playback_changed")["playback"]
    assert playback["is_playing"] is True and playback["position_ms"] == 0
    changed = a.until("index_changed")  # the server advanced by itself after ~1 s
    assert changed["index"] == 1
    assert client.get(f"/api/groups/{gid}/playlist", headers=ann.headers).json()["current_track_index"] == 1
    a.close()


def test_ws_commands_are_rate_limited(room: tuple[TestClient, Guest, Guest, str]) -> None:
    """COMMAND_BURST (40) commands at once, then COMMANDS_PER_SECOND (20) per second of the injected
    clock: however slow the machine, the same commands are refused."""
    client, ann, _, gid = room
    a = Phone(client, ann, gid)
    replies = [a.command({"type": "react", "emoji": "🎉"}) for _ in range(45)]
    assert [r["type"] for r in replies] == ["ack"] * 40 + ["error"] * 5
    assert {r["code"] for r in replies[40:]} == {"rate_limited"}
    clock(client).advance(0.5)  # 10 tokens back
    replies = [a.command({"type": "react", "emoji": "🎉"}) for _ in range(11)]
    assert [r["type"] for r in replies] == ["ack"] * 10 + ["error"]
    a.close()


def test_ws_leaving_closes_the_members_sockets(room: tuple[TestClient, Guest, Guest, str]) -> None:
    client, _, bob, gid = room
    b = Phone(client, bob, gid)
    assert client.post(f"/api/groups/{gid}/leave", headers=bob.headers).status_code == 204
    b.until("member_removed", user_id=bob.id)
    assert close_code(b) == 4503


def test_ws_revoked_token_closes_the_socket(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, migrated_sqlite_template: Path
) -> None:
    import shutil

    import rooms_server.session_check

    monkeypatch.setattr(rooms_server.session_check, "SESSION_CHECK_S", 0.2)
    shutil.copy(migrated_sqlite_template, tmp_path / "rooms.db")
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/rooms.db",
        secret_key="k",
        allowed_origins=("http://testserver",),
        migrate_on_start=False,
    )
    with TestClient(create_app(settings)) as client:
        ann = Guest(client, "Ann")
        gid = make_group(client, ann, "Room")["id"]
        phone = Phone(client, ann, gid)
        try:
            assert client.delete("/api/session", headers=ann.headers).status_code == 204
            assert close_code(phone) == 4501
        finally:
            close_all()
