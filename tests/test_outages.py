"""Outages with real processes: every command is answered, no socket is aborted, nothing is applied
twice, and the room recovers fast (tests/servers.py).

Redis is a private ``redis-server`` (``PrivateRedis``), PostgreSQL a private cluster
(``PrivatePostgres``: ``initdb`` + ``pg_ctl`` on a free port), so both can be stopped without
touching what the machine shares. Senders give every command an idempotency key and, like a phone,
resend it with the same key after ``unavailable``/``busy`` or a reconnect until it is answered for
good; so "applied exactly once" is checked in SQL at the end. A close from a live server during an
outage must be one of the documented reconnect codes, never an abort (1006). Recovery times are
printed (``-s``) and asserted loosely; docs/RELIABILITY.md quotes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from tests.servers import (
    Cluster,
    Frame,
    Guest,
    HttpError,
    PrivatePostgres,
    PrivateRedis,
    RoomClient,
    StartServers,
    add_frame,
    assert_ack,
    shared_room,
)
from tests.services import REDIS_URL, require

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

RECONNECT_CODES = {4010, 4013}  # resync (Redis came back empty) and unavailable: reconnect and resume
RETRYABLE = {"unavailable", "busy", "conflict"}
OUTAGE_S = 2.5


def key(tag: str = "k") -> str:
    return f"{tag}-{uuid.uuid4().hex}"


@dataclass
class Sender:
    """A phone that reconnects with its resume point and resends a command with the same id until
    it is answered for good; it records every close code and answer it saw."""

    cluster: Cluster
    index: int
    guest: Guest
    group_id: str
    client: RoomClient | None = None
    resume: dict[str, Any] | None = None
    closes: list[int | None] = field(default_factory=list)
    answers: list[tuple[float, str]] = field(default_factory=list)  # (when, "ack" or error code)
    served_at: list[float] = field(default_factory=list)  # when each (re)connection got its first frame

    async def connect(self) -> RoomClient:
        while self.client is None or self.client.close_code is not None:
            if self.client is not None:
                self.closes.append(self.client.close_code)
                self.resume = self.client.resume_point()
                self.client = None
            try:
                self.client = await self.cluster.connect(self.index, self.guest, self.group_id, resume=self.resume)
                self.served_at.append(time.monotonic())
            except ConnectionClosed as exc:  # refused before the first frame (4013 during an outage)
                self.closes.append(exc.rcvd.code if exc.rcvd is not None else None)
                await asyncio.sleep(0.2)
        return self.client

    async def deliver(self, frame: dict[str, Any], *, within_s: float = 60) -> Frame:
        frame = {**frame, "id": frame.get("id") or key(self.guest.name)}
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            client = await self.connect()
            try:
                reply = await client.command(frame, wait_s=15)
            except (AssertionError, ConnectionClosed):
                if client.failure is not None:
                    raise
                await client.closed(wait_s=5)  # the socket is closing: reconnect and resend
                continue
            self.answers.append((time.monotonic(), "ack" if reply.type == "ack" else reply["code"]))
            if reply.type == "ack" or reply["code"] not in RETRYABLE:
                return reply
            await asyncio.sleep(min(reply.get("retry_after_ms", 100), 200) / 1000)
        raise AssertionError(f"{frame} not answered for good within {within_s}s")

    def first_ack_after(self, moment: float) -> float:
        return min(at for at, answer in self.answers if answer == "ack" and at >= moment) - moment

    def assert_no_abort(self) -> None:
        assert all(code in RECONNECT_CODES for code in self.closes), self.closes


async def lift_member_limit(host: Sender) -> None:
    """The senders add far more tracks than a member may have waiting by default (10): the host,
    the first sender, turns that limit off before they start."""
    assert_ack(await host.deliver({"type": "queue_settings", "max_queued_per_member": 0}))


async def keep_adding(sender: Sender, stop: asyncio.Event, added: list[str]) -> None:
    n = 0
    while not stop.is_set():
        title = f"{sender.guest.name}-{n}"
        n += 1
        assert_ack(await sender.deliver(add_frame(title)))
        added.append(title)
        await asyncio.sleep(0.05)


async def served_again(
    senders: list[Sender], since: float, *, acks: int = 3, within_s: float = 30, new_epoch_after: str | None = None
) -> None:
    """Until every sender had ``acks`` commands acked after ``since`` (and, if given, is on a socket
    of another epoch than ``new_epoch_after``: it was resynced), or the time is up."""
    for _ in range(int(within_s * 10)):
        acked = all(sum(1 for at, a in s.answers if a == "ack" and at > since) >= acks for s in senders)
        moved = new_epoch_after is None or all(
            s.client is not None and s.client.epoch != new_epoch_after for s in senders
        )
        if acked and moved:
            return
        await asyncio.sleep(0.1)


async def assert_refused_4013(cluster: Cluster, index: int, guest: Guest, gid: str) -> None:
    """A socket opened during the outage is closed with 4013 (reconnect with backoff), not aborted."""
    with pytest.raises(ConnectionClosed) as closed:
        await RoomClient.open(cluster[index].ws_url, guest, gid)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4013


def http_track(title: str) -> dict[str, Any]:
    return {k: v for k, v in add_frame(title).items() if k != "type"}


def no_tracebacks(cluster: Cluster) -> None:
    for server in cluster.servers:
        assert "Traceback" not in server.log(), server.log()[-3000:]


async def titles(cluster: Cluster, guest: Guest, gid: str, index: int = 0) -> list[str]:
    return [t["title"] for t in (await cluster.api(index).playlist(guest, gid))["tracks"]]


def http_503(call: Any) -> tuple[float, HttpError]:
    started = time.monotonic()
    with pytest.raises(HttpError) as refused:
        call()
    return time.monotonic() - started, refused.value


# -- Redis restarted under commands ------------------------------------------------------------------


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    require("Redis", REDIS_URL)
    server = PrivateRedis(tmp_path / "redis").start()
    try:
        yield server
    finally:
        server.stop()


async def test_outages_redis_restart_under_commands_every_command_answered_none_twice(
    private_redis: PrivateRedis, start_servers: StartServers
) -> None:
    """Two senders on two processes add tracks non-stop; Redis is shut down (no save) for 2.5 s and
    started again, empty. Meanwhile commands get ``unavailable`` (each one answered), HTTP writes
    503 with Retry-After, new sockets 4013; open sockets are closed with 4010/4013 only. After the
    restart every sender is served again within seconds; each acked title is in SQL exactly once."""
    cluster = await start_servers(2, redis_url=private_redis.url)
    gid, (ann, bob) = await shared_room(cluster, "Ann", "Bob")
    senders = [Sender(cluster, 0, ann, gid), Sender(cluster, 1, bob, gid)]
    await lift_member_limit(senders[0])
    stop, added = asyncio.Event(), list[str]()
    tasks = [asyncio.create_task(keep_adding(s, stop, added)) for s in senders]
    await asyncio.sleep(1.5)
    assert senders[0].client is not None
    old_epoch = senders[0].client.epoch

    await asyncio.to_thread(private_redis.stop)
    down_at = time.monotonic()
    await asyncio.sleep(0.5)
    elapsed, refused = await asyncio.to_thread(
        http_503, lambda: cluster.api(0).call("POST", f"/api/groups/{gid}/tracks", http_track("http-during"), ann.token)
    )
    assert refused.status == 503 and '"unavailable"' in refused.body and elapsed < 5, (elapsed, refused)
    await assert_refused_4013(cluster, 1, bob, gid)
    await asyncio.sleep(max(0.0, OUTAGE_S - (time.monotonic() - down_at)))
    await asyncio.to_thread(private_redis.start)
    up_at = time.monotonic()

    await served_again(senders, up_at, new_epoch_after=old_epoch)
    stop.set()
    await asyncio.gather(*tasks)

    recovery = [s.first_ack_after(up_at) for s in senders]
    unavailable = sum(1 for s in senders for at, a in s.answers if a == "unavailable" and down_at <= at <= up_at)
    resynced = [max(s.served_at) - up_at for s in senders]  # back on a socket of the new epoch
    print(
        f"redis restart: first ack {[f'{r:.2f}s' for r in recovery]} after the restart, reconnected (4010) "
        f"{[f'{r:.2f}s' for r in resynced]}, {unavailable} commands answered unavailable"
    )
    assert max(recovery) < 15 and max(resynced) < 15, (recovery, resynced)
    assert unavailable >= 1  # the outage was seen, and answered
    for sender in senders:
        sender.assert_no_abort()
    stored = await titles(cluster, ann, gid)
    assert sorted(stored) == sorted(added) and len(set(stored)) == len(stored)
    no_tracebacks(cluster)


# -- PostgreSQL restarted ----------------------------------------------------------------------------


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    if not sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl")):
        pytest.skip("no PostgreSQL server binaries to start a private cluster")
    server = PrivatePostgres().start()
    try:
        yield server
    finally:
        server.destroy()


async def test_outages_postgres_restart_durable_commands_unavailable_live_ones_go_on(
    private_postgres: PrivatePostgres, start_servers: StartServers
) -> None:
    """A private PostgreSQL cluster is stopped (fast shutdown) for 2.5 s under two senders adding
    tracks: adds get ``unavailable``, chats (live only) are still acked, HTTP writes 503 with
    Retry-After, new sockets 4013. Started again, adds are acked within seconds; each acked title
    is in SQL exactly once; no socket aborted, no traceback."""
    cluster = await start_servers(2, database_url=private_postgres.url)
    gid, (ann, bob) = await shared_room(cluster, "Ann", "Bob")
    senders = [Sender(cluster, 0, ann, gid), Sender(cluster, 1, bob, gid)]
    watcher = await cluster.connect(1, bob, gid)
    await lift_member_limit(senders[0])
    stop, added = asyncio.Event(), list[str]()
    tasks = [asyncio.create_task(keep_adding(s, stop, added)) for s in senders]
    await asyncio.sleep(1.5)

    await asyncio.to_thread(private_postgres.stop)
    down_at = time.monotonic()
    await asyncio.sleep(0.3)
    chat = await watcher.command({"type": "chat", "text": "the database is down", "id": key()})
    assert chat.type == "ack", chat.text
    elapsed, refused = await asyncio.to_thread(
        http_503, lambda: cluster.api(0).call("POST", "/api/groups", {"name": "during"}, ann.token)
    )
    assert refused.status == 503 and '"unavailable"' in refused.body and elapsed < 10, (elapsed, refused)
    await assert_refused_4013(cluster, 0, ann, gid)
    await asyncio.sleep(max(0.0, OUTAGE_S - (time.monotonic() - down_at)))
    await asyncio.to_thread(private_postgres.start)
    up_at = time.monotonic()

    await served_again(senders, up_at)
    stop.set()
    await asyncio.gather(*tasks)

    recovery = [s.first_ack_after(up_at) for s in senders]
    unavailable = sum(1 for s in senders for at, a in s.answers if a == "unavailable" and down_at <= at <= up_at)
    print(f"postgres restart: recovery {[f'{r:.2f}s' for r in recovery]}, {unavailable} answered unavailable")
    assert max(recovery) < 15, recovery
    assert unavailable >= 1
    for sender in senders:
        sender.assert_no_abort()
    assert watcher.close_code is None
    stored = await titles(cluster, ann, gid)
    assert sorted(stored) == sorted(added) and len(set(stored)) == len(stored)
    no_tracebacks(cluster)


# -- SQLite held locked by another process -------------------------------------------------------------

HOLD_LOCK = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("ROLLBACK")
"""


