"""Slow consumers against a real server process (uvicorn via ``python -m rooms_server``) with
asyncio ``websockets`` clients on 127.0.0.1.

A client that stops reading must not hold anyone else back: its bounded send queue
(SEND_QUEUE_FRAMES) overflows, the server closes it with 4008 (SLOW_CONSUMER) and lets the room know
it left; when it comes back with its resume point it gets exactly the events it missed.

The stalled client really stops draining its TCP socket: ``max_queue=1`` makes websockets stop
reading the socket after one unread message, and a tiny receive buffer and MSS keep both kernels'
buffers small, so the server's transport is paused after a few hundred events instead of megabytes
(its send buffer grows with the MSS). Every frame sent is validated against docs/asyncapi.yaml, and
every frame received too (once per distinct text: an event is the same bytes for every member).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import itertools
import math
import os
import secrets
import socket
import struct
import subprocess
import sys
import termios
import time
import urllib.request
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.asyncapi_frames import validate_client_frame, validate_server_frame

HOST = "127.0.0.1"
SEND_QUEUE_FRAMES = 64
LIVE_CLIENTS = 100
CHAT_CHARS = 400  # flood frames of ~450 bytes on the wire
WINDOW = 16  # commands in flight: 2 frames each (event + ack) stay well inside the admin's own queue
FLOOD = 400  # flood of the baseline run; the stalled run floods at least this much, until the stalled client is dropped
FLOOD_MAX = 3000  # the stalled client must be dropped within this many events (a few hundred are enough)
PACED = 50
PACE_S = 0.02
# Members connect 10 at a time: a socket already receives events while its snapshot is built, and
# the presence events of others arriving meanwhile must not fill its queue before its first frame.
JOIN_BATCH = 10
WAIT_S = 15.0
_SCRUBBED = ("DATABASE_URL", "REDIS_URL", "REDIS_PREFIX", "SECRET_KEY", "SECRETS_FILE", "PUBLIC_BASE_URL", "PORT")
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


# -- the server process ----------------------------------------------------------------------------


@dataclass
class Server:
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    log_file: IO[bytes]

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.port}{path}"

    def ws_url(self, group_id: str) -> str:
        return f"ws://{HOST}:{self.port}/ws/groups/{group_id}"

    def log(self) -> str:
        self.log_file.flush()
        return self.log_path.read_text(errors="replace")[-4000:]

    def assert_no_errors(self) -> None:
        self.log_file.flush()
        text = self.log_path.read_text(errors="replace")
        assert "Traceback" not in text and "ERROR" not in text, self.log()

    def call(self, method: str, path: str, body: Mapping[str, Any] | None = None, token: str | None = None) -> Any:
        headers = {"content-type": "application/json"}
        if token is not None:
            headers["authorization"] = f"Bearer {token}"
        data = None if body is None else orjson.dumps(body)
        request = urllib.request.Request(self.url(path), data=data, method=method, headers=headers)
        with _NO_PROXY.open(request, timeout=10) as response:
            return orjson.loads(response.read() or b"null")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    work = tmp_path_factory.mktemp("slow-clients")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
    env.update(
        PORT=str(port),
        HOST=HOST,
        DATABASE_URL=f"sqlite+aiosqlite:///{work / 'rooms.db'}",
        SECRET_KEY=secrets.token_urlsafe(32),
        SEND_QUEUE_FRAMES=str(SEND_QUEUE_FRAMES),
        COMMANDS_PER_SECOND="100000",
        COMMAND_BURST="100000",
        HISTORY_SIZE="5000",
    )
    log_path = work / "server.log"
    log_file = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "rooms_server"], cwd=work, env=env, stdout=log_file, stderr=subprocess.STDOUT
    )
    running = Server(port, process, log_path, log_file)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                pytest.fail(f"the server exited early:\n{running.log()}")
            try:
                if running.call("GET", "/readyz")["status"] == "ok":
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"the server did not become ready:\n{running.log()}")
                time.sleep(0.05)
        yield running
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log_file.close()


def make_room(server: Server, names: list[str]) -> tuple[str, list[tuple[str, str]]]:
    """A public group whose admin is the first name, joined by all the others: (group id, [(user id, token)])."""
    users = []
    for name in names:
        created = server.call("POST", "/api/users", {"name": name})
        users.append((created["user"]["id"], created["token"]))
    group_id: str = server.call(
        "POST", "/api/groups", {"name": f"room {secrets.token_hex(4)}", "is_public": True}, users[0][1]
    )["id"]
    for _, token in users[1:]:
        server.call("POST", f"/api/groups/{group_id}/join", None, token)
    return group_id, users


# -- clients ---------------------------------------------------------------------------------------


@functools.cache
def server_frame(text: str) -> Mapping[str, Any]:
    """The validated frame; read-only, shared by every socket that received the same text."""
    frame: Mapping[str, Any] = validate_server_frame(text)
    return frame


def _is_event(frame: Mapping[str, Any]) -> bool:
    return "seq" in frame and "ts" in frame


class Socket:
    """One room socket. A live one reads every frame in a task of its own: it checks that events
    come in seq order without gap or duplicate, answers ``request`` futures from acks and errors,
    and notes who left and when each chat arrived."""

    _ids = itertools.count()

    def __init__(self, name: str, ws: ClientConnection, first: Mapping[str, Any], *, keep_raw: bool = False) -> None:
        self.name = name
        self.ws = ws
        self.first = first
        self.epoch: str = first["epoch"]
        self.seq: int = first["seq"]
        self.keep_raw = keep_raw
        self.raw: dict[int, str] = {}  # event seq -> the exact text received
        self.arrivals: dict[str, float] = {}  # chat text -> perf_counter() when it arrived
        self.joined: set[str] = set()
        self.left: set[str] = set()
        self.problems: list[str] = []
        self.pending: dict[str, asyncio.Future[Mapping[str, Any]]] = {}
        self.reader: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.reader = asyncio.create_task(self._read(), name=f"read-{self.name}")

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for text in self.ws:
                self.take(text)

    def take(self, text: str | bytes) -> Mapping[str, Any]:
        now = time.perf_counter()
        if not isinstance(text, str):
            self.problems.append("a binary frame")
            return {}
        frame = server_frame(text)
        if _is_event(frame):
            if frame["epoch"] != self.epoch or frame["seq"] != self.seq + 1:
                self.problems.append(f"after {self.epoch}/{self.seq} got {frame['epoch']}/{frame['seq']}")
            self.epoch, self.seq = frame["epoch"], frame["seq"]
            if self.keep_raw:
                self.raw[self.seq] = text
        kind = frame["type"]
        if kind == "chat":
            self.arrivals[frame["text"]] = now
        elif kind == "members_changed":
            self.joined.update(member["user_id"] for member in frame["joined"])
            self.left.update(frame["left"])
        elif kind in ("ack", "error") and frame.get("id") in self.pending:
            self.pending.pop(frame["id"]).set_result(frame)
        return frame

    async def send(self, frame: dict[str, Any]) -> None:
        validate_client_frame(frame)
        await self.ws.send(orjson.dumps(frame).decode())

    async def request(self, frame: dict[str, Any]) -> asyncio.Future[Mapping[str, Any]]:
        """Send a command; the future gets its ack or error."""
        frame_id = f"{self.name[:20]}-{next(self._ids)}"
        reply: asyncio.Future[Mapping[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[frame_id] = reply
        await self.send({**frame, "id": frame_id})
        return reply

    def pending_bytes(self) -> int:
        """Bytes the kernel received for this socket that nobody has read yet."""
        sock = self.ws.transport.get_extra_info("socket")
        return int(struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0])


class Sockets:
    def __init__(self, server: Server) -> None:
        self.server = server
        self.open: list[Socket] = []

    async def open_socket(
        self,
        group_id: str,
        name: str,
        token: str,
        *,
        resume: Mapping[str, Any] | None = None,
        stalled: bool = False,
        keep_raw: bool = False,
    ) -> Socket:
        """Connect, say hello and read the first frame; a stalled socket never reads again."""
        sock = None
        if stalled:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, (HOST, self.server.port))
        ws = await connect(
            self.server.ws_url(group_id),
            sock=sock,
            proxy=None,
            compression=None,
            ping_interval=None,
            open_timeout=WAIT_S,
            max_queue=1 if stalled else 64,
        )
        hello: dict[str, Any] = {"type": "hello", "token": token}
        if resume is not None:
            hello["resume"] = dict(resume)
        validate_client_frame(hello)
        await ws.send(orjson.dumps(hello).decode())
        first = server_frame(str(await asyncio.wait_for(ws.recv(), WAIT_S)))
        assert first["type"] in ("snapshot", "resumed"), first
        client = Socket(name, ws, first, keep_raw=keep_raw)
        self.open.append(client)
        if not stalled:
            client.start()
        return client

    async def close_all(self) -> None:
        async def close(client: Socket) -> None:
            if client.reader is None:  # stalled: nothing will read the server's close frame
                client.ws.transport.abort()
                return
            try:
                await asyncio.wait_for(client.ws.close(), 5)
            except TimeoutError:
                client.ws.transport.abort()
            await client.reader

        await asyncio.gather(*(close(c) for c in self.open), return_exceptions=True)
        self.open.clear()


@pytest.fixture
async def sockets(server: Server) -> AsyncIterator[Sockets]:
    opened = Sockets(server)
    try:
        yield opened
    finally:
        await opened.close_all()


async def wait_until(condition: Callable[[], bool], what: str, limit_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


async def acked(reply: asyncio.Future[Mapping[str, Any]]) -> int:
    frame = await asyncio.wait_for(reply, WAIT_S)
    assert frame["type"] == "ack", frame
    seq: int = frame["seq"]
    return seq


async def flood(admin: Socket, label: str, count: int, *, stop: Callable[[], bool] | None = None) -> tuple[int, int]:
    """Chat as fast as the server acknowledges, up to WINDOW commands in flight, until ``count`` were
    sent and ``stop()`` holds. Returns (events sent, seq of the last)."""
    inflight: deque[asyncio.Future[Mapping[str, Any]]] = deque()
    last = sent = 0
    while sent < count or (stop is not None and not stop() and sent < FLOOD_MAX):
        if len(inflight) >= WINDOW:
            last = await acked(inflight.popleft())
        text = f"flood {label} {sent} ".ljust(CHAT_CHARS, "x")
        inflight.append(await admin.request({"type": "chat", "text": text}))
        sent += 1
    for reply in inflight:
        last = await acked(reply)
    return sent, last


async def settle(admin: Socket, live: list[Socket], seq: int) -> None:
    await wait_until(lambda: admin.seq >= seq and all(s.seq >= seq for s in live), f"every socket at seq {seq}")


async def paced_latencies(admin: Socket, live: list[Socket], label: str) -> list[float]:
    """Send PACED chats PACE_S apart; every live socket's delay between the send and the arrival."""
    sent: dict[str, float] = {}
    replies = []
    for k in range(PACED):
        text = f"paced {label} {k}"
        sent[text] = time.perf_counter()
        replies.append(await admin.request({"type": "chat", "text": text}))
        await asyncio.sleep(PACE_S)
    last_seq = max([await acked(reply) for reply in replies])
    await settle(admin, live, last_seq)
    return [s.arrivals[text] - at for s in live for text, at in sent.items()]


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[max(math.ceil(0.95 * len(ordered)) - 1, 0)]


