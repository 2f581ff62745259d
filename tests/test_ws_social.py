"""The room's social side on the socket: durable chat history, the fixed reactions, the live invite,
the end of the queue."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import OperationalError
from starlette.testclient import TestClient

from rooms_server import protocol
from rooms_server.db import chat as chat_queries
from tests.helpers import Guest, make_group
from tests.ws_client import Phone, add, close_all

SENT_AT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def test_ws_social_chat_history_reaches_a_late_joiner_with_times(room: tuple[TestClient, Guest, Guest, str]) -> None:
    client, ann, bob, gid = room
    a = Phone(client, ann, gid)
    assert a.first["chat"] == []
    sent = []
    for text in ("first", "second"):
        assert a.command({"type": "chat", "text": text})["type"] == "ack"
        sent.append(a.until("chat", text=text))
    assert all(SENT_AT.match(event["sent_at"]) for event in sent)
    b = Phone(client, bob, gid)
    assert b.first["chat"] == [
        {"user_id": ann.id, "name": "Ann", "text": e["text"], "sent_at": e["sent_at"]} for e in sent
    ]
    close_all()


def test_ws_social_a_retried_chat_is_kept_in_the_history_once(room: tuple[TestClient, Guest, Guest, str]) -> None:
    """The retry after a lost answer gets the first ack back and writes no second history line."""
    client, ann, bob, gid = room
    a = Phone(client, ann, gid)
    frame = {"type": "chat", "text": "only once", "id": "retried-chat-0001"}
    first = a.command(frame)
    assert a.command(frame) == {**first, "duplicate": True}
    b = Phone(client, bob, gid)
    assert [line["text"] for line in b.first["chat"]] == ["only once"]
    close_all()


def _store_chat(client: TestClient, group_id: str, user: Guest, texts: list[str]) -> None:
    start = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)

    async def store() -> None:
        async with client.app_state["db"].write() as session:
            for n, text in enumerate(texts):
                at = start + timedelta(seconds=n)
                await chat_queries.add_message(session, group_id, user.id, user.name, text, at)

    assert client.portal is not None
    client.portal.call(store)


def test_ws_social_chat_history_is_the_last_fifty_oldest_first(room: tuple[TestClient, Guest, Guest, str]) -> None:
    client, ann, bob, gid = room
    _store_chat(client, gid, ann, [f"m{n}" for n in range(55)])
    b = Phone(client, bob, gid)
    assert [line["text"] for line in b.first["chat"]] == [f"m{n}" for n in range(5, 55)]
    assert b.first["chat"][0]["sent_at"] == "2026-12-02T03:00:05.000Z"
    close_all()


def test_ws_social_housekeeping_keeps_the_last_two_hundred_per_room(
    room: tuple[TestClient, Guest, Guest, str],
) -> None:
    client, ann, bob, gid = room
    other = make_group(client, bob, "Other")["id"]
    _store_chat(client, gid, ann, [f"a{n}" for n in range(205)])
    _store_chat(client, other, bob, [f"b{n}" for n in range(3)])

    async def purge() -> tuple[int, list[str], int]:
        async with client.app_state["db"].write() as session:
            deleted = await chat_queries.purge_beyond(session, chat_queries.KEPT)
            kept = [m.text for m in await chat_queries.recent(session, gid, limit=1000)]
            others = len(await chat_queries.recent(session, other, limit=1000))
        return deleted, kept, others

    assert client.portal is not None
    deleted, kept, others = client.portal.call(purge)
    assert deleted == 5 and kept == [f"a{n}" for n in range(5, 205)] and others == 3


def test_ws_social_chat_is_delivered_when_the_database_refuses_it(
    room: tuple[TestClient, Guest, Guest, str], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    client, ann, bob, gid = room
    a, b = Phone(client, ann, gid), Phone(client, bob, gid)

    async def locked(*args: object) -> None:
        raise OperationalError("INSERT", {}, Exception("database is locked"))

    monkeypatch.setattr(chat_queries, "add_message", locked)
    assert a.command({"type": "chat", "text": "still here"})["type"] == "ack"
    assert b.until("chat", text="still here")["name"] == "Ann"
    assert "chat message not kept in the history" in caplog.text
    close_all()


def test_ws_social_reactions_are_a_fixed_set(room: tuple[TestClient, Guest, Guest, str]) -> None:
    client, ann, bob, gid = room
    a, b = Phone(client, ann, gid), Phone(client, bob, gid)
    assert b.first["reactions"] == list(protocol.REACTIONS)
    for emoji in ("💩", "lol", "🔥🔥"):
        refused = a.command({"type": "react", "emoji": emoji})
        assert refused["type"] == "error" and refused["code"] == "invalid_reaction"
    assert a.command({"type": "react", "emoji": "\u2764"})["type"] == "ack"  # the plain heart is ❤️
    reaction = b.until("reaction")
    assert reaction["emoji"] == "❤️" and reaction["name"] == "Ann" and SENT_AT.match(reaction["sent_at"])
    close_all()


def test_ws_social_members_see_the_invite_and_follow_its_rotation(room: tuple[TestClient, Guest, Guest, str]) -> None:
    client, ann, bob, gid = room
    b = Phone(client, bob, gid)
    assert b.first["invite"] is None
    created = client.post(f"/api/groups/{gid}/invite", headers=ann.headers).json()
    assert b.until("invite_changed")["invite"] == created
    rotated = client.post(f"/api/groups/{gid}/invite", headers=ann.headers).json()
    assert b.until("invite_changed")["invite"] == rotated
    late = Phone(client, bob, gid)
    assert late.first["invite"] == rotated
    assert client.delete(f"/api/groups/{gid}/invite", headers=ann.headers).status_code == 204
    assert b.until("invite_changed")["invite"] is None
    close_all()


def test_ws_social_end_of_the_queue_is_announced_and_in_the_snapshot(
    room: tuple[TestClient, Guest, Guest, str],
) -> None:
    client, ann, bob, gid = room
    a = Phone(client, ann, gid)
    only = add(a, "only")
    track_id = client.get(f"/api/groups/{gid}/playlist", headers=ann.headers).json()["tracks"][0]["id"]
    assert only["type"] == "ack" and a.first["queue_ended"] is False
    assert a.command({"type": "skip", "expected_track_id": track_id})["type"] == "ack"
    ended = a.until("index_changed", track_id=None)
    assert ended["cause"] == "queue_end" and ended["queue_ended"] is True
    assert ended["playback"]["is_playing"] is False  # one frame: the stopped playback comes with it
    assert Phone(client, bob, gid).first["queue_ended"] is True
    close_all()