async def test_outages_sqlite_locked_by_another_process_past_the_busy_timeout(
    start_servers: StartServers, tmp_path: Path
) -> None:
    """Another process holds SQLite's write lock (``BEGIN EXCLUSIVE``) for 3 s, six times the busy
    timeout (SQLITE_BUSY_TIMEOUT_MS=500): an HTTP write answers 503 ``unavailable`` with Retry-After
    after about the busy timeout (not 15 s, not 500), a socket's add gets ``unavailable`` while its
    chat is acked, a new socket still starts (WAL readers are not blocked). Released, the resent
    add applies once."""
    path = tmp_path / "shared.db"
    cluster = await start_servers(2, database_url=f"sqlite+aiosqlite:///{path}", SQLITE_BUSY_TIMEOUT_MS="500")
    gid, (ann, bob) = await shared_room(cluster, "Ann", "Bob")
    sender = Sender(cluster, 0, ann, gid)
    assert_ack(await sender.deliver(add_frame("before")))
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLD_LOCK, str(path), "3", stdout=asyncio.subprocess.PIPE
    )
    try:
        assert holder.stdout is not None and (await holder.stdout.readline()).strip() == b"locked"
        locked_at = time.monotonic()
        elapsed, refused = await asyncio.to_thread(
            http_503, lambda: cluster.api(1).call("POST", "/api/groups", {"name": "during"}, bob.token)
        )
        assert refused.status == 503 and '"unavailable"' in refused.body, refused
        assert 0.4 < elapsed < 5, elapsed
        client = await sender.connect()
        frame = {**add_frame("during-lock"), "id": key()}
        first = await client.command(frame)
        assert (first.type, first.get("code")) == ("error", "unavailable"), first.text
        assert_ack(await client.command({"type": "chat", "text": "chat goes on", "id": key()}))
        newcomer = await cluster.connect(1, bob, gid)
        assert newcomer.first.type == "snapshot"
        assert await asyncio.wait_for(holder.wait(), 10) == 0
        released_at = time.monotonic()
        reply = assert_ack(await sender.deliver(frame))
        recovery = time.monotonic() - released_at
        held_s = released_at - locked_at
        print(f"sqlite lock: 503 after {elapsed:.2f}s, held {held_s:.1f}s, add acked {recovery:.2f}s after the release")
        assert "duplicate" not in reply.data and recovery < 5
    finally:
        with contextlib.suppress(ProcessLookupError):
            holder.kill()
        await holder.wait()
    assert await titles(cluster, ann, gid) == ["before", "during-lock"]
    sender.assert_no_abort()
    no_tracebacks(cluster)


