"""The scenarios. Each returns one dict, printed by the runner as one JSON line.

- ``fanout``: N listeners in one group, a host sending skip/previous paced (20/s) and flooding
  (a window of commands in flight), against our server and the reference in the same run;
- ``joinstorm``: N guests created, joined and connected at once;
- ``commands``: acknowledged skips/s in one group and across 50 groups, SQLite and PostgreSQL;
- ``scaleout``: 1, 2 and 3 server processes sharing Redis and PostgreSQL, listeners spread
  across them, the host on the first one.
"""

# ruff: noqa: ASYNC240 - a benchmark harness, not the server

from __future__ import annotations

import asyncio
import json
import os
import platform
import secrets
import sys
import time
from pathlib import Path
from typing import Any

from bench.client import Http, HttpError
from bench.harness import (
    HARNESS_CPUS,
    SERVER_CPUS,
    Host,
    Profiler,
    Server,
    Workers,
    hist_summary_ms,
    merge_hists,
    ours_env,
    ratio,
    redis_for,
    summary_ms,
    workdir,
)

TRACK = {"service": "youtube", "title": "Bench track", "duration": 3600}


# -- setting up a room over HTTP -----------------------------------------------------------------


async def create_user(http: Http, name: str) -> str:
    user = await http.request("POST", "/api/users", {"name": name})
    return str(user["token"])


async def create_room(http: Http, admin: str, tracks: int = 2) -> str:
    group = await http.request(
        "POST", "/api/groups", {"name": f"bench {secrets.token_hex(6)}", "is_public": True}, admin
    )
    for i in range(tracks):
        body = {**TRACK, "url": f"https://youtu.be/bench{i:06d}"}
        await http.request("POST", f"/api/groups/{group['id']}/tracks", body, admin)
    return str(group["id"])


