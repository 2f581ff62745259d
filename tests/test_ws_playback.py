"""Scheduling, listening modes and speakers through the room socket, on both engines.

Every frame is checked against docs/asyncapi.yaml by tests/ws_client.py.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from rooms_server import protocol, rooms
from rooms_server.app import create_app
from rooms_server.commands import Commands
from rooms_server.config import Settings
from rooms_server.db import identity, queries
from rooms_server.db.session import Database
from rooms_server.engine import create_engine
from rooms_server.live import Inputs, LiveGroups
from rooms_server.room_state import Actor
from rooms_server.rooms import Change, LiveState
from tests.helpers import Guest, HandClock, make_group
from tests.source_helpers import app_settings, source_settings, sqlite_copy
from tests.ws_client import Phone, add

Room = tuple[TestClient, Guest, Guest, str]
DEVICE = "laptop-on-the-speakers-01"


def playback_of(phone: Phone) -> tuple[dict[str, Any], int]:
    event = phone.until("playback_changed")
    return event["playback"], event["ts"]


def test_ws_lead_follows_the_rtt_phones_report(room: Room) -> None:
    client, ann, _, gid = room
    phone = Phone(client, ann, gid)
    add(phone, "one")
    phone.send({"type": "ping", "client_time": 1, "rtt_ms": 400})
    phone.until("pong")
    assert phone.command({"type": "play"})["type"] == "ack"
    playback, ts = playback_of(phone)
    # clamp(1.5 × 400 + 200, PLAYBACK_LEAD_MS = 0, 3000) = 800, measured from before the commit.
    assert 780 <= playback["server_time_ms"] - ts <= 800
    phone.send({"type": "ping", "client_time": 2, "rtt_ms": 20_000})  # a phone on a terrible link
    phone.until("pong")
    assert phone.command({"type": "pause"})["type"] == "ack"
    playback, ts = playback_of(phone)
    assert 2_980 <= playback["server_time_ms"] - ts <= 3_000  # never beyond PLAYBACK_LEAD_MAX_MS
    phone.close()


def test_ws_pause_and_seek_are_scheduled_and_carry_the_clock_until_then(room: Room) -> None:
    client, ann, bob, gid = room
    a, b = Phone(client, ann, gid), Phone(client, bob, gid)
    add(a, "one")
    a.send({"type": "ping", "client_time": 1, "rtt_ms": 200})
    a.until("pong")
    a.command({"type": "play"})
    started, _ = playback_of(b)
    assert started["is_playing"] and "prior" not in started
    a.command({"type": "pause"})
    paused, ts = playback_of(b)
    # Every phone keeps playing on the started clock until the instant, then stops at one position.
    assert paused["is_playing"] is False and paused["server_time_ms"] > ts
    assert paused["prior"]["is_playing"] is True
    assert paused["position_ms"] == max(0, paused["server_time_ms"] - started["server_time_ms"])
    a.command({"type": "play"})
    resumed, _ = playback_of(b)
    a.command({"type": "seek", "position_ms": 60_000})
    seek, ts = playback_of(b)
    # Never before the resume it follows; until the jump the resumed clock runs on.
    assert seek["is_playing"] and seek["position_ms"] == 60_000
    assert seek["server_time_ms"] >= resumed["server_time_ms"] and seek["server_time_ms"] > ts
    a.close()
    b.close()


def test_ws_listening_mode_is_for_hosts_durable_and_announced(room: Room) -> None:
    client, ann, bob, gid = room
    a, b = Phone(client, ann, gid), Phone(client, bob, gid)
    assert a.first["group"]["listening_mode"] == "everyone"
    refused = b.command({"type": "listening_mode", "mode": "speaker"})
    assert (refused["type"], refused["code"]) == ("error", "forbidden")
    assert a.command({"type": "listening_mode", "mode": "speaker"})["type"] == "ack"
    assert b.until("listening_mode_changed")["listening_mode"] == "speaker"
    assert client.get(f"/api/groups/{gid}", headers=bob.headers).json()["listening_mode"] == "speaker"
    assert Phone(client, bob, gid).first["group"]["listening_mode"] == "speaker"
    # The HTTP side changes it too, and the sockets hear of it.
    changed = client.patch(f"/api/groups/{gid}", json={"listening_mode": "everyone"}, headers=ann.headers)
    assert changed.status_code == 200 and changed.json()["listening_mode"] == "everyone"
    assert b.until("listening_mode_changed")["listening_mode"] == "everyone"
    bad = client.patch(f"/api/groups/{gid}", json={"listening_mode": "loud"}, headers=ann.headers)
    assert bad.status_code == 422
    a.close()
    b.close()


def test_ws_speakers_are_the_hosts_own_devices_by_key(room: Room) -> None:
    client, ann, bob, gid = room
    laptop = Phone(client, ann, gid, device_id=DEVICE)
    key = hashlib.sha256(f"{gid}:{DEVICE}".encode()).hexdigest()[:32]
    assert laptop.first["device_key"] == key and laptop.first["speakers"] == []
    phone = Phone(client, ann, gid)  # an old page: no device id
    assert phone.first["device_key"] is None
    assert phone.command({"type": "mark_speaker"})["code"] == "no_device"
    member = Phone(client, bob, gid, device_id="bobs-phone-000000")
    assert member.command({"type": "mark_speaker"})["code"] == "forbidden"

    assert laptop.command({"type": "mark_speaker"})["type"] == "ack"
    speakers = member.until("speakers_changed")["speakers"]
    assert speakers == [{"device_key": key, "user_id": ann.id, "name": "Ann"}]
    assert DEVICE not in str(member.events)  # the room only ever sees the key
    assert laptop.command({"type": "mark_speaker"})["type"] == "ack"  # twice: no second entry
    assert Phone(client, bob, gid).first["speakers"] == speakers

    assert member.command({"type": "unmark_speaker", "device_key": key})["code"] == "forbidden"
    assert phone.command({"type": "unmark_speaker", "device_key": key})["type"] == "ack"  # any host, any speaker
    assert member.until("speakers_changed")["speakers"] == []
    assert phone.command({"type": "unmark_speaker", "device_key": key})["code"] == "speaker_not_found"
    assert laptop.command({"type": "mark_speaker"})["type"] == "ack"
    # Deleting the group deletes its speakers with it.
    assert client.delete(f"/api/groups/{gid}", headers=ann.headers).status_code == 204


def test_ws_speakers_and_mode_survive_the_loss_of_the_live_state(room: Room) -> None:
    client, ann, _, gid = room
    laptop = Phone(client, ann, gid, device_id=DEVICE)
    laptop.command({"type": "mark_speaker"})
    laptop.command({"type": "listening_mode", "mode": "speaker"})
    key, epoch = laptop.first["device_key"], laptop.first["epoch"]
    laptop.close()
    assert client.portal is not None
    client.portal.call(client.app_state["engine"].state.delete, gid)  # as if Redis lost the room
    again = Phone(client, ann, gid, device_id=DEVICE).first
    assert again["epoch"] != epoch  # rebuilt from SQL
    assert again["group"]["listening_mode"] == "speaker"
    assert again["speakers"] == [{"device_key": key, "user_id": ann.id, "name": "Ann"}]


# -- the live layer with a clock driven by hand ---------------------------------------------------


async def test_live_durable_start_is_stamped_after_the_sql_commit(
    tmp_path: Path, migrated_sqlite_template: Path
) -> None:
    url = sqlite_copy(migrated_sqlite_template, tmp_path)
    settings = Settings(database_url=url, migrate_on_start=False, playback_lead_ms=400)
    db, clock = Database(url), HandClock()
    engine = create_engine("memory://", on_event=lambda *_: None, on_reset=lambda _: None)
    await engine.connect()
    live = LiveGroups(engine, db, settings, clock=clock)
    try:
        async with db.write() as session:
            user = await identity.create_user(session, "Ann")
            group = await queries.create_group(session, "Room", False, user.id)
        commands = Commands(live, group.id, Actor(user.id, user.name, rooms.ADMIN))
        for title in ("one", "two"):
            await commands.execute(
                protocol.Add(service="youtube", url="https://youtu.be/dQw4w9WgXcQ", title=title, duration=9)
            )
        _, state = await live.current(group.id)
        first = state.tracks[0].id
        await live.run(group.id, _play, durable=False)
        before = clock.now_ms()

        async def slow_skip(state: LiveState, session: Inputs) -> Change:
            change = rooms.skip(state, first, now_ms=clock.now_ms(), lead_ms=400)
            clock.advance(0.088)  # the SQL commit of this skip takes 88 ms
            return change

        await live.run(group.id, slow_skip, durable=True, lead_ms=400)
        _, state = await live.current(group.id)
        # Phones still get the whole 400 ms lead: the instant was taken after the commit.
        assert state.playback.server_time_ms == before + 88 + 400
        assert state.current_index == 1
    finally:
        await engine.close()
        await db.close()


async def _play(state: LiveState, _: Inputs) -> Change:
    return rooms.play(state, now_ms=state.playback.server_time_ms, lead_ms=0)


def test_ws_pong_follows_the_server_clock_not_its_wall_clock(tmp_path: Path, migrated_sqlite_template: Path) -> None:
    clock = HandClock()
    settings = app_settings(sqlite_copy(migrated_sqlite_template, tmp_path), source_settings())
    with TestClient(create_app(settings, clock=clock)) as client:
        ann = Guest(client, "Ann")
        phone = Phone(client, ann, make_group(client, ann, "Room")["id"])
        phone.send({"type": "ping", "client_time": 1})
        first = phone.until("pong")["server_time"]
        clock.wall += 0.4  # the host's NTP steps the wall clock
        clock.advance(1.0)
        phone.send({"type": "ping", "client_time": 2})
        second = phone.until("pong")["server_time"]
        assert 1_000 <= second - first <= 1_001  # one second, not 1.4
        phone.close()