# -- the lock holder killed mid-command ----------------------------------------------------------------


async def test_outages_lock_holder_killed_mid_command_group_recovers_within_2_s(start_servers: StartServers) -> None:
    """Process A takes the group's lock for Ann's add, commits it to SQL and stalls there (test-only
    TEST_STALL_AFTER_SQL_S) holding the lock; Bob on B sends a chat, which waits, and his pings
    are answered meanwhile. A is killed (SIGKILL) between its two commits. Bob's chat is acked
    within 2 s of the kill (the lease, 1.5 s, is all it costs); his next add rebuilds the room from
    SQL without a ``conflict``; Ann, back on B, resends her add with the same id and gets the first
    ack back (``duplicate``): the track exists exactly once."""
    cluster = await start_servers(2, TEST_STALL_AFTER_SQL_S="60")
    gid, (ann, bob) = await shared_room(cluster, "Ann", "Bob")
    a = await cluster.connect(0, ann, gid)
    b = await cluster.connect(1, bob, gid)
    await a.until("members_changed", joined=bob.id)
    stalled = {**add_frame("stalled"), "id": key("stall")}
    await a.send(stalled)
    deadline = time.monotonic() + 10
    while "stalled" not in await titles(cluster, bob, gid, 1):  # A committed SQL and holds the lock
        assert time.monotonic() < deadline, "A never reached its stall"
        await asyncio.sleep(0.05)

    chat = {"type": "chat", "text": "waiting for the lock", "id": key()}
    start = len(b.frames)
    await b.send(chat)
    await asyncio.sleep(0.3)
    ping_at = time.perf_counter()
    await b.send({"type": "ping", "client_time": 1.0, "id": "alive"})
    pong = await b.wait(lambda f: f.type == "pong", start=start, wait_s=5)
    assert not [f for f in b.frames[start:] if f.get("id") == chat["id"]], "the chat must still be waiting"
    pong_s = pong.at - ping_at

    await asyncio.to_thread(cluster.kill, 0, signal.SIGKILL)
    killed_at = time.perf_counter()
    reply = await b.wait(lambda f: f.get("id") == chat["id"], start=start, wait_s=10)
    recovery = reply.at - killed_at
    print(
        f"lock holder killed: the waiting chat was acked {recovery:.2f}s after the kill; pong in {pong_s * 1000:.0f} ms"
    )
    assert reply.type == "ack", reply.text
    assert recovery <= 2.0, recovery

    bob_sender = Sender(cluster, 1, bob, gid, client=b)
    after = assert_ack(await bob_sender.deliver(add_frame("after the kill")))
    assert not [answer for _, answer in bob_sender.answers if answer == "conflict"]
    ann_sender = Sender(cluster, 1, ann, gid, resume=a.resume_point())
    retried = assert_ack(await ann_sender.deliver(stalled))
    assert retried.get("duplicate") is True and after.type == "ack"
    assert (await titles(cluster, bob, gid, 1)) == ["stalled", "after the kill"]
    assert "Traceback" not in cluster[1].log()
    bob_sender.assert_no_abort()


