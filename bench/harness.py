"""Processes of a benchmark: servers (ours, the reference), load-generator workers, the host.

Servers run pinned to ``SERVER_CPUS`` and everything of the harness (this process and its
workers) to ``HARNESS_CPUS`` with ``taskset`` / ``sched_setaffinity``, when the machine has at
least two CPUs. Server CPU time and memory are read from ``/proc/<pid>``. Every process started
here is stopped by the object that started it, and every wait is bounded.
"""

# ruff: noqa: ASYNC109, ASYNC220, ASYNC230 - a benchmark harness, not the server

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bench.client import HOST, Http, HttpError, WsClient

ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
TWO_CPUS = (os.cpu_count() or 1) >= 2
SERVER_CPUS = os.environ.get("BENCH_SERVER_CPUS", "0" if TWO_CPUS else "")
HARNESS_CPUS = os.environ.get("BENCH_HARNESS_CPUS", "1" if TWO_CPUS else "")
READY_TIMEOUT_S = 30.0

# Limits raised for load: one host sends far more than 20 commands/s, listeners share users.
BENCH_ENV = {
    "COMMANDS_PER_SECOND": "1000000",
    "COMMAND_BURST": "1000000",
    "MAX_CONNECTIONS_PER_USER": "1000000",
    "MAX_QUEUE_TRACKS": "5000",
    "CONNECT_ATTEMPTS_PER_MINUTE": "0",  # per-IP limits: every client here is 127.0.0.1
    "INVITE_JOINS_PER_MINUTE": "0",
    "ACCESS_LOG": "false",  # as in production (ROOMS_ENV=production): a line per request is a debugging aid
}


def pin_harness() -> None:
    if HARNESS_CPUS:
        os.sched_setaffinity(0, {int(c) for c in HARNESS_CPUS.split(",")})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _pinned(cmd: list[str], cpus: str) -> list[str]:
    return ["taskset", "-c", cpus, *cmd] if cpus and shutil.which("taskset") else cmd


# -- process metrics -----------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_kb(pid: int) -> int:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_KB


# -- servers ---------------------------------------------------------------------------------------


