"""Latency of a skip from one server process to a listener on another, against one on the same process.

Starts two ``python -m rooms_server`` processes on 127.0.0.1 (tests/servers.py) sharing a temporary
PostgreSQL database (created, migrated, dropped) and Redis under a prefix of their own (deleted at
the end). An admin on process A adds N+1 tracks, then sends N skips, one every ``--interval-ms``
(on a fixed schedule, without waiting for acks); a listener on B and a listener on A record when
each ``index_changed`` arrives. Latency of skip k = arrival of the ``index_changed`` to index k+1
minus the moment the skip was handed to the socket (``time.perf_counter()`` in this one process).
Prints one JSON line; logs go to stderr.

    .venv/bin/python -m bench.cross_process_latency [--skips 200] [--interval-ms 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

if __package__ in (None, ""):  # run as a file: make the repository (for ``tests``) importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg

from rooms_server.db import migrate
from tests.servers import Cluster, RoomClient, add_frame

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
DEFAULT_POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
DEFAULT_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def percentiles(samples_s: list[float]) -> dict[str, float | int]:
    """Nearest-rank p50/p95/p99 and max, in milliseconds."""
    ordered = sorted(samples_s)

    def rank(p: float) -> float:
        return ordered[max(math.ceil(p / 100 * len(ordered)) - 1, 0)]

    return {
        "n": len(ordered),
        "p50_ms": round(rank(50) * 1000, 3),
        "p95_ms": round(rank(95) * 1000, 3),
        "p99_ms": round(rank(99) * 1000, 3),
        "max_ms": round(ordered[-1] * 1000, 3),
    }


# -- the temporary database ----------------------------------------------------------------------


def _plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def create_database(server_url: str) -> str:
    name = f"rooms_bench_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(_plain(server_url))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = server_url.rsplit("/", 1)[0] + "/" + name
    await migrate.upgrade(url)
    return url


async def drop_database(server_url: str, url: str) -> None:
    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(_plain(server_url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


# -- the measurement -----------------------------------------------------------------------------


async def measure(cluster: Cluster, skips: int, interval_s: float) -> dict[str, Any]:
    api_a, api_b = cluster.api(0), cluster.api(1)
    host = await api_a.guest("Host")
    far, near = await api_b.guest("Listener B"), await api_a.guest("Listener A")
    group_id = await api_a.create_group(host, "Latency")
    await api_b.join(far, group_id)
    await api_a.join(near, group_id)
    try:
        admin = await cluster.connect(0, host, group_id)
        listener_b = await cluster.connect(1, far, group_id)
        listener_a = await cluster.connect(0, near, group_id)

        log(f"adding {skips + 1} tracks")
        for n in range(skips + 1):
            reply = await admin.command(add_frame(f"track {n}"))
            if reply.type != "ack":
                raise RuntimeError(f"add refused: {reply.text}")
        ids = [f["track"]["id"] for f in admin.of_type("track_added")]
        for listener in (listener_a, listener_b):  # both have everything so far
            await listener.wait(lambda f: f.get("seq") == admin.seq, start=0, wait_s=30)

        log(f"sending {skips} skips every {interval_s * 1000:g} ms")
        sent: list[float] = []
        start_frames = len(admin.frames)
        t0 = time.perf_counter()
        for k in range(skips):
            delay = t0 + k * interval_s - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            sent.append(time.perf_counter())
            await admin.send({"type": "skip", "expected_track_id": ids[k], "id": f"skip-{k}"})
        for listener in (listener_a, listener_b):
            await listener.wait(lambda f: f.fits("index_changed", {"index": skips}), wait_s=60)
        await admin.wait(lambda f: f.get("id") == f"skip-{skips - 1}", start=start_frames, wait_s=60)
        replies = [f for f in admin.frames[start_frames:] if f.type in ("ack", "error")]
        errors = [f.text for f in replies if f.type == "error"]

        def latencies(listener: RoomClient) -> list[float]:
            arrived = {f["index"]: f.at for f in listener.of_type("index_changed")}
            return [arrived[k + 1] - sent[k] for k in range(skips)]

        return {
            "skips": skips,
            "interval_ms": interval_s * 1000,
            "errors": len(errors),
            "first_error": errors[0] if errors else None,
            "cross_process": percentiles(latencies(listener_b)),
            "same_process": percentiles(latencies(listener_a)),
        }
    finally:
        await cluster.close_clients()


def _check_loopback(*urls: str) -> None:
    for url in urls:
        if urlsplit(url).hostname not in LOOPBACK:
            raise SystemExit(f"refusing a non-loopback service: {url}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--skips", type=int, default=200, help="number of measured skips (default 200)")
    parser.add_argument("--interval-ms", type=float, default=20.0, help="pace of the skips (default 20 ms)")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL, help="a PostgreSQL server on 127.0.0.1")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help="a Redis on 127.0.0.1")
    parser.add_argument("--time-limit-s", type=float, default=180.0, help="give up after this long (default 180)")
    args = parser.parse_args(argv)
    if args.skips < 1:
        parser.error("--skips must be at least 1")
    _check_loopback(args.postgres_url, args.redis_url)

    workdir = Path(tempfile.mkdtemp(prefix="rooms-bench-"))
    database_url = asyncio.run(create_database(args.postgres_url))
    env = {
        # One admin sends every skip: lift the per-connection command limit and the queue length.
        "COMMANDS_PER_SECOND": "100000",
        "COMMAND_BURST": "100000",
        "MAX_QUEUE_TRACKS": str(max(500, args.skips + 1)),
    }
    cluster = Cluster(database_url, args.redis_url, workdir, env=env)
    failed = True
    try:
        log(f"starting 2 servers (logs in {workdir})")
        cluster.start(2)

        async def bounded() -> dict[str, Any]:
            async with asyncio.timeout(args.time_limit_s):
                return await measure(cluster, args.skips, args.interval_ms / 1000)

        result = asyncio.run(bounded())
        failed = False
    finally:
        cluster.stop()
        asyncio.run(drop_database(args.postgres_url, database_url))
        if failed:
            log(f"failed; the servers' logs are in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
