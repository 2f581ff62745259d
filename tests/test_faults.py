"""Faults survived with real processes, real Redis and real PostgreSQL (or SQLite) (tests/servers.py).

Each test starts its own ``python -m rooms_server`` processes and injects a real fault: ``kill -9``,
``CLIENT KILL`` of one process's pub/sub connection, a Redis restart, clients that vanish in the
middle of a command, many writers on one SQLite file, a phone whose network goes silent for 60 s
(a small asyncio proxy of our own black-holes its connection). Every frame is validated against
docs/asyncapi.yaml and every client checks that its events arrive without gap or duplicate
(``RoomClient``); on top of that each test checks command accounting (I4 of the reliability notes):
an ``ack`` means exactly one event, an ``error`` none, no answer at most one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
from websockets.exceptions import ConnectionClosed

from tests.servers import (
    Api,
    Cluster,
    Frame,
    Guest,
    HttpError,
    PrivateRedis,
    RoomClient,
    StartServers,
    add_frame,
    assert_ack,
    shared_room,
)
from tests.services import REDIS_URL, require

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

COMMAND_PAUSE_S = 0.06  # ~16 commands/s per socket: under COMMANDS_PER_SECOND (20)
SILENCE_S = 60.0


def chats(client: RoomClient) -> list[str]:
    return [frame["text"] for frame in client.events if frame.type == "chat"]


@dataclass
class Ledger:
    """What a sender knows of its own commands: acked (text -> seq), refused, or never answered."""

    acked: dict[str, int] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)
    unanswered: list[str] = field(default_factory=list)

    def check(self, watcher: RoomClient) -> None:
        """I4 against a client that saw the whole history: ack = exactly one event (at the ack's seq),
        error = none, no answer = at most one."""
        by_text: dict[str, list[Frame]] = {}
        for frame in watcher.events:
            if frame.type == "chat":
                by_text.setdefault(frame["text"], []).append(frame)
        for text, seq in self.acked.items():
            assert [f["seq"] for f in by_text.get(text, [])] == [seq], text
        for text in self.refused:
            assert text not in by_text, text
        for text in self.unanswered:
            assert len(by_text.get(text, [])) <= 1, text


# -- kill -9 under load -----------------------------------------------------------------------------


async def test_faults_kill_9_clients_resume_on_the_survivor_with_no_gap_and_no_loss(
    start_servers: StartServers,
) -> None:
    """Six senders (three on each process) chat at ~16 commands/s each; B is killed with SIGKILL
    mid-load. B's clients reconnect to A with their resume point and get ``resumed`` plus exactly
    the events they missed (their own events before + after equal the watcher's, byte for byte);
    A's clients see no gap; every acked command is in the history exactly once at its seq."""
    cluster = await start_servers(2, PRESENCE_TTL_S="3")
    gid, guests = await shared_room(cluster, "Watcher", *(f"S{i}" for i in range(6)))
    watcher = await cluster.connect(0, guests[0], gid)
    senders = guests[1:]
    stop = asyncio.Event()
    ledger = Ledger()
    moved: dict[str, tuple[RoomClient, RoomClient]] = {}
    downtime: list[float] = []

    async def send_until_stopped(index: int, guest: Guest) -> RoomClient:
        client = await cluster.connect(index % 2, guest, gid)
        n = 0
        while not stop.is_set():
            text = f"{guest.name}-{n}"
            n += 1
            try:
                # Up to the lock lease: a process killed while holding the group's lock blocks it that long.
                reply = await client.command({"type": "chat", "text": text}, wait_s=15)
            except (AssertionError, ConnectionClosed, OSError):
                if client.failure is not None or client.close_code is None and not client.ws.close_code:
                    raise
                ledger.unanswered.append(text)
                lost_at = time.perf_counter()
                again = await cluster.connect(0, guest, gid, resume=client.resume_point())  # the survivor
                downtime.append(time.perf_counter() - lost_at)
                assert again.first.type == "resumed", again.first.text
                moved[guest.id] = (client, again)
                client = again
                continue
            if reply.type == "ack":
                ledger.acked[text] = reply["seq"]
            else:
                assert reply["code"] == "busy", reply.text  # the only refusal a chat may get here
                ledger.refused.append(text)
            await asyncio.sleep(COMMAND_PAUSE_S)
        return client

    tasks = [asyncio.create_task(send_until_stopped(i, guest)) for i, guest in enumerate(senders)]
    await asyncio.sleep(2.0)
    await asyncio.to_thread(cluster.kill, 1, signal.SIGKILL)
    await asyncio.sleep(2.0)
    stop.set()
    final = await asyncio.gather(*tasks)
    done = assert_ack(await watcher.command({"type": "chat", "text": "done"}))
    await asyncio.gather(*(client.find("chat", text="done") for client in final))

    assert len(moved) == 3, "every client of the killed process moved"
    assert max(downtime) < 5.0, downtime
    assert len(ledger.acked) >= 100, len(ledger.acked)
    print(f"acked {len(ledger.acked)}, busy {len(ledger.refused)}, unanswered {len(ledger.unanswered)}, {downtime=}")
    ledger.check(watcher)
    start = watcher.first["seq"]
    assert [e["seq"] for e in watcher.events] == list(range(start + 1, done["seq"] + 1))
    for old, new in moved.values():
        assert new.first["seq"] == old.seq
        assert old.first["seq"] >= start  # the senders connected after the watcher
        seen = [e.text for e in (*old.events, *new.events)]
        assert seen == [e.text for e in watcher.events if e["seq"] > old.first["seq"]]


# -- the pub/sub connection killed ------------------------------------------------------------------


def _socket_ports(pid: int) -> set[int]:
    """The local TCP ports of a process's sockets (from /proc: no tool needed)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                cols = line.split()
                if cols[9] in inodes:
                    ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


def pubsub_client_of(cluster: Cluster, index: int) -> dict[str, str]:
    """The CLIENT LIST entry of process ``index``'s pub/sub connection: named by the engine
    (``<prefix>pubsub:<node>``), and matched to the process by its local port."""
    ports = _socket_ports(cluster[index].process.pid)
    client = redis.Redis.from_url(REDIS_URL)
    try:
        entries = client.client_list(_type="pubsub")
    finally:
        client.close()
    mine = [
        entry
        for entry in entries
        if entry.get("name", "").startswith(f"{cluster.prefix}pubsub:")
        and int(entry["addr"].rsplit(":", 1)[1]) in ports
    ]
    assert len(mine) == 1, entries
    return mine[0]


async def test_faults_pubsub_connection_killed_clients_miss_nothing(start_servers: StartServers) -> None:
    """``CLIENT KILL ID`` of process B's pub/sub connection (and no other) while Ann on A chats: B
    notices, resubscribes and catches up from the Stream; Bob on B gets every event, in order,
    the same bytes as Ann, and every acked command exactly once."""
    cluster = await start_servers(2)
    gid, (ann, bob) = await shared_room(cluster, "Ann", "Bob")
    a = await cluster.connect(0, ann, gid)
    b = await cluster.connect(1, bob, gid)
    await a.until("members_changed", joined=bob.id)
    killed = pubsub_client_of(cluster, 1)
    untouched = pubsub_client_of(cluster, 0)
    ledger = Ledger()

    async def chat(count: int, tag: str) -> None:
        for n in range(count):
            reply = await a.command({"type": "chat", "text": f"{tag}-{n}"})
            if reply.type == "ack":
                ledger.acked[f"{tag}-{n}"] = reply["seq"]
            else:
                ledger.refused.append(f"{tag}-{n}")
            await asyncio.sleep(COMMAND_PAUSE_S)

    async def kill_midway() -> None:
        await asyncio.sleep(0.5)
        client = redis.asyncio.Redis.from_url(REDIS_URL)
        try:
            assert await client.client_kill_filter(_id=killed["id"]) == 1
        finally:
            await client.aclose()

    await asyncio.gather(chat(40, "during"), kill_midway())
    done = assert_ack(await a.command({"type": "chat", "text": "done"}))
    await b.find("chat", text="done", wait_s=15)

    ledger.check(b)
    assert len(ledger.acked) == 40
    start = b.first["seq"]
    assert [e.text for e in b.events] == [e.text for e in a.events if e["seq"] > start]
    assert b.events[-1]["seq"] == done["seq"]
    renewed = pubsub_client_of(cluster, 1)
    assert renewed["id"] != killed["id"]
    assert pubsub_client_of(cluster, 0)["id"] == untouched["id"]  # A's connection was not touched
    assert b.close_code is None and a.close_code is None


# -- Redis restarted --------------------------------------------------------------------------------


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    """A redis-server of this test's own, which it may restart (the machine's Redis is shared).

    Request it before ``start_servers``: the servers' teardown still talks to it."""
    require("Redis", REDIS_URL)
    server = PrivateRedis(tmp_path / "redis").start()
    try:
        yield server
    finally:
        server.stop()


async def test_faults_redis_restart_rebuilds_groups_from_sql_under_a_new_epoch(
    private_redis: PrivateRedis, start_servers: StartServers
) -> None:
    """Redis is shut down (no save) and started again, empty: every socket on both processes is
    closed with 4010 (resync); resuming from the old point gives ``recovered: false`` and a
    snapshot under one new epoch with every track SQL holds, at the same current track; the
    rebuilt room works across processes."""
    cluster = await start_servers(2, redis_url=private_redis.url)
    gid, (ann, bob) = await shared_room(cluster, "Ann", "Bob")
    a = await cluster.connect(0, ann, gid)
    b = await cluster.connect(1, bob, gid)
    await a.until("members_changed", joined=bob.id)
    for n in range(5):
        assert_ack(await a.command(add_frame(f"track-{n}")))
    added = [await b.until("track_added") for _ in range(5)]
    ids = [frame["track"]["id"] for frame in added]
    assert_ack(await a.command({"type": "skip", "expected_track_id": ids[0]}))
    assert_ack(await b.command({"type": "chat", "text": "before"}))
    await a.find("chat", text="before")
    old_epoch, resume_a, resume_b = a.epoch, a.resume_point(), b.resume_point()

    await asyncio.to_thread(private_redis.restart)
    assert [await a.closed(wait_s=20), await b.closed(wait_s=20)] == [4010, 4010]

    a2 = await cluster.connect(0, ann, gid, resume=resume_a)
    b2 = await cluster.connect(1, bob, gid, resume=resume_b)
    sql = await cluster.api(1).playlist(bob, gid)
    assert [t["id"] for t in sql["tracks"]] == ids and sql["current_track_index"] == 1
    for snapshot in (a2.first, b2.first):
        assert snapshot.type == "snapshot" and snapshot["recovered"] is False
        assert snapshot["epoch"] != old_epoch
        assert [t["id"] for t in snapshot["playlist"]["tracks"]] == ids
        assert snapshot["playlist"]["current_index"] == 1
    assert a2.first["epoch"] == b2.first["epoch"]
    ack = assert_ack(await b2.command({"type": "chat", "text": "after"}))
    assert (await a2.find("chat", text="after"))["seq"] == ack["seq"]
    assert (await cluster.api(0).acall("GET", "/readyz")) is not None


# -- clients dropped in the middle of a command -----------------------------------------------------


async def test_faults_clients_dropped_mid_command_leave_no_trace_but_their_command(
    start_servers: StartServers,
) -> None:
    """Ten sockets (on both processes) each send a command and abort their TCP connection at once:
    each command applies at most once, the server stays healthy (no ghost in presence once the
    sweep runs, a new command is acked) and nobody else sees a gap."""
    cluster = await start_servers(2, PRESENCE_TTL_S="3")
    gid, (ann, bob, carol) = await shared_room(cluster, "Ann", "Bob", "Carol")
    a = await cluster.connect(0, ann, gid)
    ledger = Ledger()
    for n in range(10):
        client = await RoomClient.open(cluster[n % 2].ws_url, bob, gid)
        text = f"dropped-{n}"
        frame = add_frame(text) if n % 2 else {"type": "chat", "text": text}
        await client.send({**frame, "id": f"drop-{n}"})
        client.ws.transport.abort()
        await client.close()
        if frame["type"] == "chat":
            ledger.unanswered.append(text)
    done = assert_ack(await a.command({"type": "chat", "text": "done"}))
    await a.find("chat", text="done")
    ledger.check(a)
    assert [e["seq"] for e in a.events] == list(range(a.first["seq"] + 1, done["seq"] + 1))
    titles = [t["title"] for t in (await cluster.api(0).playlist(ann, gid))["tracks"]]
    assert all(titles.count(f"dropped-{n}") <= 1 for n in range(1, 10, 2))
    await asyncio.sleep(3 + 1 + 1)  # PRESENCE_TTL_S + a sweep + delivery: aborted sockets are gone
    c = await cluster.connect(1, carol, gid)
    assert {m["user_id"] for m in c.first["members"]} == {ann.id, carol.id}
    assert_ack(await c.command({"type": "chat", "text": "healthy"}))


# -- SQLite under concurrent writers ----------------------------------------------------------------


async def test_faults_sqlite_concurrent_writers_of_two_processes_never_corrupt(
    start_servers: StartServers, tmp_path: Path
) -> None:
    """Two processes on ONE SQLite file (WAL, BEGIN IMMEDIATE, busy timeout 15 s): 40 concurrent
    writers (users, joins, tracks, groups, renames) get no 5xx; ``PRAGMA integrity_check`` is ok and
    the rows are exactly what the answers say."""
    path = tmp_path / "shared.db"
    cluster = await start_servers(2, database_url=f"sqlite+aiosqlite:///{path}")
    owner = await cluster.api(0).guest("Owner")
    gid = await cluster.api(0).create_group(owner, "Busy")
    failures: list[str] = []
    titles: list[str] = []

    async def writer(n: int) -> None:
        api: Api = cluster.api(n % 2)
        try:
            guest = await api.guest(f"Writer {n}")
            await api.join(guest, gid)
            for k in range(3):
                title = f"w{n}-{k}"
                await api.add_track(guest, gid, title)
                titles.append(title)
            own = await api.create_group(guest, f"Own {n}")
            await api.acall("PATCH", f"/api/groups/{own}", {"name": f"Own {n} renamed"}, guest.token)
        except HttpError as exc:
            failures.append(str(exc))

    await asyncio.gather(*(writer(n) for n in range(40)))
    assert failures == []
    playlist = await cluster.api(1).playlist(owner, gid)
    assert sorted(t["title"] for t in playlist["tracks"]) == sorted(titles)
    assert len(titles) == 120
    await asyncio.to_thread(cluster.stop)
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert db.execute("SELECT count(*) FROM users").fetchone() == (41,)
        assert db.execute("SELECT count(*) FROM groups").fetchone() == (41,)
        assert db.execute("SELECT count(*) FROM tracks").fetchone() == (120,)
        renamed = db.execute("SELECT count(*) FROM groups WHERE name LIKE '% renamed'").fetchone()
        assert renamed == (40,)


# -- a phone silent for 60 s ------------------------------------------------------------------------


class BlackHoleProxy:
    """A TCP proxy on 127.0.0.1 that can black-hole its connections: bytes stop flowing both ways
    but neither socket is closed, as when a phone loses its network without a FIN or RST."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._pumps: list[asyncio.Task[None]] = []
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> BlackHoleProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._writers += [writer, up_writer]
        self._pumps += [
            asyncio.create_task(self._pump(reader, up_writer)),
            asyncio.create_task(self._pump(up_reader, writer)),
        ]

    @staticmethod
    async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    def black_hole(self) -> None:
        for pump in self._pumps:
            pump.cancel()

    async def close(self) -> None:
        self.black_hole()
        for writer in self._writers:
            writer.transport.abort()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


async def test_faults_phone_silent_for_60_s_resumes_with_an_exact_replay(start_servers: StartServers) -> None:
    """Bob's phone (through our proxy) loses its network: not a byte flows for 60 s, and no FIN.
    Meanwhile Ann adds tracks and chats (well inside HISTORY_SIZE, the replay window, which is a
    count of events, not a time). Bob comes back on a new connection with his resume point:
    ``resumed``, then exactly the events Ann saw, byte for byte, and the room goes on."""
    cluster = await start_servers(1)
    gid, (ann, bob) = await shared_room(cluster, "Ann", "Bob")
    a = await cluster.connect(0, ann, gid)
    proxy = await BlackHoleProxy(cluster[0].port).start()
    try:
        b = await RoomClient.open(f"ws://127.0.0.1:{proxy.port}", bob, gid)
        cluster.clients.append(b)
        await a.until("members_changed", joined=bob.id)
        assert_ack(await a.command({"type": "chat", "text": "before"}))
        await b.find("chat", text="before")
        resume = b.resume_point()
        proxy.black_hole()
        silent_from = time.monotonic()
        for n in range(20):
            assert_ack(await a.command(add_frame(f"while-away-{n}") if n % 2 else {"type": "chat", "text": f"c{n}"}))
            await asyncio.sleep(SILENCE_S / 25)
        await asyncio.sleep(max(0.0, SILENCE_S - (time.monotonic() - silent_from)))
        marker = assert_ack(await a.command({"type": "chat", "text": "last before return"}))

        back = await cluster.connect(0, bob, gid, resume=resume)
        assert back.first.type == "resumed" and back.first["seq"] == resume["seq"]
        await back.wait(lambda f: f.get("seq") == marker["seq"])
        missed = [e.text for e in a.events if resume["seq"] < e["seq"] <= marker["seq"]]
        assert len(missed) >= 21
        assert [e.text for e in back.events if e["seq"] <= marker["seq"]] == missed
        ack = assert_ack(await back.command({"type": "chat", "text": "back"}))
        assert (await a.find("chat", text="back"))["seq"] == ack["seq"]
    finally:
        await proxy.close()
