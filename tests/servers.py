"""Real server processes sharing one PostgreSQL database and one Redis, and async clients for them.

``Cluster`` starts N ``python -m rooms_server`` processes (uvicorn) on free ports of 127.0.0.1,
each logging to a file of its own in a work directory, all with the same database, the same Redis
under a prefix of their own (``REDIS_PREFIX``, whose keys are deleted at teardown) and the same
secret. ``start()`` returns once every process answers ``/readyz``; ``kill(i, signal)`` signals one
process; ``stop()`` terminates them all.

``Api`` is a small HTTP client (stdlib ``urllib``, run in a thread from async code), and
``RoomClient`` a room socket on ``websockets``' asyncio API: it sends ``hello``, reads every frame
in a background task, validates each frame sent or received against docs/asyncapi.yaml, checks that
events arrive without gap or duplicate, and lets a test wait for frames. Only 127.0.0.1 is used, and
proxies configured in the environment are ignored.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import itertools
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson
import redis
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.asyncapi_frames import validate_client_frame, validate_server_frame
from tests.ws_client import fields_match

HOST = "127.0.0.1"
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
WAIT_TIMEOUT_S = 10.0
# What a server process inherits from the caller's environment: nothing of the server's own
# configuration (no database, no music-service credentials that would make it call the network).
_INHERITED = frozenset({"PATH", "HOME", "LANG", "TZ", "TMPDIR", "VIRTUAL_ENV", "SYSTEMROOT"})
_INHERITED_PREFIXES = ("LC_", "PYTHON", "COVERAGE_")
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def youtube_url(title: str) -> str:
    """A well-formed YouTube link (an 11-character id) derived from a title; never fetched."""
    video_id = base64.urlsafe_b64encode(hashlib.sha256(title.encode()).digest()).decode()[:11]
    return f"https://youtu.be/{video_id}"


def add_frame(title: str, duration_s: int = 180) -> dict[str, Any]:
    """An ``add`` command with the title and duration a client sends when no provider is configured."""
    return {"type": "add", "service": "youtube", "url": youtube_url(title), "title": title, "duration": duration_s}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def free_cluster_port() -> int:
    """A free port whose cluster bus port (10000 higher, at most 65535) is free too."""
    for _ in range(200):
        port = random.randint(20_000, 55_000)
        with contextlib.ExitStack() as stack:
            try:
                for candidate in (port, port + 10_000):
                    sock = stack.enter_context(socket.socket())
                    sock.bind((HOST, candidate))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port pair for a Redis Cluster node")


class PrivateRedis:
    """A ``redis-server`` of one test on a free port (no persistence), which the test may restart
    without disturbing anything else that shares the machine's Redis (other tests, other sessions)."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.cluster_args: list[str] = []

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def start(self, *, cluster: bool = False) -> PrivateRedis:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if cluster:  # its cluster config lives in its work directory; a restart keeps its slots
            self.cluster_args = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
        args = [
            *self.cluster_args,
            "--port",
            str(self.port),
            "--bind",
            HOST,
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.workdir),
        ]
        with open(self.workdir / f"redis-{self.port}.log", "ab") as log:
            self.process = subprocess.Popen(["redis-server", *args], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not self.answers():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"redis-server on port {self.port} did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        """``SHUTDOWN NOSAVE``: the data is gone, as after a crash of a Redis without persistence."""
        if self.process is None or self.process.poll() is not None:
            return
        client = redis.Redis(host=HOST, port=self.port, socket_timeout=2)
        with contextlib.suppress(redis.RedisError):
            client.shutdown(nosave=True)
        client.close()
        try:
            self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(STOP_TIMEOUT_S)

    def restart(self) -> None:
        self.stop()
        self.start()

    def answers(self) -> bool:
        client = redis.Redis(host=HOST, port=self.port, socket_timeout=1, socket_connect_timeout=1)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()


class PrivateRedisCluster:
    """A Redis Cluster of three primaries (no replicas) on free ports, for the cluster tests: each
    node a ``redis-server --cluster-enabled yes`` of its own, joined by ``redis-cli --cluster create``."""

    def __init__(self, workdir: Path, size: int = 3) -> None:
        self.nodes = [PrivateRedis(workdir / f"node-{index}", free_cluster_port()) for index in range(size)]

    @property
    def url(self) -> str:
        """The engine URL naming every node: ``redis+cluster://127.0.0.1:p1,127.0.0.1:p2,…``."""
        return "redis+cluster://" + ",".join(f"{HOST}:{node.port}" for node in self.nodes)

    def start(self) -> PrivateRedisCluster:
        try:
            return self._start()
        except BaseException:
            self.stop()  # no node outlives a cluster that could not form
            raise

    def _start(self) -> PrivateRedisCluster:
        for node in self.nodes:
            node.start(cluster=True)
        addresses = [f"{HOST}:{node.port}" for node in self.nodes]
        subprocess.run(
            ["redis-cli", "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=READY_TIMEOUT_S,
        )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not all(self._state_ok(node.port) for node in self.nodes):
            if time.monotonic() > deadline:
                raise RuntimeError("the Redis Cluster did not reach cluster_state:ok")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    @staticmethod
    def _state_ok(port: int) -> bool:
        client = redis.Redis(host=HOST, port=port, socket_timeout=1)
        try:
            return client.cluster("info").get("cluster_state") == "ok"
        except redis.RedisError:
            return False
        finally:
            client.close()


def redis_client(url: str) -> redis.Redis | redis.RedisCluster:
    """A blocking client for an engine URL, one server or a cluster (for tests' own reads and cleanup)."""
    if url.startswith(("redis+cluster://", "rediss+cluster://")):
        scheme, _, nodes = url.partition("://")
        first = nodes.split(",")[0].split("/")[0]
        return redis.RedisCluster.from_url(f"{scheme.removesuffix('+cluster')}://{first}")
    return redis.Redis.from_url(url)


class PrivatePostgres:
    """A PostgreSQL cluster of one test (``initdb`` + ``pg_ctl`` on a free port, trust auth, run as
    the ``postgres`` user when we are root), which the test may stop and start: never the machine's
    shared cluster. Its data lives in a directory of its own, removed by ``destroy()``."""

    def __init__(self) -> None:
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
        if not found:
            raise RuntimeError("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
        self.bin = found[-1].parent
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="rooms-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            shutil.chown(self.root, "postgres", "postgres")

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@{HOST}:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)

    def start(self) -> PrivatePostgres:
        if not self.data.exists():
            self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
        options = f"-p {self.port} -c listen_addresses={HOST} -k {self.root} -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "30", "start")
        return self

    def stop(self) -> None:
        """A fast shutdown: open connections are cut, as in a restart by an operator or a failover."""
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "30", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


# -- server processes ------------------------------------------------------------------------------


@dataclass
class ServerProcess:
    index: int
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    log_file: IO[bytes]

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{HOST}:{self.port}"

    def log(self) -> str:
        if not self.log_file.closed:
            self.log_file.flush()
        return self.log_path.read_text(errors="replace")


class Cluster:
    """N server processes on one (already migrated) database and one Redis prefix.

    With ``redis_url=""`` the processes run the in-process engine (``memory://``): for tests of one
    process on SQLite that need nothing but the process itself."""

    def __init__(
        self, database_url: str, redis_url: str, workdir: Path, *, env: Mapping[str, str] | None = None
    ) -> None:
        self.database_url = database_url
        self.redis_url = redis_url
        self.workdir = workdir
        self.prefix = f"mp-{secrets.token_hex(6)}:"
        self.env = dict(env or {})
        self.servers: list[ServerProcess] = []
        self.clients: list[RoomClient] = []
        self._secret = secrets.token_urlsafe(32)
        self._stopped = False

    # -- processes -------------------------------------------------------------------------------

    def start(self, count: int) -> Cluster:
        """Start ``count`` processes at once, then wait until each one is ready."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        for _ in range(count):
            self.servers.append(self._spawn(len(self.servers)))
        for index in range(len(self.servers)):
            self._wait_ready(index)
        return self

    def _spawn(self, index: int, port: int | None = None) -> ServerProcess:
        port = port or free_port()
        env = {k: v for k, v in os.environ.items() if k in _INHERITED or k.startswith(_INHERITED_PREFIXES)}
        env.update(
            PORT=str(port),
            HOST=HOST,
            DATABASE_URL=self.database_url,
            REDIS_URL=self.redis_url,
            REDIS_PREFIX=self.prefix,
            PUBLIC_BASE_URL=f"http://{HOST}:{port}",
            SECRET_KEY=self._secret,
            SECRETS_FILE=str(self.workdir / ".rooms-secrets.json"),
            MIGRATE_ON_START="0",
            PYTHONUNBUFFERED="1",
        )
        env.update(self.env)
        log_path = self.workdir / f"server-{index}-{port}.log"
        log_file = log_path.open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "rooms_server"],
            cwd=self.workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        return ServerProcess(index, port, process, log_path, log_file)

    def _wait_ready(self, index: int) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            server = self.servers[index]
            if server.process.poll() is not None:
                output = server.log()
                if "address already in use" in output.lower():  # lost the free-port race: once more
                    server.log_file.close()
                    self.servers[index] = self._spawn(index)
                    continue
                raise RuntimeError(f"server {index} exited with {server.process.returncode}:\n{output[-4000:]}")
            try:
                with _NO_PROXY.open(f"{server.base_url}/readyz", timeout=1) as response:
                    if response.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server {index} not ready within {READY_TIMEOUT_S}s:\n{self.servers[index].log()[-4000:]}")

    def __getitem__(self, index: int) -> ServerProcess:
        return self.servers[index]

    def api(self, index: int) -> Api:
        return Api(self.servers[index].base_url)

    def kill(self, index: int, sig: int = signal.SIGKILL, *, wait: bool = True) -> None:
        """Send ``sig`` to one process; wait for it to exit unless told not to."""
        process = self.servers[index].process
        if process.poll() is None:
            process.send_signal(sig)
        if wait:
            process.wait(STOP_TIMEOUT_S)

    def stop(self) -> None:
        """Terminate every process (SIGKILL after a grace period) and delete this cluster's Redis keys."""
        if self._stopped:
            return
        self._stopped = True
        for server in self.servers:
            if server.process.poll() is None:
                server.process.terminate()
        for server in self.servers:
            try:
                server.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                server.process.kill()
                server.process.wait(STOP_TIMEOUT_S)
            server.log_file.close()
        self.delete_redis_keys()

    def delete_redis_keys(self, pattern: str = "*") -> int:
        """Delete this cluster's keys matching ``<prefix><pattern>`` (never anything outside the prefix)."""
        if not self.redis_url:
            return 0
        client = redis_client(self.redis_url)
        try:
            keys = list(client.scan_iter(f"{self.prefix}{pattern}", count=1000))
            with client.pipeline(transaction=False) as pipe:  # one DEL per key: a cluster's keys span slots
                for key in keys:
                    pipe.delete(key)
                pipe.execute()
            return len(keys)
        finally:
            client.close()

    def group_key(self, group_id: str, suffix: str = "") -> str:
        """A group's Redis key, as the engine names it (docs/DESIGN.md)."""
        return f"{self.prefix}g:{{{group_id}}}{suffix}"

    # -- clients ---------------------------------------------------------------------------------

    async def connect(
        self, index: int, guest: Guest, group_id: str, *, resume: dict[str, Any] | None = None
    ) -> RoomClient:
        """A room socket on process ``index``, past its first frame; closed by ``close_clients``."""
        client = await RoomClient.open(self.servers[index].ws_url, guest, group_id, resume=resume)
        self.clients.append(client)
        return client

    async def close_clients(self) -> None:
        clients, self.clients = self.clients, []
        await asyncio.gather(*(client.close() for client in clients), return_exceptions=True)


# -- HTTP ------------------------------------------------------------------------------------------


class HttpError(Exception):
    def __init__(self, method: str, url: str, status: int, body: str) -> None:
        super().__init__(f"{method} {url} -> {status}: {body[:500]}")
        self.status = status
        self.body = body


@dataclass(frozen=True, slots=True)
class Guest:
    id: str
    name: str
    token: str


class Api:
    """The HTTP API of one process; sync calls, with ``async`` wrappers that run them in a thread."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def call(self, method: str, path: str, body: object = None, token: str | None = None) -> Any:
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = orjson.dumps(body)
            headers["Content-Type"] = "application/json"
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        url = f"{self.base_url}{path}"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with _NO_PROXY.open(request, timeout=WAIT_TIMEOUT_S) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise HttpError(method, url, exc.code, exc.read().decode(errors="replace")) from None
        return orjson.loads(raw) if raw else None

    async def acall(self, method: str, path: str, body: object = None, token: str | None = None) -> Any:
        return await asyncio.to_thread(self.call, method, path, body, token)

    async def guest(self, name: str) -> Guest:
        body = await self.acall("POST", "/api/users", {"name": name})
        return Guest(body["user"]["id"], name, body["token"])

    async def create_group(self, owner: Guest, name: str, *, is_public: bool = True) -> str:
        body = await self.acall("POST", "/api/groups", {"name": name, "is_public": is_public}, owner.token)
        group_id: str = body["id"]
        return group_id

    async def join(self, guest: Guest, group_id: str) -> None:
        await self.acall("POST", f"/api/groups/{group_id}/join", None, guest.token)

    async def set_role(self, admin: Guest, group_id: str, user_id: str, role: str) -> None:
        await self.acall("PATCH", f"/api/groups/{group_id}/members/{user_id}", {"role": role}, admin.token)

    async def add_track(self, guest: Guest, group_id: str, title: str, duration_s: int = 180) -> int:
        """Add a track over HTTP; returns the seq after its events."""
        body = {"service": "youtube", "url": youtube_url(title), "title": title, "duration": duration_s}
        reply = await self.acall("POST", f"/api/groups/{group_id}/tracks", body, guest.token)
        seq: int = reply["seq"]
        return seq

    async def playlist(self, guest: Guest, group_id: str) -> dict[str, Any]:
        body: dict[str, Any] = await self.acall("GET", f"/api/groups/{group_id}/playlist", None, guest.token)
        return body


# -- room sockets ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Frame:
    """One server frame: its exact text, its decoded object, and when it arrived (perf_counter)."""

    text: str
    data: dict[str, Any]
    at: float

    @property
    def type(self) -> str:
        kind: str = self.data["type"]
        return kind

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def fits(self, kind: str, match: Mapping[str, Any]) -> bool:
        return self.type == kind and fields_match(self.data, dict(match))


_ids = itertools.count(1)


@dataclass(eq=False)
class RoomClient:
    """A phone's room socket: hello, then a reader task that validates and records every frame.

    ``frames`` holds every frame after the first one; ``events`` only the events (frames with
    ``epoch`` and ``seq``), whose continuity is checked as they arrive. A validation or continuity
    failure is kept in ``failure`` and raised by every wait.
    """

    ws: ClientConnection
    guest: Guest
    group_id: str
    first: Frame
    epoch: str
    seq: int
    frames: list[Frame] = field(default_factory=list)
    events: list[Frame] = field(default_factory=list)
    failure: BaseException | None = None
    close_code: int | None = None
    _cursor: int = 0
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _closed: asyncio.Event = field(default_factory=asyncio.Event)
    _reader: asyncio.Task[None] | None = None

    @classmethod
    async def open(
        cls, ws_base_url: str, guest: Guest, group_id: str, *, resume: dict[str, Any] | None = None
    ) -> RoomClient:
        ws = await connect(
            f"{ws_base_url}/ws/groups/{group_id}",
            proxy=None,
            compression=None,
            open_timeout=WAIT_TIMEOUT_S,
            close_timeout=2,
            max_size=2**20,
            max_queue=None,  # never stall the server's writes: the reader task drains as fast as it can
        )
        try:
            hello: dict[str, Any] = {"type": "hello", "token": guest.token}
            if resume is not None:
                hello["resume"] = resume
            await ws.send(_encode_client(hello))
            async with asyncio.timeout(WAIT_TIMEOUT_S):
                text = await ws.recv()
            first = _decode_server(text)
            if first.type not in ("snapshot", "resumed"):
                raise AssertionError(f"the first frame must be snapshot or resumed, got {first.text}")
        except BaseException:
            await ws.close()
            raise
        client = cls(ws, guest, group_id, first, first["epoch"], first["seq"])
        client._reader = asyncio.create_task(client._read(), name=f"reader-{guest.name}")
        return client

    async def _read(self) -> None:
        try:
            while True:
                text = await self.ws.recv()
                frame = _decode_server(text)
                if frame.type not in ("snapshot", "resumed") and "epoch" in frame.data and "seq" in frame.data:
                    if frame["epoch"] != self.epoch or frame["seq"] != self.seq + 1:
                        raise AssertionError(
                            f"{self.guest.name}: after {self.epoch}:{self.seq} got {frame['epoch']}:{frame['seq']}"
                        )
                    self.seq = frame["seq"]
                    self.events.append(frame)
                self.frames.append(frame)
                self._changed.set()
        except ConnectionClosed:
            pass
        except Exception as exc:  # kept for the test: a reader task's exception would go unseen
            self.failure = exc
        finally:
            self.close_code = self.ws.close_code
            self._closed.set()
            self._changed.set()

    # -- sending ---------------------------------------------------------------------------------

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(_encode_client(frame))

    async def command(self, frame: dict[str, Any], *, wait_s: float = WAIT_TIMEOUT_S) -> Frame:
        """Send a command with a fresh id; return its ``ack`` or ``error`` (other frames stay unclaimed)."""
        frame = {**frame, "id": frame.get("id") or f"{self.guest.name[:20]}-{next(_ids)}"}
        start = len(self.frames)
        await self.send(frame)
        return await self.wait(
            lambda f: f.type in ("ack", "error") and f.get("id") == frame["id"], start=start, wait_s=wait_s
        )

    # -- waiting ---------------------------------------------------------------------------------

    async def wait(
        self, predicate: Callable[[Frame], bool], *, start: int = 0, wait_s: float = WAIT_TIMEOUT_S
    ) -> Frame:
        """The first frame at index >= ``start`` matching ``predicate``, waiting up to ``wait_s``."""
        return self.frames[await self._find(predicate, start, wait_s)]

    async def _find(self, predicate: Callable[[Frame], bool], start: int, wait_s: float) -> int:
        index = start
        try:
            async with asyncio.timeout(wait_s):
                while True:
                    self._raise_failure()
                    while index < len(self.frames):
                        if predicate(self.frames[index]):
                            return index
                        index += 1
                    if self._closed.is_set():
                        raise AssertionError(f"{self.guest.name}: socket closed ({self.close_code}) while waiting")
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(f"{self.guest.name}: nothing matched within {wait_s}s") from None

    async def find(self, kind: str, *, start: int = 0, wait_s: float = WAIT_TIMEOUT_S, **match: Any) -> Frame:
        """The first frame of this type (and fields) at index >= ``start``; claims nothing."""
        return await self.wait(lambda f: f.fits(kind, match), start=start, wait_s=wait_s)

    async def until(self, kind: str, *, wait_s: float = WAIT_TIMEOUT_S, **match: Any) -> Frame:
        """The next unclaimed frame of this type (and fields); frames before it are passed over."""
        index = await self._find(lambda f: f.fits(kind, match), self._cursor, wait_s)
        self._cursor = index + 1
        return self.frames[index]

    async def closed(self, *, wait_s: float = WAIT_TIMEOUT_S) -> int | None:
        """Wait until the server closes the socket; its close code."""
        try:
            async with asyncio.timeout(wait_s):
                await self._closed.wait()
        except TimeoutError:
            raise AssertionError(f"{self.guest.name}: socket still open after {wait_s}s") from None
        self._raise_failure()
        return self.close_code

    def of_type(self, kind: str, **match: Any) -> list[Frame]:
        return [frame for frame in self.frames if frame.fits(kind, match)]

    def resume_point(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "seq": self.seq}

    def _raise_failure(self) -> None:
        if self.failure is not None:
            raise AssertionError(f"{self.guest.name}: bad frame from the server: {self.failure}") from self.failure

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._reader, 5)


def _encode_client(frame: dict[str, Any]) -> str:
    validate_client_frame(frame)
    return orjson.dumps(frame).decode()


def _decode_server(text: str | bytes) -> Frame:
    at = time.perf_counter()
    if not isinstance(text, str):
        raise AssertionError(f"the server sent a binary frame: {text!r:.200}")
    return Frame(text, validate_server_frame(text), at)


StartServers = Callable[..., Awaitable[Cluster]]


async def shared_room(cluster: Cluster, *names: str) -> tuple[str, list[Guest]]:
    """A public group made by the first guest (its admin) and joined by the others, over every process."""
    guests = [await cluster.api(i % len(cluster.servers)).guest(name) for i, name in enumerate(names)]
    group_id = await cluster.api(0).create_group(guests[0], f"Room of {names[0]}")
    for i, guest in enumerate(guests[1:], start=1):
        await cluster.api(i % len(cluster.servers)).join(guest, group_id)
    return group_id, guests


def assert_ack(reply: Frame) -> Frame:
    assert reply.type == "ack", reply.text
    return reply