async def read_until_closed(client: Socket) -> list[Mapping[str, Any]]:
    """Read a stalled socket at last: every frame that was waiting, up to the server's close."""
    frames = []
    with contextlib.suppress(ConnectionClosed):
        for _ in range(FLOOD_MAX + 100):
            frames.append(client.take(await asyncio.wait_for(client.ws.recv(), WAIT_S)))
    assert client.ws.close_code is not None, "the server never closed the stalled socket"
    return frames


# -- tests -----------------------------------------------------------------------------------------


@dataclass
class Run:
    """One run: a flood, then paced chats whose delays (send → arrival, every live socket) are measured."""

    label: str
    flood_events: int
    flood_s: float
    delays: list[float]

    def line(self) -> str:
        return (
            f"{self.label:<14} p95 {p95(self.delays) * 1000:6.1f} ms, max {max(self.delays) * 1000:6.1f} ms"
            f" (flood of {self.flood_events} events in {self.flood_s:.2f} s)"
        )


async def measured_run(admin: Socket, live: list[Socket], label: str, *, stop: Callable[[], bool] | None = None) -> Run:
    started = time.perf_counter()
    events, seq = await flood(admin, label, FLOOD, stop=stop)
    await settle(admin, live, seq)
    flood_s = time.perf_counter() - started
    return Run(label, events, flood_s, await paced_latencies(admin, live, label))