@dataclass
class Server:
    """One server process on a free port of 127.0.0.1 (ours or the reference)."""

    kind: (
        str  # "ours" | "ours-ws" (bench.ws_server) | "reference" | "starlette" (bench.bare_starlette, memory baseline)
    )
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    cpus: str = SERVER_CPUS
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    trace_dir: Path | None = None  # run under bench.memtrace (tracemalloc snapshots on request)
    ws_port: int = 0  # where room sockets connect: the port, or ours-ws's second listener

    def __post_init__(self) -> None:
        self.ws_port = free_port() if self.kind == "ours-ws" else self.port

    async def start(self, workdir: Path) -> Server:
        self.log_path = workdir / f"{self.kind}-{self.port}.log"
        if self.kind == "ours":
            module = ["rooms_server"]
        elif self.kind == "ours-ws":
            module = ["bench.ws_server"]
            self.env = {**self.env, "WS_PORT": str(self.ws_port)}
        elif self.kind == "starlette":
            module = ["bench.bare_starlette", "--port", str(self.port)]
        else:
            module = ["bench.reference", "--port", str(self.port)]
        trace = [] if self.trace_dir is None else ["bench.memtrace", str(self.trace_dir)]
        cmd = [sys.executable, "-m", *trace, *module]
        env = {**os.environ, **self.env, "PORT": str(self.port), "HOST": HOST}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("BENCH_EXTRA_PYTHONPATH", "")) if p)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                _pinned(cmd, self.cpus), env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT
            )
        await self._ready()
        return self

    async def _ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} server exited: {self.log_tail()}")
            try:
                if self.kind.startswith("ours"):
                    http = Http(self.port)
                    await http.request("GET", "/healthz")
                    await http.close()
                else:
                    _, writer = await asyncio.open_connection(HOST, self.port)
                    writer.close()
                return
            except (OSError, HttpError):
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.kind} server not ready after {READY_TIMEOUT_S}s: {self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def rss(self) -> int:
        return rss_kb(self.pid)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def ours_env(
    workdir: Path, *, database_url: str | None = None, redis_url: str | None = None, prefix: str = ""
) -> dict[str, str]:
    env = {
        **BENCH_ENV,
        "DATABASE_URL": database_url or f"sqlite+aiosqlite:///{workdir}/rooms.db",
        "SECRET_KEY": "bench-secret-" + secrets.token_hex(8),
        "SECRETS_FILE": str(workdir / "secrets.json"),
        "PUBLIC_BASE_URL": "http://127.0.0.1:8000",
    }
    if redis_url:
        env["REDIS_URL"] = redis_url
        env["REDIS_PREFIX"] = prefix or f"bench:{secrets.token_hex(4)}:"
    return env


@contextlib.contextmanager
def workdir() -> Any:
    """A temporary directory for databases and server logs; ``BENCH_KEEP=1`` keeps it (path on stderr)."""
    path = Path(tempfile.mkdtemp(prefix="rooms-bench-"))
    try:
        yield path
    finally:
        if os.environ.get("BENCH_KEEP"):
            print(f"# kept {path}", file=sys.stderr)
        else:
            shutil.rmtree(path, ignore_errors=True)


class RedisServer:
    """A private ``redis-server`` on a free port (no persistence), so that nothing else sharing the
    machine's Redis (a test that restarts it, say) disturbs a run, and a run disturbs nothing."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self, workdir: Path) -> str:
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("redis-server is not installed")
        args = ["--port", str(self.port), "--bind", HOST, "--save", "", "--appendonly", "no", "--dir", str(workdir)]
        with open(workdir / f"redis-{self.port}.log", "wb") as log:
            self.proc = subprocess.Popen([exe, *args], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                _, writer = await asyncio.open_connection(HOST, self.port)
                writer.close()
                return f"redis://{HOST}:{self.port}/0"
            except OSError:
                await asyncio.sleep(0.05)
        raise RuntimeError("private redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@contextlib.asynccontextmanager
async def redis_for(url: str, workdir: Path) -> Any:
    """``url``, or a private redis-server's URL when ``url`` is ``private``."""
    if url != "private":
        yield url
        return
    server = RedisServer()
    try:
        yield await server.start(workdir)
    finally:
        server.stop()


# -- load-generator workers ------------------------------------------------------------------------


class Worker:
    """A ``bench.loadgen`` process, driven one request / one reply at a time."""

    def __init__(self) -> None:
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> Worker:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = await asyncio.create_subprocess_exec(
            *_pinned([sys.executable, "-m", "bench.loadgen"], HARNESS_CPUS),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=env,
            limit=1 << 30,
        )
        return self

    async def call(self, op: str, timeout: float = 120.0, **args: Any) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(orjson.dumps({"op": op, **args}) + b"\n")
        await self.proc.stdin.drain()
        line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        if not line:
            raise RuntimeError(f"load generator died during {op}")
        reply: dict[str, Any] = orjson.loads(line)
        if "error" in reply:
            raise RuntimeError(f"load generator {op}: {reply['error']}")
        return reply

    async def stop(self) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        with contextlib.suppress(Exception):
            await self.call("close", timeout=10)
        try:
            await asyncio.wait_for(self.proc.wait(), 5)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()


class Workers:
    def __init__(self, count: int) -> None:
        self.items = [Worker() for _ in range(count)]

    async def __aenter__(self) -> Workers:
        await asyncio.gather(*(w.start() for w in self.items))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.gather(*(w.stop() for w in self.items))

    async def all(self, op: str, timeout: float = 120.0, **args: Any) -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(w.call(op, timeout, **args) for w in self.items)))

    async def cpu(self) -> float:
        return float(sum(r["cpu_s"] for r in await self.all("usage")))

    async def open_spread(self, conns: list[tuple[int, str, str, int]], concurrency: int = 200) -> dict[str, Any]:
        """conns: (port, path, token, tag); spread round-robin over the workers, grouped by port."""
        plan: list[dict[int, list[list[Any]]]] = [{} for _ in self.items]
        for i, (port, path, token, tag) in enumerate(conns):
            plan[i % len(self.items)].setdefault(port, []).append([path, token, tag])
        t0 = time.monotonic()
        opened, errors = 0, {}  # type: int, dict[str, int]

        async def run(worker: Worker, by_port: dict[int, list[list[Any]]]) -> None:
            nonlocal opened
            for port, items in by_port.items():
                reply = await worker.call("open", 1200, port=port, conns=items, concurrency=concurrency)
                opened += reply["opened"]
                for k, v in reply["errors"].items():
                    errors[k] = errors.get(k, 0) + v

        await asyncio.gather(*(run(w, p) for w, p in zip(self.items, plan, strict=True)))
        return {"opened": opened, "errors": errors, "s": time.monotonic() - t0}


