"""A socket's commands sent back to back: pipelined into group commits, answered in order, on both engines.

The socket's worker starts a command once the one before has its place in the group's queue, so
commands sent without waiting commit in batches (how many per batch depends on timing; what is
checked here does not): every command is answered once, in the order sent, with increasing seqs,
and every phone sees every event once, in order, without a gap (tests/ws_client.py checks seqs).
"""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from tests.helpers import Guest
from tests.ws_client import Phone, add

Room = tuple[TestClient, Guest, Guest, str]
COUNT = 40


def add_frame(title: str, frame_id: str) -> dict[str, Any]:
    url = f"https://youtu.be/{title:0>11}"[:40]
    return {"type": "add", "id": frame_id, "service": "youtube", "url": url, "title": title, "duration": 60}


def answers(phone: Phone, count: int) -> list[dict[str, Any]]:
    replies: list[dict[str, Any]] = []
    while len(replies) < count:
        frame = phone.receive()
        if frame["type"] in ("ack", "error"):
            replies.append(frame)
    return replies


def test_ws_pipeline_commands_sent_at_once_are_acked_in_order_and_seen_once(room: Room) -> None:
    client, ann, bob, gid = room
    host, guest = Phone(client, ann, gid), Phone(client, bob, gid)
    for i in range(COUNT):
        host.send(add_frame(f"t{i}", f"c{i}"))

    replies = answers(host, COUNT)

    assert [r["id"] for r in replies] == [f"c{i}" for i in range(COUNT)]
    assert all(r["type"] == "ack" for r in replies), replies
    seqs = [r["seq"] for r in replies]
    assert seqs == sorted(seqs) and len(set(seqs)) == COUNT
    while guest.seq < seqs[-1]:
        guest.receive()  # asserts each seq is the one after the last: no gap, no duplicate
    added = [e["track"]["title"] for e in guest.events if e["type"] == "track_added"]
    assert added == [f"t{i}" for i in range(COUNT)]
    assert [e["track"]["title"] for e in host.events if e["type"] == "track_added"] == added
    again = Phone(client, bob, gid)  # what a phone joining now gets: SQL and the live state agree
    assert [t["title"] for t in again.first["playlist"]["tracks"]] == added


def test_ws_pipeline_a_refusal_in_the_middle_is_answered_in_its_place(room: Room) -> None:
    client, ann, _bob, gid = room
    host = Phone(client, ann, gid)
    add(host, "first")
    frames = [add_frame("a", "c0"), {"type": "remove", "id": "c1", "track_id": 999_999}, add_frame("b", "c2")]
    for frame in frames:
        host.send(frame)

    replies = answers(host, 3)

    assert [r["id"] for r in replies] == ["c0", "c1", "c2"]
    assert [r["type"] for r in replies] == ["ack", "error", "ack"]
    again = Phone(client, ann, gid)
    assert [t["title"] for t in again.first["playlist"]["tracks"]] == ["first", "a", "b"]


def test_ws_pipeline_a_repeated_id_is_answered_as_a_duplicate(room: Room) -> None:
    client, ann, _bob, gid = room
    host = Phone(client, ann, gid)
    frame_id = "0123456789abcdef-pipelined"
    for frame in (add_frame("a", frame_id), add_frame("b", "c1"), add_frame("a", frame_id)):
        host.send(frame)

    first, second, third = answers(host, 3)

    assert first["type"] == second["type"] == third["type"] == "ack"
    assert third.get("duplicate") is True and third["seq"] == first["seq"]
    again = Phone(client, ann, gid)
    assert [t["title"] for t in again.first["playlist"]["tracks"]] == ["a", "b"]