async def test_slow_clients_stalled_client_is_dropped_without_delaying_the_room(
    server: Server, sockets: Sockets
) -> None:
    names = ["admin", "stalled", *(f"live {n}" for n in range(LIVE_CLIENTS))]
    group_id, users = await asyncio.to_thread(make_room, server, names)
    (_, admin_token), (stalled_id, stalled_token), *live_users = users
    admin = await sockets.open_socket(group_id, "admin", admin_token)
    live: list[Socket] = []
    for start in range(0, LIVE_CLIENTS, JOIN_BATCH):
        batch = enumerate(live_users[start : start + JOIN_BATCH], start)
        live += await asyncio.gather(*(sockets.open_socket(group_id, f"live {n}", token) for n, (_, token) in batch))
    await wait_until(lambda: len(admin.joined) == LIVE_CLIENTS, "every live member joined")
    _, seq = await flood(admin, "warm-up", FLOOD // 4)
    await settle(admin, live, seq)

    before = await measured_run(admin, live, "baseline")

    # A member connects, reads its snapshot and never reads again; the flood goes on until the
    # server drops it (at least as long as the baseline's), then the same paced chats.
    stalled = await sockets.open_socket(group_id, "stalled", stalled_token, stalled=True)
    await wait_until(lambda: all(stalled_id in s.joined for s in [admin, *live]), "the stalled member joined")
    during = await measured_run(admin, live, "with stalled", stop=lambda: stalled_id in admin.left)

    # (a) The server closed it with 4008: the room saw it leave while it still was not reading, and
    # reading at last it gets what the server had written before, in order, then the close frame.
    await wait_until(lambda: all(stalled_id in s.left for s in [admin, *live]), "member_left of the stalled member")
    unread = stalled.pending_bytes()
    assert unread > 0, "the stalled socket's kernel buffer is empty: it was not stalled"
    frames = await read_until_closed(stalled)
    assert (stalled.ws.close_code, stalled.ws.close_reason) == (4008, "send queue full")
    assert stalled.problems == []
    never_sent = admin.seq - stalled.seq
    assert never_sent > 0, "the stalled socket got every event: the server never saw backpressure"

    # (b) Nobody else noticed. A second baseline, once the stalled socket is gone, brackets the run
    # with it in time (the machine's load drifts; a slower server would show in both baselines).
    after = await measured_run(admin, live, "baseline again")
    print(
        f"\n{LIVE_CLIENTS} live clients, {PACED} paced chats per run, delays send → arrival:"
        f"\n  {before.line()}\n  {during.line()}\n  {after.line()}"
        f"\n  stalled socket: {unread} bytes unread in its kernel buffer; read {sum(map(_is_event, frames))}"
        f" events and close 4008; {never_sent} events never sent to it"
    )
    baseline_p95 = max(p95(before.delays), p95(after.delays))
    assert p95(during.delays) <= 2 * baseline_p95 + 0.020
    for client in [admin, *live]:
        assert client.problems == [], (client.name, client.problems[:3])
        assert client.ws.close_code is None, f"{client.name} was closed: {client.ws.close_code}"
    server.assert_no_errors()


async def test_slow_clients_laggard_resumes_with_exactly_the_missed_events(server: Server, sockets: Sockets) -> None:
    group_id, users = await asyncio.to_thread(make_room, server, ["admin", "reference", "laggard"])
    (_, admin_token), (_, reference_token), (laggard_id, laggard_token) = users
    admin = await sockets.open_socket(group_id, "admin", admin_token)
    reference = await sockets.open_socket(group_id, "reference", reference_token, keep_raw=True)
    laggard = await sockets.open_socket(group_id, "laggard", laggard_token, stalled=True)
    await wait_until(lambda: laggard_id in reference.joined, "the laggard joined")

    await flood(admin, "lag", FLOOD // 4, stop=lambda: laggard_id in admin.left)
    assert laggard_id in admin.left
    for n in range(3):
        await acked(await admin.request({"type": "chat", "text": f"while away {n}"}))
    frames = await read_until_closed(laggard)
    assert laggard.ws.close_code == 4008, (laggard.ws.close_code, laggard.ws.close_reason)
    assert laggard.problems == [] and any(_is_event(f) for f in frames)
    resume = {"epoch": laggard.epoch, "seq": laggard.seq}  # the last event it read
    await wait_until(lambda: reference.seq >= admin.seq, "the reference to catch up")
    assert reference.seq > laggard.seq

    back = await sockets.open_socket(group_id, "laggard again", laggard_token, resume=resume, keep_raw=True)
    assert dict(back.first) | {"server_time": 0} == {"type": "resumed", **resume, "server_time": 0}
    # Its rejoin is announced in the replay or live, as its presence window falls.
    await wait_until(lambda: laggard_id in back.joined, "the replay up to the rejoin")
    await wait_until(lambda: reference.seq >= back.seq, "the reference to see the rejoin")
    replayed = sorted(back.raw)
    assert replayed == list(range(resume["seq"] + 1, back.seq + 1)), "a gap, a duplicate or a partial replay"
    assert all(back.raw[seq] == reference.raw[seq] for seq in replayed), "replayed events differ from the live ones"
    assert [f"while away {n}" for n in range(3)] == [t for t in back.arrivals if t.startswith("while away")]

    # And it is live again from there.
    seq = await acked(await admin.request({"type": "chat", "text": "welcome back"}))
    await wait_until(lambda: back.seq >= seq, "the next live event")
    assert "welcome back" in back.arrivals
    for client in (admin, reference, back):
        assert client.problems == [], (client.name, client.problems[:3])
    server.assert_no_errors()
