"""Several real server processes on one PostgreSQL database and one Redis (tests/servers.py).

Each test starts its own processes (``python -m rooms_server``) on a fresh database and a Redis
prefix of its own, and talks to them over real sockets from this process; every frame sent or
received is validated against docs/asyncapi.yaml and every client checks that its events arrive
without gap or duplicate.
"""

from __future__ import annotations

import asyncio
import signal
import time
from typing import Any

import pytest
import redis.asyncio as aioredis

from tests.servers import Frame, RoomClient, StartServers, add_frame, assert_ack, shared_room
from tests.services import REDIS_URL

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def member_ids(snapshot: Frame) -> set[str]:
    return {member["user_id"] for member in snapshot["members"]}


async def all_see(clients: list[RoomClient], kind: str, **match: Any) -> list[Frame]:
    return list(await asyncio.gather(*(client.until(kind, **match) for client in clients)))


# -- one history, every process --------------------------------------------------------------------


async def test_multiprocess_events_are_identical_on_both_processes(start_servers: StartServers) -> None:
    """Commands on A reach B and vice versa; interleaved writes from both processes (sockets and
    HTTP) give both clients the same (epoch, seq) sequence, byte for byte."""
    cluster = await start_servers(2)
    gid, (ann, bob) = await shared_room(cluster, "Ann", "Bob")
    a = await cluster.connect(0, ann, gid)
    b = await cluster.connect(1, bob, gid)
    await a.until("members_changed", joined=bob.id)
    start_seq = b.first["seq"]  # b's events start right after its snapshot

    ack = assert_ack(await a.command(add_frame("from-a")))  # a command on A ...
    added = await b.until("track_added")  # ... appears on B
    assert added["track"]["title"] == "from-a" and added["track"]["added_by"] == ann.id
    assert start_seq < added["seq"] <= ack["seq"]
    ack = assert_ack(await b.command({"type": "chat", "text": "hello from B"}))
    chat = await a.until("chat", text="hello from B")
    assert chat["seq"] == ack["seq"] and chat["user_id"] == bob.id

    async def writes_on_a() -> list[Frame]:
        replies = []
        for n in range(8):
            replies.append(await a.command(add_frame(f"a-{n}")))
            replies.append(await a.command({"type": "react", "emoji": "🎉"}))
        return replies

    async def writes_on_b() -> list[Frame]:
        return [await b.command({"type": "chat", "text": f"b-{n}"}) for n in range(12)]

    async def http_on_b() -> None:
        for n in range(3):
            await cluster.api(1).add_track(bob, gid, f"http-b-{n}")

    from_a, from_b, _ = await asyncio.gather(writes_on_a(), writes_on_b(), http_on_b())
    for reply in [*from_a, *from_b]:
        assert_ack(reply)
    done = assert_ack(await a.command({"type": "chat", "text": "done"}))
    await all_see([a, b], "chat", text="done")

    seen_a = [(e["epoch"], e["seq"], e.text) for e in a.events if e["seq"] > start_seq]
    seen_b = [(e["epoch"], e["seq"], e.text) for e in b.events]
    assert seen_b == seen_a
    assert [seq for _, seq, _ in seen_b] == list(range(start_seq + 1, done["seq"] + 1))
    assert len(seen_b) >= 1 + 1 + 16 + 12 + 3 + 1
    playlist = await cluster.api(1).playlist(bob, gid)
    titles = [t["track"]["title"] for t in b.of_type("track_added")]
    assert [t["title"] for t in playlist["tracks"]] == titles


