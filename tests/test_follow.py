""" "Play on my Spotify" against the local fake of the Web API player: opt-in, calls at the
scheduled instants with the room's position, and every refusal switching it off for that member
alone. Every frame is checked against docs/asyncapi.yaml by tests/ws_client.py."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from rooms_server import rooms
from rooms_server.app import create_app
from rooms_server.follow import Step, step_for
from tests.fake_services import TRACK_ID, FakeSpotify, error, fake_spotify as fake_spotify
from tests.helpers import Guest, make_group
from tests.source_helpers import app_settings, source_settings, sqlite_copy
from tests.test_rooms import NOW, make_state, make_track
from tests.ws_client import Phone, close_all

LEAD_MS = 300
URI = f"spotify:track:{TRACK_ID}"


class Party:
    def __init__(self, client: TestClient, fake: FakeSpotify) -> None:
        self.client, self.fake = client, fake
        self.ann, self.bob = Guest(client, "Ann"), Guest(client, "Bob")
        self.gid = make_group(client, self.ann, "Roof")["id"]
        assert client.post(f"/api/groups/{self.gid}/join", headers=self.bob.headers).status_code == 200
        self.bob_token = self.connect(self.bob, "Bob's phone")
        self.ann_token = self.connect(self.ann, "Ann's laptop")  # connected, but never opts in
        self.host = Phone(client, self.ann, self.gid)
        self.friend = Phone(client, self.bob, self.gid)

    def connect(self, guest: Guest, device: str) -> str:
        token = self.fake.issue("user")
        self.fake.devices[token] = device
        response = self.client.put("/api/me/services/spotify", json={"access_token": token}, headers=guest.headers)
        assert response.status_code == 200
        return token

    def add_spotify_track(self) -> None:
        url = f"https://open.spotify.com/track/{TRACK_ID}"
        assert self.host.command({"type": "add", "service": "spotify", "url": url})["type"] == "ack"

    def follow(self, on: bool = True) -> dict[str, Any]:
        return self.friend.command({"type": "follow", "following": on})

    def host_does(self, frame: dict[str, Any]) -> dict[str, Any]:
        assert self.host.command(frame)["type"] == "ack"
        return self.host.until("playback_changed")["playback"]

    def next_call(self, path: str, *, after: int = 0, within_s: float = 5.0) -> Any:
        """The first player call to ``path`` among those after the first ``after`` ones, once the
        fake has chosen its answer (so an answer forced next goes to a later call)."""
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            for call in self.fake.player_calls()[after:]:
                if call.path == path and call.answered.wait(max(deadline - time.monotonic(), 0)):
                    return call
            time.sleep(0.01)
        raise AssertionError(f"no call to {path}; calls: {[c.path for c in self.fake.player_calls()]}")


@pytest.fixture
def party(fake_spotify: FakeSpotify, tmp_path: Path, migrated_sqlite_template: Path) -> Iterator[Party]:
    fake_spotify.add_track(name="Blue Monday", duration_ms=448_000)
    settings = app_settings(
        sqlite_copy(migrated_sqlite_template, tmp_path), source_settings(fake_spotify), playback_lead_ms=LEAD_MS
    )
    with TestClient(create_app(settings)) as client:
        try:
            yield Party(client, fake_spotify)
        finally:
            close_all()


def room_position_ms(playback: dict[str, Any], at_s: float) -> float:
    elapsed = at_s * 1000 - playback["server_time_ms"] if playback["is_playing"] else 0
    return playback["position_ms"] + max(elapsed, 0)


def assert_room_position(position_ms: int, playback: dict[str, Any], arrived_s: float) -> None:
    """The position sent is the room's at some moment from the scheduled instant to the call's
    arrival (a busy machine delays the request, never the position it carries): not stale, not early."""
    earliest = room_position_ms(playback, playback["server_time_ms"] / 1000)
    assert earliest - 2 <= position_ms <= room_position_ms(playback, arrived_s) + 2


def test_follow_drives_only_the_opted_in_member_at_the_scheduled_instants(party: Party) -> None:
    party.add_spotify_track()
    assert party.follow()["type"] == "ack"
    assert party.host.until("follow_changed") == {**party.host.events[-1], "user_id": party.bob.id, "following": True}
    start = party.host_does({"type": "play"})
    play = party.next_call("/v1/me/player/play")
    assert play.bearer == party.bob_token and play.body["uris"] == [URI]
    assert play.at * 1000 >= start["server_time_ms"] - 5, "called at the scheduled instant, not before"
    assert_room_position(play.body["position_ms"], start, play.at)

    done = len(party.fake.player_calls())
    seek = party.host_does({"type": "seek", "position_ms": 60_000})
    call = party.next_call("/v1/me/player/seek", after=done)
    assert call.at * 1000 >= seek["server_time_ms"] - 5
    assert_room_position(int(call.query["position_ms"]), seek, call.at)

    done = len(party.fake.player_calls())
    pause = party.host_does({"type": "pause"})
    call = party.next_call("/v1/me/player/pause", after=done)
    assert call.at * 1000 >= pause["server_time_ms"] - 5

    assert all(c.bearer == party.bob_token for c in party.fake.player_calls()), "never without opt-in"
    assert party.follow(False)["type"] == "ack"
    done = len(party.fake.player_calls())
    party.host_does({"type": "play"})
    time.sleep(0.2 + LEAD_MS / 1000)
    assert len(party.fake.player_calls()) == done, "nothing after the opt-out"


def test_follow_needs_a_spotify_connection_with_playback_scopes(party: Party) -> None:
    party.client.delete("/api/me/services/spotify", headers=party.bob.headers)
    refused = party.follow()
    assert (refused["type"], refused["code"]) == ("error", "reconnect_required")
    token = party.connect(party.bob, "Bob's phone")
    party.fake.forced = [(401, {}, {"error": {"status": 401, "message": "Permissions missing"}})] * 2
    party.fake.refresh_tokens.clear()
    refused = party.follow()
    assert (refused["type"], refused["code"]) == ("error", "reconnect_required")
    assert "playback" in refused["message"]
    assert token and party.host.events == [e for e in party.host.events if e["type"] != "follow_changed"]


@pytest.mark.parametrize(
    ("trouble", "code"),
    [("no_device", "spotify_no_device"), ("free", "spotify_premium_required"), ("429", "spotify_rate_limited")],
)
def test_follow_refusal_switches_it_off_and_tells_only_that_member(party: Party, trouble: str, code: str) -> None:
    party.add_spotify_track()
    party.follow()
    party.next_call("/v1/me/player/pause")  # the opt-in's first step: the room is paused
    if trouble == "no_device":
        party.fake.devices.pop(party.bob_token)
    elif trouble == "free":
        party.fake.free_accounts.add(party.bob_token)
    else:
        party.fake.forced = [error(429, "slow down", headers={"Retry-After": "7"})]
    party.host_does({"type": "play"})
    off = party.friend.until("follow_changed", following=False)
    notice = party.friend.until("notice")
    assert notice["code"] == code and "Play on my Spotify is off" in notice["message"]
    host_off = party.host.until("follow_changed", following=False)
    assert host_off["notice"] == off["notice"] and len(off["notice"]) == 16  # an opaque id, not the reason
    # The host's socket never gets the message: the next frame it reads is the answer to its ping.
    party.host.send({"type": "ping", "client_time": 1})
    assert party.host.until("pong") and all(f["type"] != "notice" for f in party.host.backlog)
    snapshot = Phone(party.client, party.ann, party.gid).first
    assert snapshot["followers"] == []


def test_follow_stops_when_the_member_leaves_the_room(party: Party) -> None:
    party.follow()
    party.host.until("follow_changed", following=True)
    party.friend.close()
    left = party.host.until("follow_changed", following=False)
    assert left["user_id"] == party.bob.id and "notice" not in left


def test_step_for_covers_starts_seeks_pauses_and_youtube() -> None:
    spotify = replace(make_track(1), service="spotify", url=f"https://open.spotify.com/track/{TRACK_ID}")
    paused = replace(make_state(), tracks=(spotify, make_track(2)))
    following = replace(paused, followers=frozenset({"u"}))
    joined = step_for(paused, following, "u", now_ms=NOW)
    assert joined is not None and joined.kind == "pause"  # joined a paused room
    playing = rooms.play(following, now_ms=NOW, lead_ms=400).state
    assert step_for(following, playing, "u", now_ms=NOW) == Step("start", NOW + 400, URI, 180_000)
    seeked = rooms.seek(playing, 5_000, now_ms=NOW + 1_000, lead_ms=400).state
    assert step_for(playing, seeked, "u", now_ms=NOW + 1_000) == Step("seek", NOW + 1_400, URI, 180_000)
    assert step_for(seeked, seeked, "u", now_ms=NOW + 1_000) is None  # nothing changed
    stopped = rooms.pause(seeked, now_ms=NOW + 2_000, lead_ms=400).state
    assert step_for(seeked, stopped, "u", now_ms=NOW + 2_000) == Step("pause", NOW + 2_400)
    skipped = rooms.skip(playing, 1, now_ms=NOW + 3_000, lead_ms=400).state
    youtube = step_for(playing, skipped, "u", now_ms=NOW + 3_000)
    assert youtube is not None and youtube.kind == "pause"  # their Spotify cannot play YouTube