# -- retried commands across processes -----------------------------------------------------------------


async def test_outages_retried_commands_across_processes_apply_once(start_servers: StartServers) -> None:
    """A phone whose answers were lost resends its commands with the same ids on another process:
    an add, a chat and a refused skip each get their first answer again (``duplicate``); the room
    holds one track and one chat; a new id is a new command."""
    cluster = await start_servers(2)
    gid, (ann, bob) = await shared_room(cluster, "Ann", "Bob")
    watcher = await cluster.connect(0, ann, gid)
    first = await cluster.connect(0, bob, gid)
    add, chat = {**add_frame("once"), "id": key()}, {"type": "chat", "text": "once", "id": key()}
    skip = {"type": "skip", "expected_track_id": 1, "id": key()}
    answers = [await first.command(frame) for frame in (add, chat, skip)]
    assert [f.type for f in answers] == ["ack", "ack", "error"] and answers[2]["code"] == "forbidden"
    await first.close()
    again = await cluster.connect(1, bob, gid, resume=first.resume_point())
    replayed = [await again.command(frame) for frame in (add, chat, skip)]
    assert [f.data for f in replayed] == [{**f.data, "duplicate": True} for f in answers]
    fresh = assert_ack(await again.command({"type": "chat", "text": "new", "id": key()}))
    await watcher.find("chat", text="new")
    assert [e["text"] for e in watcher.events if e.type == "chat"] == ["once", "new"]
    assert [e.type for e in watcher.events].count("track_added") == 1
    assert fresh["seq"] == watcher.events[-1]["seq"]
    assert await titles(cluster, ann, gid) == ["once"]


# -- revocation across processes -------------------------------------------------------------------


async def test_outages_logout_on_one_process_ends_the_tokens_sockets_on_every_process(
    start_servers: StartServers,
) -> None:
    """Ann has a socket on each process and logs out through A: both close with 4501 at once (the
    revocation is broadcast through Redis), well before the periodic session check (every 10 s);
    Bob's socket lives on."""
    cluster = await start_servers(2)
    gid, (ann, bob) = await shared_room(cluster, "Ann", "Bob")
    on_a, on_b = await cluster.connect(0, ann, gid), await cluster.connect(1, ann, gid)
    watcher = await cluster.connect(1, bob, gid)
    started = time.monotonic()
    await cluster.api(0).acall("DELETE", "/api/session", None, ann.token)
    assert [await on_a.closed(wait_s=10), await on_b.closed(wait_s=10)] == [4501, 4501]
    took = time.monotonic() - started
    print(f"logout: both sockets closed {took:.2f}s after the request")
    assert took < 5, took  # the periodic check alone would take up to 10 s
    assert_ack(await watcher.command({"type": "chat", "text": "still here"}))