async def test_multiprocess_resume_on_the_other_process_replays_exactly(start_servers: StartServers) -> None:
    """A phone drops from B and resumes on A: ``resumed``, then exactly the missed events (its own
    return included), the same bytes as a client that stayed received."""
    cluster = await start_servers(2)
    gid, (ann, bob) = await shared_room(cluster, "Ann", "Bob")
    a = await cluster.connect(0, ann, gid)
    b = await cluster.connect(1, bob, gid)
    await a.until("members_changed", joined=bob.id)
    assert_ack(await b.command(add_frame("seed")))
    await all_see([a, b], "track_added")
    resume = b.resume_point()
    await b.close()
    await a.until("members_changed", left=bob.id)
    for n in range(5):
        assert_ack(await a.command({"type": "chat", "text": f"missed {n}"}))
        assert_ack(await a.command(add_frame(f"missed-{n}")))

    b2 = await cluster.connect(0, bob, gid, resume=resume)
    assert b2.first.type == "resumed" and (b2.first["epoch"], b2.first["seq"]) == (resume["epoch"], resume["seq"])
    back = await a.until("members_changed", joined=bob.id)  # published when b2 attached, so part of the replay
    await b2.wait(lambda f: f.get("seq") == back["seq"])
    missed = [e.text for e in a.events if resume["seq"] < e["seq"] <= back["seq"]]
    assert len(missed) >= 1 + 5 + 5 + 1
    assert [e.text for e in b2.events if e["seq"] <= back["seq"]] == missed


# -- one skip among fifty ----------------------------------------------------------------------------


async def test_multiprocess_concurrent_skips_apply_exactly_once(start_servers: StartServers) -> None:
    """50 admins over 2 processes skip the same track at once: one ack, 49 stale_track errors,
    one index_changed (to 1) seen identically by all, and SQL at index 1."""
    cluster = await start_servers(2)
    api = cluster.api(0)
    owner = await api.guest("Host 0")
    gid = await api.create_group(owner, "Party")
    others = list(await asyncio.gather(*(cluster.api(i % 2).guest(f"Host {i}") for i in range(1, 50))))
    await asyncio.gather(*(cluster.api(i % 2).join(guest, gid) for i, guest in enumerate(others, start=1)))
    await asyncio.gather(*(cluster.api(i % 2).set_role(owner, gid, g.id, "admin") for i, g in enumerate(others)))
    await api.add_track(owner, gid, "first")
    await api.add_track(owner, gid, "second")
    first_id, second_id = [t["id"] for t in (await api.playlist(owner, gid))["tracks"]]

    hosts = [owner, *others]
    clients = list(await asyncio.gather(*(cluster.connect(i % 2, guest, gid) for i, guest in enumerate(hosts))))
    assert all(c.first["you"]["role"] == "admin" for c in clients)
    assert all(c.first["playlist"]["current_index"] == 0 for c in clients)

    skip = {"type": "skip", "expected_track_id": first_id}
    replies = await asyncio.gather(*(client.command(skip, wait_s=20) for client in clients))

    acks = [r for r in replies if r.type == "ack"]
    errors = [r for r in replies if r.type == "error"]
    assert len(acks) == 1, [r.text for r in replies if r.type != "error" or r["code"] != "stale_track"]
    assert len(errors) == 49 and {e["code"] for e in errors} == {"stale_track"}
    # A marker after the skip: once every client has it, every index change has been delivered.
    assert_ack(await clients[0].command({"type": "chat", "text": "after the skip"}))
    await all_see(clients, "chat", text="after the skip")
    changes = [client.of_type("index_changed") for client in clients]
    assert all(len(per_client) == 1 for per_client in changes), [len(c) for c in changes]
    assert len({per_client[0].text for per_client in changes}) == 1  # the same bytes on both processes
    changed = changes[0][0]
    assert changed["index"] == 1 and changed["track_id"] == second_id
    assert changed["seq"] <= acks[0]["seq"]
    assert (await cluster.api(1).playlist(owner, gid))["current_track_index"] == 1


# -- the track-end timer -----------------------------------------------------------------------------


async def test_multiprocess_track_end_advances_once(start_servers: StartServers) -> None:
    """Both processes hold sockets, so both arm the end-of-track timer; the group advances once
    (one index_changed, to 1, not before the track's end) and SQL agrees."""
    cluster = await start_servers(2)
    gid, (ann, bob) = await shared_room(cluster, "Ann", "Bob")
    for title, duration in (("short", 1), ("next", 180), ("last", 180)):
        await cluster.api(0).add_track(ann, gid, title, duration)
    tracks = (await cluster.api(0).playlist(ann, gid))["tracks"]
    a = await cluster.connect(0, ann, gid)
    b = await cluster.connect(1, bob, gid)
    await a.until("members_changed", joined=bob.id)

    assert_ack(await a.command({"type": "play"}))
    started = await b.until("playback_changed")
    playback = started["playback"]
    assert playback["is_playing"] is True and started["track_id"] == tracks[0]["id"]
    ends_at = playback["server_time_ms"] + 1000 - playback["position_ms"]

    changed_b = await b.until("index_changed", wait_s=10)
    changed_a = await a.until("index_changed")
    assert changed_a.text == changed_b.text
    assert changed_b["index"] == 1 and changed_b["track_id"] == tracks[1]["id"]
    assert changed_b["ts"] >= ends_at
    # Give the later of the two timers time to run, then a marker to flush what it might have sent.
    await asyncio.sleep(1.0)
    assert_ack(await a.command({"type": "chat", "text": "later"}))
    await all_see([a, b], "chat", text="later")
    assert len(a.of_type("index_changed")) == len(b.of_type("index_changed")) == 1
    assert (await cluster.api(1).playlist(bob, gid))["current_track_index"] == 1


