"""``python -m bench``: run the benchmark suite, one JSON line per scenario on stdout.

Defaults are small (a few minutes on 2 cores); ``--full`` runs the sizes of docs/BENCHMARKS.md.
Everything talks to 127.0.0.1 only, starts its own server processes on free ports, and stops them.

    python -m bench                          # the whole suite, small
    python -m bench fanout --listeners 1000  # one scenario
    python -m bench --full --out results.jsonl
"""

# ruff: noqa: ASYNC230 - a benchmark harness, not the server

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import orjson

from bench import scenarios
from bench.client import use_uvloop
from bench.harness import pin_harness

SCENARIOS = ("fanout", "joinstorm", "commands", "scaleout", "crossproc")


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    p.add_argument("scenarios", nargs="*", choices=[*SCENARIOS, []], help="default: all")
    p.add_argument("--full", action="store_true", help="the documented sizes (N = 100, 1000, 2000; more events)")
    p.add_argument("--listeners", type=int, nargs="+", help="fan-out sizes (default 100 1000; --full 100 1000 2000)")
    p.add_argument("--storm", type=int, default=1000, help="join storm clients (default 1000)")
    p.add_argument("--storm-concurrency", type=int, help="join storm clients in flight (default: all of them)")
    p.add_argument("--scale-listeners", type=int, default=1000, help="listeners in scale-out runs (default 1000)")
    p.add_argument("--processes", type=int, nargs="+", default=[1, 2, 3], help="scale-out process counts")
    p.add_argument("--paced", type=int, help="commands in a paced run (default 100; --full 300)")
    p.add_argument("--rate", type=float, default=20.0, help="paced commands per second (default 20)")
    p.add_argument("--flood", type=int, help="commands in a flood run (default 200; --full 1000)")
    p.add_argument("--window", type=int, default=32, help="commands in flight in fan-out floods (default 32)")
    p.add_argument(
        "--command-window",
        type=int,
        default=32,  # the baseline and docs/BENCHMARKS.md's target rows: 32 in flight per group
        help="commands in flight per group, throughput runs (default 32)",
    )
    p.add_argument("--seconds", type=float, help="command-throughput run length (default 3; --full 10)")
    p.add_argument("--groups", type=int, nargs="+", default=[1, 50], help="command-throughput group counts")
    p.add_argument("--databases", nargs="+", default=["sqlite", "postgres"], choices=["sqlite", "postgres"])
    p.add_argument("--per-user", type=int, default=25, help="listener sockets per guest (default 25)")
    p.add_argument("--workers", type=int, default=1, help="load-generator processes (default 1)")
    p.add_argument(
        "--connect-concurrency",
        type=int,
        default=200,
        help="listener sockets being opened at once, per worker (default 200)",
    )
    p.add_argument("--repeat", type=int, default=1, help="run each fan-out size this many times")
    p.add_argument(
        "--postgres", default="postgresql://postgres@127.0.0.1:5432/rooms_bench", help="dropped and re-created per run"
    )
    p.add_argument(
        "--redis",
        default="private",
        help="'private' (default): a redis-server of this run on a free port; or a URL (keys under a random prefix)",
    )
    p.add_argument("--out", help="also append the JSON lines to this file")
    args = p.parse_args(argv)
    args.scenarios = args.scenarios or list(SCENARIOS)
    args.listeners = args.listeners or ([100, 1000, 2000] if args.full else [100, 1000])
    args.paced = args.paced or (300 if args.full else 100)
    args.flood = args.flood or (1000 if args.full else 200)
    args.seconds = args.seconds or (10.0 if args.full else 3.0)
    return args


def plan(args: argparse.Namespace) -> list[tuple[str, Callable[[], Awaitable[dict[str, Any]]]]]:
    steps: list[tuple[str, Callable[[], Awaitable[dict[str, Any]]]]] = []
    if "fanout" in args.scenarios:
        for n in args.listeners:
            for _ in range(args.repeat):
                steps.append((f"fanout {n}", partial(scenarios.fanout, n, args)))
    if "joinstorm" in args.scenarios:
        steps.append((f"joinstorm {args.storm}", lambda: scenarios.joinstorm(args.storm, args)))
    if "commands" in args.scenarios:
        for db in args.databases:
            for g in args.groups:
                steps.append((f"commands {db} {g}", partial(scenarios.commands, db, g, args)))
    if "scaleout" in args.scenarios:
        for p in args.processes:
            steps.append((f"scaleout {p}", partial(scenarios.scaleout, p, args.scale_listeners, args)))
    if "crossproc" in args.scenarios:
        steps.append(("crossproc", lambda: scenarios.crossproc(args)))
    return steps