# -- the host: one admin socket that sends commands ---------------------------------------------


class Host:
    """An admin's socket in a group; sends skip/previous alternately and records acks."""

    def __init__(self) -> None:
        self.sock: WsClient | None = None
        self.first: asyncio.Future[dict[str, Any]] | None = None
        self.track_ids: list[int] = [1, 2]
        self.index = 0
        self.acks: list[tuple[int, int, int]] = []  # (command number, ack seq, ack arrival ns)
        self.sent: list[int] = []  # send time of command i
        self.errors: dict[str, int] = {}
        self.window: asyncio.Semaphore | None = None
        self.idle = asyncio.Event()
        self._outstanding = 0
        self._ids = itertools.count()

    async def connect(self, port: int, path: str, token: str) -> Host:
        self.first = asyncio.get_running_loop().create_future()
        self.sock = await WsClient.open(port, path, self._on_text)
        self.sock.send_json({"type": "hello", "token": token})
        snapshot = await asyncio.wait_for(self.first, 30)
        tracks = snapshot.get("playlist", {}).get("tracks")
        if tracks:
            self.track_ids = [t["id"] for t in tracks]
            self.index = snapshot["playlist"]["current_index"]
        return self

    def _on_text(self, sock: WsClient, payload: bytes, t_ns: int) -> None:
        if self.first is not None and not self.first.done():
            self.first.set_result(orjson.loads(payload))
            return
        if payload.startswith(b'{"type":"ack"'):
            frame = orjson.loads(payload)
            self.acks.append((int(frame["id"]), frame["seq"], t_ns))
            self._settle()
        elif payload.startswith(b'{"type":"error"'):
            frame = orjson.loads(payload)
            self.errors[frame["code"]] = self.errors.get(frame["code"], 0) + 1
            self._settle()

    def _settle(self) -> None:
        self._outstanding -= 1
        if self.window is not None:
            self.window.release()
        if self._outstanding == 0:
            self.idle.set()

    def send_command(self) -> None:
        """skip from track 0 to 1, previous from 1 to 0, and so on: always valid, always 2 events."""
        assert self.sock is not None
        n = next(self._ids)
        current = self.track_ids[self.index]
        kind = "skip" if self.index == 0 else "previous"
        self.index = 1 - self.index
        self._outstanding += 1
        self.idle.clear()
        self.sent.append(time.monotonic_ns())
        self.sock.send_json({"type": kind, "id": str(n), "expected_track_id": current})

    async def paced(self, count: int, rate: float) -> None:
        start = time.monotonic()
        for i in range(count):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            self.send_command()
        await self.settle(60)

    async def settle(self, timeout: float) -> None:
        """Wait for every answer; after ``timeout`` the missing ones are counted as ``unanswered``."""
        try:
            await asyncio.wait_for(self.idle.wait(), timeout)
        except TimeoutError:
            self.errors["unanswered"] = self._outstanding

    async def flood(self, count: int, window: int) -> None:
        self.window = asyncio.Semaphore(window)
        for _ in range(count):
            try:
                await asyncio.wait_for(self.window.acquire(), 60)
            except TimeoutError:
                break
            self.send_command()
        await self.settle(60)
        self.window = None

    def event_send_times(self) -> list[list[int]]:
        """(seq, send time) of the event each acknowledged command produced: one per skip or
        previous since issue 15 (two, index and playback, before it; mapping two here afterwards
        gave each event the next command's send time, and negative latencies)."""
        return [[seq, self.sent[n]] for n, seq, _ in self.acks]

    def ack_latencies_ms(self) -> list[float]:
        return sorted((t - self.sent[n]) / 1e6 for n, _, t in self.acks)

    def reset(self) -> None:
        self.acks.clear()
        self.sent.clear()
        self.errors.clear()
        self._ids = itertools.count()
        self._outstanding = 0
        self.idle.set()

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()