# -- presence ------------------------------------------------------------------------------------------


async def test_multiprocess_presence_crosses_processes_without_ghosts(start_servers: StartServers) -> None:
    """Joins and clean leaves on one process are seen on the other; a new connection's snapshot
    lists exactly the users still present; a second socket of a present user is no new join."""
    cluster = await start_servers(2)
    gid, (ann, bob, carol) = await shared_room(cluster, "Ann", "Bob", "Carol")
    a = await cluster.connect(0, ann, gid)
    b = await cluster.connect(1, bob, gid)
    assert joined_names(await a.until("members_changed", joined=bob.id)) == {bob.id: "Bob"}  # B -> A
    c = await cluster.connect(0, carol, gid)
    assert joined_names(await b.until("members_changed", joined=carol.id)) == {carol.id: "Carol"}  # A -> B
    assert member_ids(c.first) == {ann.id, bob.id, carol.id}

    await b.close()
    await c.until("members_changed", left=bob.id)  # B -> A, after a clean close
    a_on_b = await cluster.connect(1, ann, gid)  # Ann's second socket, on the other process
    assert member_ids(a_on_b.first) == {ann.id, carol.id}

    await c.close()
    await a_on_b.until("members_changed", left=carol.id)  # A -> B
    bob_again = await cluster.connect(0, bob, gid)
    assert member_ids(bob_again.first) == {ann.id, bob.id}
    await a_on_b.until("members_changed", joined=bob.id)
    assert_ack(await bob_again.command({"type": "chat", "text": "marker"}))
    await all_see([a, a_on_b], "chat", text="marker")
    assert not a.of_type("members_changed", joined=ann.id)  # Ann's second socket did not re-join her
    assert not a.of_type("members_changed", left=ann.id)


PRESENCE_TTL_S = 3


def joined_names(frame: Frame) -> dict[str, str]:
    return {member["user_id"]: member["name"] for member in frame["joined"]}


async def test_multiprocess_presence_killed_process_users_leave_within_ttl(start_servers: StartServers) -> None:
    """After ``kill -9`` of process B, its users leave (``left`` on A) within TTL + TTL/3 + 1 s.

    Derivation, with TTL = PRESENCE_TTL_S = 3 s: each process refreshes its sockets' presence
    entries every TTL/3 and sweeps expired entries of its groups every TTL/3 (rooms_server/heartbeat.py).
    B's entries were last refreshed at most TTL/3 before the kill, so they expire at most TTL after
    it; A's next sweep comes at most TTL/3 later and announces them gone. 1 s covers delivery and
    scheduling (the presence window, 200 ms, included). Bound: 3 + 1 + 1 = 5 s (expected: between 2 and 4 s).
    """
    bound_s = PRESENCE_TTL_S + PRESENCE_TTL_S / 3 + 1.0
    cluster = await start_servers(2, PRESENCE_TTL_S=str(PRESENCE_TTL_S))
    gid, (ann, bob, carol) = await shared_room(cluster, "Ann", "Bob", "Carol")
    a = await cluster.connect(0, ann, gid)
    await cluster.connect(1, bob, gid)
    await cluster.connect(1, carol, gid)
    await a.until("members_changed", joined=bob.id)
    await a.until("members_changed", joined=carol.id)
    await asyncio.sleep(PRESENCE_TTL_S + 0.5)  # past one TTL: the entries live on refreshes, not on their first add
    assert not [frame for frame in a.of_type("members_changed") if frame["left"]]

    start = a.seq
    killed_at = time.perf_counter()
    await asyncio.to_thread(cluster.kill, 1, signal.SIGKILL)
    left = await asyncio.gather(*(a.find("members_changed", left=u.id, wait_s=bound_s + 2) for u in (bob, carol)))
    elapsed = max(frame.at for frame in left) - killed_at
    assert elapsed <= bound_s, f"'left' came {elapsed:.2f}s after the kill; bound {bound_s:.2f}s"
    assert all(frame["seq"] > start for frame in left)
    assert member_ids((await cluster.connect(0, carol, gid)).first) == {ann.id, carol.id}  # no ghost of Bob


