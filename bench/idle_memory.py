"""Memory of idle room sockets: server RSS per socket, and (``--trace``) where the bytes go.

    .venv/bin/python -m bench.idle_memory --sockets 2000                 # ours, KB RSS per idle socket
    .venv/bin/python -m bench.idle_memory --server reference starlette   # the baselines, same harness
    .venv/bin/python -m bench.idle_memory --sockets 1000 --trace         # + tracemalloc, bytes/socket by line
    .venv/bin/python -m bench.idle_memory --server ours-ws               # our handler on websockets' server

Same method as ``bench/run fanout`` (docs/BENCHMARKS.md): a room with a host, listeners sharing
guests (``--per-user``), sockets opened ``--concurrency`` at a time by the load generator, RSS
1 s after the last one. ``--trace`` runs the server under ``bench.memtrace`` and prints the
difference of two tracemalloc snapshots (before and after the sockets) divided by the number of
sockets, grouped by the innermost ``rooms_server`` frame (or the innermost frame when none), then
by file. Prints one JSON line per server on stdout; the attribution goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from bench import scenarios
from bench.client import Http, use_uvloop
from bench.harness import Host, Profiler, Server, Workers, ours_env, pin_harness, workdir


async def _snapshot(directory: Path, name: str) -> tracemalloc.Snapshot:
    (directory / f"take-{name}").touch()
    deadline = time.monotonic() + 300
    while not (directory / f"{name}.snap").exists():
        if time.monotonic() > deadline:
            raise RuntimeError("no tracemalloc snapshot from the server")
        await asyncio.sleep(0.2)
    return tracemalloc.Snapshot.load(str(directory / f"{name}.snap"))


def _where(frames: tracemalloc.Traceback) -> str:
    for frame in reversed(frames):  # a Traceback is ordered oldest first
        if "/rooms_server/" in frame.filename:
            return f"{frame.filename.split('/rooms_server/')[-1]}:{frame.lineno}"
    frame = frames[-1]
    return f"{'/'.join(frame.filename.split('/')[-2:])}:{frame.lineno}"


def attribute(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, n: int, top: int) -> dict[str, Any]:
    by_site: Counter[str] = Counter()
    by_file: Counter[str] = Counter()
    by_line: Counter[str] = Counter()  # the allocating line itself, in whatever package
    for diff in after.compare_to(before, "traceback"):
        if diff.size_diff == 0:
            continue
        by_site[_where(diff.traceback)] += diff.size_diff
        inner = diff.traceback[-1].filename
        by_file["/".join(inner.split("/")[-2:])] += diff.size_diff
        by_line[f"{'/'.join(inner.split('/')[-2:])}:{diff.traceback[-1].lineno}"] += diff.size_diff
    total = sum(by_site.values())
    return {
        "traced_bytes_per_socket": round(total / n),
        "by_site": {k: round(v / n) for k, v in by_site.most_common(top)},
        "by_file": {k: round(v / n) for k, v in by_file.most_common(top)},
        "by_line": {k: round(v / n) for k, v in by_line.most_common(top)},
    }


async def measure(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    with workdir() as wd:
        trace_dir = wd / "trace" if args.trace else None
        server = await Server(kind, ours_env(wd) if kind.startswith("ours") else {}, trace_dir=trace_dir).start(wd)
        try:
            http = Http(server.port)
            if kind.startswith("ours"):
                admin = await scenarios.create_user(http, "host")
                group = await scenarios.create_room(http, admin)
                tokens = await scenarios.listener_tokens(http, group, args.sockets, args.per_user)
                path = f"/ws/groups/{group}"
                host = await Host().connect(server.ws_port, path, admin)
            else:
                tokens, path, host = ["x"] * args.sockets, "/", None
            await http.close()
            async with Workers(args.workers) as workers:
                await asyncio.sleep(0.5)
                before = await _snapshot(trace_dir, "before") if trace_dir else None
                rss0 = server.rss()
                with Profiler([server], f"connect-{args.sockets}"):  # BENCH_PROFILE=DIR: py-spy of the server
                    opened = await workers.open_spread([(server.ws_port, path, t, 0) for t in tokens], args.concurrency)
                await asyncio.sleep(1.0)
                rss1 = server.rss()
                n = max(opened["opened"], 1)
                result: dict[str, Any] = {
                    "server": kind,
                    "sockets": opened["opened"],
                    "errors": opened["errors"],
                    "connect_s": round(opened["s"], 2),
                    "kb_per_idle_socket": round((rss1 - rss0) / n, 2),
                    "rss_mb": round(rss1 / 1024, 1),
                }
                if trace_dir and before is not None:
                    after = await _snapshot(trace_dir, "after")
                    result["trace"] = attribute(before, after, n, args.top)
            if host is not None:
                host.close()
            return result
        finally:
            server.stop()


async def run(args: argparse.Namespace) -> None:
    for kind in args.server:
        result = await measure(kind, args)
        trace = result.pop("trace", None)
        print(orjson.dumps(result).decode(), flush=True)
        if trace is not None:
            print(f"# {kind}: {trace['traced_bytes_per_socket']} traced bytes per socket", file=sys.stderr)
            for name in ("by_site", "by_file", "by_line"):
                print(f"# {name}:", file=sys.stderr)
                for where, size in trace[name].items():
                    print(f"#   {size:7d}  {where}", file=sys.stderr)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--server", nargs="+", default=["ours"], choices=["ours", "ours-ws", "reference", "starlette"])
    p.add_argument("--sockets", type=int, default=1000)
    p.add_argument("--per-user", type=int, default=25)
    p.add_argument("--concurrency", type=int, default=200, help="sockets being opened at once (default 200)")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--trace", action="store_true", help="tracemalloc attribution (slow; not an RSS figure)")
    p.add_argument("--top", type=int, default=25)
    args = p.parse_args()
    pin_harness()
    use_uvloop()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