def _mean(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return round(sum(values) / len(values), 3) if values else None


def targets(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Issue 15's targets, each with the measured value (means over repeats) and whether it is met;
    a target whose scenario did not run is ``met: null``."""
    fan = {r["listeners"]: [] for r in results if r.get("scenario") == "fanout" and "ratio" in r}
    for r in results:
        if r.get("scenario") == "fanout" and "ratio" in r:
            fan[r["listeners"]].append(r)
    storm = [r for r in results if r.get("scenario") == "joinstorm" and "all_in_s" in r]
    sqlite = {r["groups"]: r for r in results if r.get("scenario") == "commands" and r.get("database") == "sqlite"}
    scale = {r["processes"]: r for r in results if r.get("scenario") == "scaleout" and "paced" in r}
    out: dict[str, Any] = {}

    def target(name: str, value: Any, limit: float, at_most: bool) -> None:
        met = None if value is None else (value <= limit if at_most else value >= limit)
        out[name] = {"value": value, ("max" if at_most else "min"): limit, "met": met}

    at_1000 = fan.get(1000, [])
    target("flood_1000_deliveries_ratio", _mean([r["ratio"]["flood_deliveries_per_s"] for r in at_1000]), 0.75, False)
    target(
        "paced_1000_last_listener_p99_ratio", _mean([r["ratio"]["paced_last_listener_p99"] for r in at_1000]), 1.3, True
    )
    largest = max(fan, default=None)
    kb = _mean([r["ours"]["kb_per_idle_conn"] for r in fan.get(largest, [])]) if largest else None
    target(f"kb_per_idle_conn_at_{largest or 'N'}", kb, 20.0, True)
    # A storm counts only when every phone got in, with no error and no socket closed.
    clean = [
        r["all_in_s"] if r["completed"] == r["clients"] and not r["errors"] and not r["closed_after"] else 1e9
        for r in storm
    ]
    target("joinstorm_1000_all_in_s", _mean(clean), 3.0, True)
    target("sqlite_acked_per_s_one_group", sqlite[1]["acked_per_s"] if 1 in sqlite else None, 3000, False)
    many = max((g for g in sqlite if g > 1), default=None)
    target(f"sqlite_acked_per_s_{many or 'many'}_groups", sqlite[many]["acked_per_s"] if many else None, 5000, False)
    at_10k = fan.get(10000, [])
    lost = [
        sum(sum(r["ours"][m]["closed"].values()) + r["ours"][m]["gaps"] for m in ("paced", "flood"))
        + sum((r["ours"]["connect_errors"] or {}).values())
        for r in at_10k
    ]
    target("listeners_10000_closed_or_gaps", max(lost) if lost else None, 0, True)
    if 1 in scale and 2 in scale:
        single = scale[1]["same_process_delivery_p99_ms"]
        cross = scale[2]["cross_process_delivery_p99_ms"]
        target("cross_process_p99_over_single", round(cross / single, 3) if cross and single else None, 2.0, True)
    return {"scenario": "targets", **out}


async def run(args: argparse.Namespace) -> int:
    failures = 0
    results: list[dict[str, Any]] = []
    out = open(args.out, "ab") if args.out else None
    try:
        for name, step in plan(args):
            t0 = time.monotonic()
            print(f"# {name} ...", file=sys.stderr, flush=True)
            try:
                result = await asyncio.wait_for(step(), 2400)
            except Exception as exc:
                failures += 1
                traceback.print_exc()
                result = {"scenario": name.split()[0], "step": name, "error": f"{type(exc).__name__}: {exc}"}
            result["wall_s"] = round(time.monotonic() - t0, 1)
            results.append(result)
            emit(result, out)
        emit(targets(results), out)
    finally:
        if out is not None:
            out.close()
    return 1 if failures else 0


def emit(result: dict[str, Any], out: Any) -> None:
    line = orjson.dumps(result)
    print(line.decode(), flush=True)
    if out is not None:
        out.write(line + b"\n")
        out.flush()


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    pin_harness()
    use_uvloop()
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(run(args))
    return 130


if __name__ == "__main__":
    sys.exit(main())