async def test_multiprocess_presence_snapshot_lists_no_ghost_of_a_dead_process(start_servers: StartServers) -> None:
    """Bob's only socket was on B, and no other process held the group, so nobody swept his entry
    after ``kill -9`` of B: one TTL later, a new connection on A still lists only who is present."""
    cluster = await start_servers(2, PRESENCE_TTL_S=str(PRESENCE_TTL_S))
    gid, (ann, bob) = await shared_room(cluster, "Ann", "Bob")
    await cluster.connect(1, bob, gid)
    await asyncio.to_thread(cluster.kill, 1, signal.SIGKILL)
    await asyncio.sleep(PRESENCE_TTL_S + 0.5)  # Bob's entry has expired, unswept

    a = await cluster.connect(0, ann, gid)
    assert member_ids(a.first) == {ann.id}
    assert a.first["votes"]["needed"] == 1


# -- Redis loses the group -----------------------------------------------------------------------------


async def test_multiprocess_redis_loss_resyncs_clients_from_sql(start_servers: StartServers) -> None:
    """The group's live state and log vanish from Redis: every socket, on both processes, is closed
    with 4010; resuming from the old point gives a snapshot (recovered: false) under one new epoch,
    paused, at the same current track, with every track SQL holds; the rebuilt room works."""
    cluster = await start_servers(2)
    gid, (ann, bob) = await shared_room(cluster, "Ann", "Bob")
    a = await cluster.connect(0, ann, gid)
    b = await cluster.connect(1, bob, gid)
    await a.until("members_changed", joined=bob.id)
    for title in ("one", "two", "three"):
        assert_ack(await a.command(add_frame(title)))
    ids = [frame["track"]["id"] for frame in await asyncio.gather(*(b.until("track_added") for _ in range(3)))]
    assert_ack(await a.command({"type": "skip", "expected_track_id": ids[0]}))
    assert_ack(await a.command({"type": "play"}))
    assert_ack(await b.command({"type": "chat", "text": "before"}))
    await all_see([a, b], "chat", text="before")
    assert a.seq == b.seq
    old_epoch, resume_a, resume_b = a.epoch, a.resume_point(), b.resume_point()

    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        deleted = await client.delete(cluster.group_key(gid, ":state"), cluster.group_key(gid, ":log"))
    finally:
        await client.aclose()
    assert deleted == 2
    assert [await a.closed(wait_s=10), await b.closed(wait_s=10)] == [4010, 4010]

    a2 = await cluster.connect(0, ann, gid, resume=resume_a)
    b2 = await cluster.connect(1, bob, gid, resume=resume_b)
    sql = await cluster.api(0).playlist(ann, gid)
    assert [t["id"] for t in sql["tracks"]] == ids and sql["current_track_index"] == 1
    for snapshot in (a2.first, b2.first):
        assert snapshot.type == "snapshot" and snapshot["recovered"] is False
        assert snapshot["epoch"] != old_epoch
        assert snapshot["playback"]["is_playing"] is False and snapshot["playback"]["position_ms"] == 0
        assert [t["id"] for t in snapshot["playlist"]["tracks"]] == ids
        assert snapshot["playlist"]["current_index"] == sql["current_track_index"]
        assert snapshot["playlist"]["version"] == sql["version"]
    assert a2.first["epoch"] == b2.first["epoch"]  # one rebuild, not one per process

    assert_ack(await a2.command({"type": "skip", "expected_track_id": ids[1]}))
    changed = await b2.until("index_changed")
    assert changed["epoch"] == b2.first["epoch"] and changed["index"] == 2 and changed["track_id"] == ids[2]