async def listener_tokens(http: Http, group_id: str, count: int, per_user: int) -> list[str]:
    """count sockets' tokens: ceil(count / per_user) guests who joined the group."""
    users = -(-count // per_user)
    tokens = []
    for i in range(users):
        token = await create_user(http, f"listener {i}")
        await http.request("POST", f"/api/groups/{group_id}/join", None, token)
        tokens.append(token)
    return [tokens[i % users] for i in range(count)]


async def invite_token(http: Http, group_id: str, admin: str) -> str | None:
    """The invite path when the server has it (POST /api/groups/{id}/invite), else None."""
    try:
        invite = await http.request("POST", f"/api/groups/{group_id}/invite", {}, admin)
    except HttpError as exc:
        if exc.status in (404, 405):
            return None
        raise
    token = invite.get("token") if isinstance(invite, dict) else None
    return str(token) if token else None


# -- measuring one run of commands against listeners ----------------------------------------------


async def measure(
    servers: list[Server], workers: Workers, host: Host, *, mode: str, commands: int, rate: float, window: int
) -> dict[str, Any]:
    """Send commands (paced or flood), wait for every listener, and summarise the deliveries."""
    await workers.all("reset")
    host.reset()
    cpu0 = [s.cpu() for s in servers]
    wcpu0 = await workers.cpu()
    with Profiler(servers, f"{mode}-{len(servers)}p"):
        t0 = time.monotonic_ns()
        if mode == "paced":
            await host.paced(commands, rate)
        else:
            await host.flood(commands, window)
    last_seq = max((seq for _, seq, _ in host.acks), default=0)
    waits = await workers.all("wait", 150, seq=last_seq, within=60.0)
    cpu1 = [s.cpu() for s in servers]
    wcpu1 = await workers.cpu()
    parts = await workers.all("collect", send=host.event_send_times())
    return _summarise(parts, host, t0, cpu1, cpu0, wcpu1 - wcpu0, waits, mode)


def _summarise(
    parts: list[dict[str, Any]],
    host: Host,
    t0: int,
    cpu1: list[float],
    cpu0: list[float],
    client_cpu: float,
    waits: list[dict[str, Any]],
    mode: str,
) -> dict[str, Any]:
    sent = dict((seq, t) for seq, t in host.event_send_times())
    seq_max: dict[int, int] = {}
    by_tag: dict[str, list[dict[str, Any]]] = {}
    for part in parts:
        for seq, t in part["seq_max"].items():
            seq_max[int(seq)] = max(seq_max.get(int(seq), 0), t)
        for tag, stats in part["tags"].items():
            by_tag.setdefault(tag, []).append(stats)
    hist, deliveries, max_ns = merge_hists([s for stats in by_tag.values() for s in stats])
    last_ns = max((p["last_ns"] for p in parts), default=0)
    elapsed = max(last_ns - t0, 1) / 1e9
    server_cpu = sum(cpu1) - sum(cpu0)
    out: dict[str, Any] = {
        "commands_acked": len(host.acks),
        "command_errors": dict(host.errors),
        "events": len(sent),
        "deliveries": deliveries,
        "elapsed_s": round(elapsed, 3),
        "deliveries_per_s": round(deliveries / elapsed),
        "server_cpu_pct": round(100 * server_cpu / elapsed, 1),
        "server_us_per_delivery": round(1e6 * server_cpu / deliveries, 2) if deliveries else None,
        "client_cpu_pct": round(100 * client_cpu / elapsed, 1),
        "client_us_per_delivery": round(1e6 * client_cpu / deliveries, 2) if deliveries else None,
        "gaps": sum(p["gaps"] for p in parts),
        "behind": sum(w["behind"] for w in waits),
        "closed": _sum_counts([p["closed"] for p in parts]),
    }
    if mode == "paced":
        out["delivery_ms"] = hist_summary_ms(hist, max_ns)
        out["last_listener_ms"] = summary_ms([(t - sent[s]) / 1e6 for s, t in seq_max.items() if s in sent])
        out["ack_ms"] = summary_ms(host.ack_latencies_ms())
        if len(by_tag) > 1:
            out["delivery_ms_by_process"] = {
                tag: hist_summary_ms(*_hist_max(stats)) for tag, stats in sorted(by_tag.items())
            }
    out["limit"] = _limit(out["server_cpu_pct"], out["client_cpu_pct"])
    return out


def _hist_max(stats: list[dict[str, Any]]) -> tuple[dict[int, int], int]:
    hist, _, mx = merge_hists(stats)
    return hist, mx


def _sum_counts(counts: list[dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for c in counts:
        for k, v in c.items():
            total[str(k)] = total.get(str(k), 0) + v
    return total


def _limit(server_pct: float, client_pct: float) -> str:
    busy_server, busy_client = server_pct >= 90, client_pct >= 90
    if busy_server and busy_client:
        return "both"
    return "server" if busy_server else "client" if busy_client else "neither"


# -- fan-out ---------------------------------------------------------------------------------------


async def fanout_one(kind: str, n: int, args: Any) -> dict[str, Any]:
    with workdir() as wd:
        # No raised timeouts at N = 10 000: the server's admission queues the handshakes (it once
        # needed SQLITE_BUSY_TIMEOUT_MS at 60 s here, when they all waited for the pool at once).
        env = ours_env(wd) if kind == "ours" else {}
        server = await Server(kind, env).start(wd)
        try:
            async with Workers(args.workers) as workers:
                return await _fanout_run(server, workers, n, args)
        finally:
            server.stop()


async def _fanout_run(server: Server, workers: Workers, n: int, args: Any) -> dict[str, Any]:
    http = Http(server.port)
    if server.kind == "ours":
        admin = await create_user(http, "host")
        group = await create_room(http, admin)
        tokens = await listener_tokens(http, group, n, args.per_user)
        path = f"/ws/groups/{group}"
    else:
        admin, tokens, path = "reference", ["reference"] * n, "/"
    await http.close()
    host = await Host().connect(server.port, path, admin)
    await asyncio.sleep(0.5)
    rss0 = server.rss()
    opened = await workers.open_spread([(server.port, path, t, 0) for t in tokens], args.connect_concurrency)
    await asyncio.sleep(1.0)
    rss1 = server.rss()
    result: dict[str, Any] = {
        "connect_s": round(opened["s"], 3),
        "connect_errors": opened["errors"],
        "listeners": opened["opened"],
        "kb_per_idle_conn": round((rss1 - rss0) / max(opened["opened"], 1), 2),
    }
    result["paced"] = await measure(
        [server], workers, host, mode="paced", commands=args.paced, rate=args.rate, window=0
    )
    result["flood"] = await measure(
        [server], workers, host, mode="flood", commands=args.flood, rate=0, window=args.window
    )
    result["peak_rss_mb"] = round(server.rss() / 1024, 1)
    host.close()
    return result


async def idle_memory(n: int, args: Any) -> dict[str, Any]:
    """KB of server RSS per idle socket of the bare Starlette baseline (no hub, no engine)."""
    with workdir() as wd:
        server = await Server("starlette").start(wd)
        try:
            async with Workers(1) as workers:
                await asyncio.sleep(0.5)
                rss0 = server.rss()
                opened = await workers.open_spread([(server.port, "/", "x", 0)] * n, args.connect_concurrency)
                await asyncio.sleep(1.0)
                return {"kb_per_idle_conn": round((server.rss() - rss0) / max(opened["opened"], 1), 2)}
        finally:
            server.stop()


async def fanout(n: int, args: Any) -> dict[str, Any]:
    reference = await fanout_one("reference", n, args)
    ours = await fanout_one("ours", n, args)
    bare = await idle_memory(n, args)
    return {
        "scenario": "fanout",
        "listeners": n,
        "paced_rate": args.rate,
        "ours": ours,
        "reference": reference,
        "bare_starlette": bare,
        "ratio": {
            "flood_deliveries_per_s": ratio(ours["flood"]["deliveries_per_s"], reference["flood"]["deliveries_per_s"]),
            "paced_last_listener_p50": ratio(
                ours["paced"]["last_listener_ms"]["p50"], reference["paced"]["last_listener_ms"]["p50"]
            ),
            "paced_last_listener_p99": ratio(
                ours["paced"]["last_listener_ms"]["p99"], reference["paced"]["last_listener_ms"]["p99"]
            ),
            "paced_delivery_p99": ratio(ours["paced"]["delivery_ms"]["p99"], reference["paced"]["delivery_ms"]["p99"]),
            "paced_server_us_per_delivery": ratio(
                ours["paced"]["server_us_per_delivery"], reference["paced"]["server_us_per_delivery"]
            ),
            "kb_per_idle_conn": ratio(ours["kb_per_idle_conn"], reference["kb_per_idle_conn"]),
            "kb_per_idle_conn_vs_bare_starlette": ratio(ours["kb_per_idle_conn"], bare["kb_per_idle_conn"]),
        },
        **machine(),
    }


# -- join storm ------------------------------------------------------------------------------------


async def joinstorm(n: int, args: Any) -> dict[str, Any]:
    with workdir() as wd:
        server = await Server("ours", ours_env(wd)).start(wd)
        try:
            http = Http(server.port)
            admin = await create_user(http, "host")
            group = await create_room(http, admin)
            invite = await invite_token(http, group, admin)
            await http.close()
            ours = await _storm(server, n, args, group, invite)
        finally:
            server.stop()
        # The same storm against bare Starlette on uvicorn (bench.bare_starlette): the stack's floor.
        floor_server = await Server("starlette", {}).start(wd)
        try:
            floor = await _storm(floor_server, n, args, "floor", "floor")
        finally:
            floor_server.stop()
    return {
        "scenario": "joinstorm",
        "clients": n,
        "join_path": "invite",
        **ours,
        "starlette_floor": {k: floor[k] for k in ("completed", "errors", "all_in_s", "server_cpu_pct")},
        **machine(),
    }


async def _storm(server: Server, n: int, args: Any, group: str, invite: str) -> dict[str, Any]:
    """``n`` phones at once on ``server``: each joins through ``invite`` in one request, then opens
    its socket and waits for its first frame."""
    async with Workers(1) as workers:
        cpu0, wcpu0 = server.cpu(), await workers.cpu()
        t0 = time.monotonic()
        with Profiler([server], "joinstorm"):
            reply = (
                await workers.all(
                    "storm",
                    300,
                    port=server.port,
                    group=group,
                    count=n,
                    concurrency=args.storm_concurrency or n,
                    invite=invite,
                )
            )[0]
        elapsed = time.monotonic() - t0
        cpu1, wcpu1 = server.cpu(), await workers.cpu()
        await asyncio.sleep(0.5)
        check = (await workers.all("collect", send=[]))[0]
    return {
        "completed": reply["completed"],
        "errors": reply["errors"],
        "all_in_s": _round(reply["all_in_s"]),
        "half_in_s": _round(reply["p50_in_s"]),
        "phase_mean_ms": {k: round(v, 2) for k, v in reply["phase_mean_ms"].items()},
        "server_cpu_pct": round(100 * (cpu1 - cpu0) / elapsed, 1),
        "client_cpu_pct": round(100 * (wcpu1 - wcpu0) / elapsed, 1),
        "event_gaps": check["gaps"],
        "sockets_open_after": check["open"],
        "closed_after": check["closed"],
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


# -- command throughput ----------------------------------------------------------------------------


async def commands(database: str, groups: int, args: Any) -> dict[str, Any]:
    with workdir() as wd:
        database_url = None
        if database == "postgres":
            database_url = await fresh_postgres(args.postgres, wd)
            if database_url is None:
                return {"scenario": "commands", "database": database, "groups": groups, "skipped": "no PostgreSQL"}
        server = await Server("ours", ours_env(wd, database_url=database_url)).start(wd)
        try:
            return {
                "scenario": "commands",
                "database": database,
                "groups": groups,
                **await _command_run(server, groups, args),
                **machine(),
            }
        finally:
            server.stop()


async def _command_run(server: Server, groups: int, args: Any) -> dict[str, Any]:
    http = Http(server.port)
    admin = await create_user(http, "host")
    rooms = [await create_room(http, admin) for _ in range(groups)]
    await http.close()
    hosts = [await Host().connect(server.port, f"/ws/groups/{g}", admin) for g in rooms]
    window = args.command_window
    await asyncio.gather(*(h.flood(window * 2, window) for h in hosts))  # warm up
    for h in hosts:
        h.reset()
    cpu0, t0 = server.cpu(), time.monotonic()
    deadline = t0 + args.seconds

    async def drive(host: Host) -> None:
        host.window = asyncio.Semaphore(window)
        while time.monotonic() < deadline:
            await asyncio.wait_for(host.window.acquire(), 60)
            host.send_command()
        await asyncio.wait_for(host.idle.wait(), 60)

    with Profiler([server], f"commands-{groups}g"):
        await asyncio.gather(*(drive(h) for h in hosts))
    elapsed = time.monotonic() - t0
    cpu = server.cpu() - cpu0
    acked = sum(len(h.acks) for h in hosts)
    errors = _sum_counts([h.errors for h in hosts])
    latencies = sorted(x for h in hosts for x in h.ack_latencies_ms())
    for h in hosts:
        h.close()
    return {
        "window": window,
        "seconds": round(elapsed, 2),
        "acked": acked,
        "acked_per_s": round(acked / elapsed),
        "errors": errors,
        "ack_ms": summary_ms(latencies),
        "server_cpu_pct": round(100 * cpu / elapsed, 1),
        "server_us_per_command": round(1e6 * cpu / acked, 1) if acked else None,
    }


async def fresh_postgres(admin_url: str, wd: Path) -> str | None:
    """Drop and create the benchmark database, migrate it, return its URL (None: no PostgreSQL)."""
    import asyncpg

    base, _, name = admin_url.rpartition("/")
    try:
        conn = await asyncio.wait_for(asyncpg.connect(f"{base}/postgres"), 5)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return None
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = admin_url.replace("postgresql://", "postgresql+asyncpg://", 1)
    env = {**os.environ, "DATABASE_URL": url, "SECRETS_FILE": str(wd / "secrets.json"), "SECRET_KEY": "x"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "rooms_server",
        "migrate",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 120)
    if proc.returncode != 0:
        raise RuntimeError(f"migrating {name} failed: {err.decode()[-500:]}")
    return url


# -- scale-out ------------------------------------------------------------------------------------


async def scaleout(processes: int, n: int, args: Any) -> dict[str, Any]:
    with workdir() as wd:
        async with redis_for(args.redis, wd) as redis_url:
            if not await _redis_up(redis_url):
                return {"scenario": "scaleout", "processes": processes, "skipped": "no Redis"}
            database_url = await fresh_postgres(args.postgres, wd)
            if database_url is None:
                return {"scenario": "scaleout", "processes": processes, "skipped": "no PostgreSQL"}
            prefix = f"bench:{secrets.token_hex(4)}:"
            env = ours_env(wd, database_url=database_url, redis_url=redis_url, prefix=prefix)
            env["MIGRATE_ON_START"] = "no"
            servers: list[Server] = []
            try:
                for _ in range(processes):
                    servers.append(await Server("ours", dict(env)).start(wd))
                async with Workers(args.workers) as workers:
                    result = await _scaleout_run(servers, workers, n, args)
            finally:
                for s in servers:
                    s.stop()
                await _drop_redis_prefix(redis_url, prefix)
    return {
        "scenario": "scaleout",
        "processes": processes,
        "listeners": n,
        "paced_rate": args.rate,
        **result,
        **machine(),
    }


async def _scaleout_run(servers: list[Server], workers: Workers, n: int, args: Any) -> dict[str, Any]:
    http = Http(servers[0].port)
    admin = await create_user(http, "host")
    group = await create_room(http, admin)
    tokens = await listener_tokens(http, group, n, args.per_user)
    await http.close()
    path = f"/ws/groups/{group}"
    host = await Host().connect(servers[0].port, path, admin)
    conns = [(servers[i % len(servers)].port, path, t, i % len(servers)) for i, t in enumerate(tokens)]
    opened = await workers.open_spread(conns)
    await asyncio.sleep(1.0)
    paced = await measure(servers, workers, host, mode="paced", commands=args.paced, rate=args.rate, window=0)
    flood = await measure(servers, workers, host, mode="flood", commands=args.flood, rate=0, window=args.window)
    host.close()
    by_process = paced.get("delivery_ms_by_process", {})
    cross = [v["p99"] for k, v in by_process.items() if k != "0" and v["p99"] is not None]
    return {
        "listeners_open": opened["opened"],
        "connect_errors": opened["errors"],
        "same_process_delivery_p99_ms": by_process.get("0", paced["delivery_ms"])["p99"],
        "cross_process_delivery_p99_ms": max(cross) if cross else None,
        "paced": paced,
        "flood": flood,
    }


async def _redis_up(url: str) -> bool:
    from redis.asyncio import Redis

    client = Redis.from_url(url, socket_connect_timeout=2)
    try:
        return bool(await asyncio.wait_for(client.ping(), 3))
    except Exception:
        return False
    finally:
        await client.aclose()


async def _drop_redis_prefix(url: str, prefix: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await client.delete(*keys)
    except Exception:
        pass
    finally:
        await client.aclose()


# -- cross-process latency at light load (bench/cross_process_latency.py, run as it is) -----------


async def crossproc(args: Any) -> dict[str, Any]:
    """Two processes, one listener on each, 20 ms apart skips: the Redis hop without fan-out load."""
    try:
        import jsonschema  # noqa: F401 - the script uses tests/servers.py, which needs the test extra
    except ImportError:
        return {"scenario": "crossproc", "skipped": "needs the test extra: pip install -e '.[test]'"}
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    with workdir() as wd:
        async with redis_for(args.redis, wd) as redis_url:
            cmd = [sys.executable, "-m", "bench.cross_process_latency", "--skips", str(args.paced * 2)]
            proc = await asyncio.create_subprocess_exec(
                *cmd, "--redis-url", redis_url, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env
            )
            out, err = await asyncio.wait_for(proc.communicate(), 300)
    lines = [line for line in out.decode().splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"scenario": "crossproc", "error": err.decode()[-500:]}
    return {"scenario": "crossproc", "source": "bench/cross_process_latency.py", **json.loads(lines[-1]), **machine()}


# -- context ----------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    return {
        "machine": {
            "cpus": os.cpu_count(),
            "server_cpus": SERVER_CPUS or "unpinned",
            "harness_cpus": HARNESS_CPUS or "unpinned",
            "loadavg_1m": round(os.getloadavg()[0], 2),
            "python": platform.python_version(),
        }
    }
