"""The playback history with two real server processes on one Redis, on SQLite and on PostgreSQL.

Both processes hold sockets of the room, so both arm its end-of-track timer and either may run a
host's command: the history must still get exactly one row per play (a skip, a natural end, a
vote), autoplay must fill a room that ran out exactly once, and what was played must survive the
processes' restart (it is in SQL, not in Redis).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.servers import Cluster, RoomClient, StartServers, assert_ack, shared_room

pytestmark = [pytest.mark.redis]

SETTLE_S = 1.5  # past the later of the two processes' track-end timers (a 1 s track)
# A track starts when its command commits, not a lead later: a skip right after a start skips a
# play that began (one that is skipped before its scheduled start never played and has no row).
NO_LEAD = {"PLAYBACK_LEAD_MS": "0", "PLAYBACK_LEAD_MAX_MS": "0"}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'rooms.db'}"
    url: str = request.getfixturevalue("fresh_postgres_url")
    return url


async def history(cluster: Cluster, index: int, guest: Any, group_id: str) -> list[tuple[str, str]]:
    body = await cluster.api(index).acall("GET", f"/api/groups/{group_id}/history?limit=100", token=guest.token)
    return [(entry["title"], entry["outcome"]) for entry in body["entries"]]


async def flushed(clients: list[RoomClient], text: str) -> None:
    """A chat marker seen by every client: whatever either process sent before it has arrived."""
    assert_ack(await clients[0].command({"type": "chat", "text": text}))
    await asyncio.gather(*(client.until("chat", text=text) for client in clients))


async def test_history_cluster_one_row_per_play_and_it_survives_a_restart(
    start_servers: StartServers, database_url: str
) -> None:
    cluster = await start_servers(2, database_url=database_url, **NO_LEAD)
    gid, (ann, bob) = await shared_room(cluster, "Ann", "Bob")
    for title, duration in (("skipped", 180), ("short", 1), ("voted", 180), ("last", 180)):
        await cluster.api(0).add_track(ann, gid, title, duration)
    tracks = [t["id"] for t in (await cluster.api(0).playlist(ann, gid))["tracks"]]
    a, b = await cluster.connect(0, ann, gid), await cluster.connect(1, bob, gid)
    await a.until("members_changed", joined=bob.id)

    assert_ack(await a.command({"type": "play"}))
    await b.until("playback_changed", track_id=tracks[0])
    assert_ack(await a.command({"type": "skip", "expected_track_id": tracks[0]}))
    await b.until("index_changed", track_id=tracks[1])
    await b.until("index_changed", track_id=tracks[2], wait_s=10)  # "short" ended by itself
    assert_ack(await b.command({"type": "vote_skip", "track_id": tracks[2]}))
    await a.until("index_changed", track_id=tracks[3])
    await asyncio.sleep(SETTLE_S)
    await flushed([a, b], "after the plays")

    played = [("voted", "voted"), ("short", "ended"), ("skipped", "skipped")]
    assert await history(cluster, 0, ann, gid) == played
    assert await history(cluster, 1, bob, gid) == played

    await cluster.close_clients()
    await asyncio.to_thread(cluster.stop)
    restarted = await start_servers(1, database_url=database_url)
    assert await history(restarted, 0, bob, gid) == played


async def test_history_cluster_autoplay_fills_a_room_that_ran_out_exactly_once(
    start_servers: StartServers, database_url: str
) -> None:
    cluster = await start_servers(2, database_url=database_url, **NO_LEAD)
    gid, (ann, bob) = await shared_room(cluster, "Ann", "Bob")
    for title, duration in (("long", 180), ("short", 1)):
        await cluster.api(0).add_track(ann, gid, title, duration)
    long_id, short_id = [t["id"] for t in (await cluster.api(0).playlist(ann, gid))["tracks"]]
    a, b = await cluster.connect(0, ann, gid), await cluster.connect(1, bob, gid)
    await a.until("members_changed", joined=bob.id)
    # Autoplay avoids the last track played ("short"), so it picks "long": 180 s, nothing ends again.
    assert_ack(await a.command({"type": "queue_settings", "autoplay": True, "autoplay_avoid_last": 1}))

    assert_ack(await a.command({"type": "play"}))
    assert_ack(await a.command({"type": "skip", "expected_track_id": long_id}))
    await b.until("index_changed", track_id=short_id)
    added = await b.until("track_added", cause="autoplay", wait_s=10)  # "short" ended by itself
    await asyncio.sleep(SETTLE_S)
    await flushed([a, b], "after the run-out")

    for client in (a, b):
        autoplayed = client.of_type("track_added", cause="autoplay")
        assert [frame.text for frame in autoplayed] == [added.text]
    assert added["track"]["title"] == "long" and added["track"]["id"] not in (long_id, short_id)
    assert await history(cluster, 1, bob, gid) == [("short", "ended"), ("long", "skipped")]
    playlist = await cluster.api(1).playlist(bob, gid)
    assert [t["title"] for t in playlist["tracks"]] == ["long", "short", "long"]
    assert playlist["current_track_index"] == 2
