"""The queue's settings, shuffle, repeat, autoplay, limits and history through the room socket, on both engines.

Every frame is checked against docs/asyncapi.yaml by tests/ws_client.py. The room's clock is the
app's ServerClock; the track-end timer is not waited for: tests skip, or drive time by seeking.
"""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from tests.helpers import Guest
from tests.ws_client import Phone, add

Room = tuple[TestClient, Guest, Guest, str]


def settings_of(phone: Phone, **changes: Any) -> dict[str, Any]:
    reply = phone.command({"type": "queue_settings", **changes})
    assert reply["type"] == "ack", reply
    queue: dict[str, Any] = phone.until("queue_settings_changed")["queue"]
    return queue


def refusal(phone: Phone, frame: dict[str, Any]) -> str:
    reply = phone.command(frame)
    assert reply["type"] == "error", reply
    assert reply["message"]
    code: str = reply["code"]
    return code


def add_frame(title: str, duration: int = 180) -> dict[str, Any]:
    url = f"https://youtu.be/{title:0>11}"[:40]
    return {"type": "add", "service": "youtube", "url": url, "title": title, "duration": duration}


def history(client: TestClient, guest: Guest, group_id: str, **params: Any) -> dict[str, Any]:
    response = client.get(f"/api/groups/{group_id}/history", headers=guest.headers, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_ws_queue_settings_are_announced_kept_and_in_the_snapshot(room: Room) -> None:
    client, ann, bob, gid = room
    a, b = Phone(client, ann, gid), Phone(client, bob, gid)
    assert a.first["queue"] == {
        "queue_mode": "in_order",
        "repeat": "off",
        "autoplay": False,
        "autoplay_avoid_last": 10,
        "who_may_add": "everyone",
        "max_queued_per_member": 10,
        "max_track_s": 1200,
        "replay_block_min": 60,
    }
    queue = settings_of(a, repeat="all", queue_mode="fair_turns", max_track_s=600)
    assert b.until("queue_settings_changed")["queue"] == queue
    assert (queue["repeat"], queue["queue_mode"], queue["max_track_s"], queue["autoplay"]) == (
        "all",
        "fair_turns",
        600,
        False,
    )
    assert refusal(b, {"type": "queue_settings", "repeat": "off"}) == "forbidden"
    assert refusal(b, {"type": "shuffle"}) == "forbidden"
    late = Phone(client, bob, gid)
    assert late.first["queue"] == queue


def test_ws_queue_settings_survive_a_rebuild_from_sql(room: Room) -> None:
    client, ann, _, gid = room
    a = Phone(client, ann, gid)
    queue = settings_of(a, who_may_add="hosts", autoplay=True, replay_block_min=5)
    a.close()
    engine = client.app_state["engine"]
    client.portal.call(engine.state.delete, gid)  # as if the engine lost the room
    again = Phone(client, ann, gid)
    assert again.first["queue"] == queue


def test_ws_fair_turns_round_robin_between_adders(room: Room) -> None:
    client, ann, bob, gid = room
    a, b = Phone(client, ann, gid), Phone(client, bob, gid)
    settings_of(a, queue_mode="fair_turns")
    for title in ("now", "a1", "a2", "a3"):
        add(a, title)
    add(b, "b1")
    add(b, "b2")
    placed = {e["track"]["title"]: e["index"] for e in b.events if e["type"] == "track_added"}
    assert (placed["b1"], placed["b2"]) == (2, 4)
    titles = [t["title"] for t in Phone(client, ann, gid).first["playlist"]["tracks"]]
    assert titles == ["now", "a1", "b1", "a2", "b2", "a3"]


def test_ws_curated_room_refuses_guests_adds_on_socket_and_http(room: Room) -> None:
    client, ann, bob, gid = room
    a, b = Phone(client, ann, gid), Phone(client, bob, gid)
    settings_of(a, who_may_add="hosts")
    assert refusal(b, add_frame("guestsong")) == "hosts_only"
    body = {"service": "youtube", "url": "https://youtu.be/aaaaaaaaaaa", "title": "x", "duration": 100}
    response = client.post(f"/api/groups/{gid}/tracks", headers=bob.headers, json=body)
    assert response.status_code == 403 and response.json()["error"]["code"] == "hosts_only"
    add(a, "hostsong")  # hosts add, and guests may still vote and chat
    assert b.command({"type": "chat", "text": "nice"})["type"] == "ack"
    track_id = b.until("track_added")["track"]["id"]
    assert b.command({"type": "vote_skip", "track_id": track_id})["type"] == "ack"


def test_ws_member_limits_refuse_with_stable_codes_and_spare_hosts(room: Room) -> None:
    client, ann, bob, gid = room
    a, b = Phone(client, ann, gid), Phone(client, bob, gid)
    settings_of(a, max_queued_per_member=1, max_track_s=300)
    add(a, "now")
    add(b, "b1")
    assert refusal(b, add_frame("b2")) == "member_queue_limit"
    add(a, "a1")
    add(a, "a2")  # hosts are exempt
    settings_of(a, max_queued_per_member=0)
    assert refusal(b, add_frame("long", duration=301)) == "track_too_long"
    add(a, "long", duration=301)
    add(b, "short", duration=300)


def test_ws_recently_played_tracks_cannot_be_added_again_by_members(room: Room) -> None:
    client, ann, bob, gid = room
    a, b = Phone(client, ann, gid), Phone(client, bob, gid)
    add(a, "hit")
    add(a, "next")
    first_id = first_track_id(a)
    assert a.command({"type": "play"})["type"] == "ack"
    a.until("playback_changed")
    assert a.command({"type": "skip", "expected_track_id": first_id})["type"] == "ack"
    assert refusal(b, add_frame("hit")) == "recently_played"
    add(a, "hit")  # a host may
    settings_of(a, replay_block_min=0)
    add(b, "hit")


def first_track_id(phone: Phone) -> int:
    """The id of the room's first track, from the track_added events this phone saw."""
    for event in phone.events:
        if event["type"] == "track_added" and event["index"] == 0:
            track_id: int = event["track"]["id"]
            return track_id
    raise AssertionError("no first track")


def test_ws_shuffle_reorders_the_upcoming_tracks_in_one_event_and_unshuffle_restores(room: Room) -> None:
    client, ann, bob, gid = room
    a, b = Phone(client, ann, gid), Phone(client, bob, gid)
    for n in range(6):
        add(a, f"t{n}")
    ids = [e["track"]["id"] for e in a.events if e["type"] == "track_added"]
    reply = a.command({"type": "shuffle"})
    assert reply["type"] == "ack"
    shuffled = b.until("queue_reordered")
    assert shuffled["seq"] == reply["seq"]  # one event for the whole reorder
    assert [e["type"] for e in b.events][-1] == "queue_reordered"
    assert shuffled["cause"] == "shuffle" and shuffled["current_index"] == 0
    assert shuffled["track_ids"][0] == ids[0] and sorted(shuffled["track_ids"]) == ids
    assert shuffled["track_ids"] != ids
    assert a.command({"type": "unshuffle"})["type"] == "ack"
    assert b.until("queue_reordered", cause="unshuffle")["track_ids"] == ids
    snapshot_ids = [t["id"] for t in Phone(client, bob, gid).first["playlist"]["tracks"]]
    assert snapshot_ids == ids


def test_ws_repeat_all_wraps_a_skip_from_the_last_track(room: Room) -> None:
    client, ann, _, gid = room
    a = Phone(client, ann, gid)
    add(a, "one")
    add(a, "two")
    ids = [e["track"]["id"] for e in a.events if e["type"] == "track_added"]
    settings_of(a, repeat="all")
    assert a.command({"type": "jump", "track_id": ids[1]})["type"] == "ack"
    assert a.command({"type": "skip", "expected_track_id": ids[1]})["type"] == "ack"
    changed = a.until("index_changed", track_id=ids[0])
    assert changed["queue_ended"] is False and changed["cause"] == "host"


def test_ws_autoplay_replays_from_the_history_when_the_queue_runs_out(room: Room) -> None:
    client, ann, bob, gid = room
    a, b = Phone(client, ann, gid), Phone(client, bob, gid)
    add(a, "only")
    (only,) = [e["track"] for e in a.events if e["type"] == "track_added"]
    assert a.command({"type": "play"})["type"] == "ack"
    a.until("playback_changed")
    assert a.command({"type": "skip", "expected_track_id": only["id"]})["type"] == "ack"
    ended = b.until("index_changed", cause="queue_end")
    assert ended["queue_ended"] is True  # autoplay off: the room asks for a song
    settings_of(a, autoplay=True)  # turned on with nothing current: autoplay starts at once
    again = b.until("track_added", cause="autoplay")
    assert (again["track"]["url"], again["track"]["added_by"]) == (only["url"], ann.id)
    assert b.until("index_changed", cause="autoplay")["track_id"] == again["track"]["id"]
    # From now on a room that runs out keeps playing, within the same command.
    assert a.command({"type": "play"})["type"] == "ack"
    a.until("playback_changed", track_id=again["track"]["id"])
    assert a.command({"type": "skip", "expected_track_id": again["track"]["id"]})["type"] == "ack"
    third = b.until("track_added", cause="autoplay")
    changed = b.until("index_changed", cause="autoplay")  # the new track's playback comes with it
    assert changed["playback"]["is_playing"] is True and changed["track_id"] == third["track"]["id"]


def test_ws_history_has_one_entry_per_play_newest_first_with_its_outcome(room: Room) -> None:
    client, ann, bob, gid = room
    a, b = Phone(client, ann, gid), Phone(client, bob, gid)
    for title in ("first", "second", "third"):
        add(a, title)
    ids = [e["track"]["id"] for e in a.events if e["type"] == "track_added"]
    assert history(client, bob, gid) == {"entries": [], "next_before": None}
    assert a.command({"type": "skip", "expected_track_id": ids[0]})["type"] == "ack"  # never started: no entry
    assert a.command({"type": "play"})["type"] == "ack"
    a.until("playback_changed", track_id=ids[1])
    assert a.command({"type": "seek", "position_ms": 30_000})["type"] == "ack"
    assert b.command({"type": "vote_skip", "track_id": ids[1]})["type"] == "ack"  # Bob is the only voter
    a.until("index_changed", track_id=ids[2])
    assert a.command({"type": "remove", "track_id": ids[2]})["type"] == "ack"
    entries = history(client, bob, gid)["entries"]
    assert [(e["title"], e["outcome"], e["track_id"]) for e in entries] == [
        ("third", "removed", None),
        ("second", "voted", ids[1]),
    ]
    assert entries[1]["played_ms"] >= 30_000 and entries[1]["added_by_name"] == "Ann"
    assert entries[1]["started_at"].endswith("Z") and entries[1]["started_at"][-5] == "."  # milliseconds, always
    assert entries[1]["started_at"] <= entries[1]["ended_at"] and entries[0]["ended_at"] >= entries[1]["ended_at"]
    first_page = history(client, bob, gid, limit=1)
    assert [e["title"] for e in first_page["entries"]] == ["third"]
    rest = history(client, bob, gid, limit=1, before=first_page["next_before"])
    assert [e["title"] for e in rest["entries"]] == ["second"] and rest["next_before"] is None


def test_http_history_is_for_members_of_a_private_group_and_goes_with_it(room: Room) -> None:
    client, ann, bob, gid = room
    stranger = Guest(client, "Cy")
    assert client.patch(f"/api/groups/{gid}", headers=ann.headers, json={"is_public": False}).status_code == 200
    assert client.get(f"/api/groups/{gid}/history", headers=stranger.headers).status_code == 404
    assert client.get(f"/api/groups/{gid}/history", headers=bob.headers).status_code == 200
    bad = client.get(f"/api/groups/{gid}/history", headers=bob.headers, params={"limit": 0})
    assert bad.status_code == 422
    a = Phone(client, ann, gid)
    add(a, "one")
    add(a, "two")
    ids = [e["track"]["id"] for e in a.events if e["type"] == "track_added"]
    assert a.command({"type": "play"})["type"] == "ack"
    a.until("playback_changed")
    assert a.command({"type": "skip", "expected_track_id": ids[0]})["type"] == "ack"
    assert len(history(client, ann, gid)["entries"]) == 1
    a.close()
    assert client.delete(f"/api/groups/{gid}", headers=ann.headers).status_code == 204
    assert client.get(f"/api/groups/{gid}/history", headers=ann.headers).status_code == 404