# -- statistics ----------------------------------------------------------------------------------


def percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))]


def summary_ms(values: list[float]) -> dict[str, float | None]:
    values = sorted(values)
    return {
        "p50": _r(percentile(values, 0.50)),
        "p95": _r(percentile(values, 0.95)),
        "p99": _r(percentile(values, 0.99)),
        "max": _r(values[-1] if values else None),
    }


def hist_summary_ms(hist: dict[int, int], max_ns: int) -> dict[str, float | None]:
    """Percentiles from merged 1 %-wide log buckets (each reported at its upper edge)."""
    total = sum(hist.values())
    out: dict[str, float | None] = {}
    for name, q in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99)):
        target, seen, value = q * total, 0, None
        for key in sorted(hist):
            seen += hist[key]
            if seen >= target:
                value = math.exp((key + 1) / 100) / 1e6
                break
        out[name] = _r(min(value, max_ns / 1e6) if value is not None else None)
    out["max"] = _r(max_ns / 1e6 if total else None)
    return out


def merge_hists(parts: list[dict[str, Any]]) -> tuple[dict[int, int], int, int]:
    hist: dict[int, int] = {}
    n = mx = 0
    for part in parts:
        for k, v in part["hist"].items():
            hist[int(k)] = hist.get(int(k), 0) + v
        n += part["n"]
        mx = max(mx, part["max"])
    return hist, n, mx


def _r(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def ratio(ours: float | None, reference: float | None) -> float | None:
    if ours is None or not reference:
        return None
    return round(ours / reference, 3)


# -- profiling -----------------------------------------------------------------------------------


class Profiler:
    """``BENCH_PROFILE=DIR``: record the servers with py-spy (collapsed stacks) while a run lasts."""

    def __init__(self, servers: list[Server], label: str) -> None:
        self.dir = os.environ.get("BENCH_PROFILE")
        self.servers = servers
        self.label = label
        self.procs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Profiler:
        spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        if self.dir and Path(spy).exists():
            Path(self.dir).mkdir(parents=True, exist_ok=True)
            for s in self.servers:
                out = Path(self.dir) / f"{self.label}-{s.kind}-{s.port}.txt"
                # --nonblocking: pausing the server for each sample slowed a join storm until it timed
                # out. Its stacks are torn now and then (read while they change): BENCH_PROFILE_BLOCKING=1
                # for exact ones, at a slower server (a storm then needs --storm-concurrency 4).
                blocking = os.environ.get("BENCH_PROFILE_BLOCKING") == "1"
                rate = os.environ.get("BENCH_PROFILE_RATE", "500")  # samples per second
                record = ["record", "--pid", str(s.pid), "--format", "raw", "--rate", rate]
                record += [] if blocking else ["--nonblocking"]
                cmd = [spy, *record, "-o", str(out)]
                self.procs.append(
                    subprocess.Popen(_pinned(cmd, HARNESS_CPUS), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                )
            time.sleep(0.5)
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs:
            proc.send_signal(2)
        for proc in self.procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
