"""A load-generator process: many room sockets (and guests for join storms) on one event loop.

Started by the scenario runner as ``python -m bench.loadgen`` (pinned to the harness CPU) and
driven over stdin/stdout, one JSON object per line each way: every request gets exactly one
reply. Operations:

- ``open {port, conns: [[path, token, tag], ...], concurrency}``: open sockets, send ``hello``,
  wait for the first frame of each; reply with counts, errors and the time it took;
- ``storm {port, group, count, concurrency, invite}``: join storm, each client creating a guest,
  joining (through the invite when ``invite`` is given, else the public join), connecting and
  waiting for its snapshot; reply with timings and errors;
- ``reset``: forget recorded arrivals;
- ``wait {seq, within}``: wait until every open socket has seen ``seq`` (at most ``within`` s);
- ``collect {send: [[seq, t_ns], ...]}``: latencies of those events, per socket tag;
- ``usage``: this process's CPU time; ``close``: close every socket and exit.

For each text frame after the first, the socket records ``(seq, arrival_ns)`` (the seq is read
from the frame's tail, where the server puts its framing), and checks that seqs follow each other
without gap or repeat.
"""

# ruff: noqa: ASYNC109 - a benchmark harness, not the server

from __future__ import annotations

import asyncio
import math
import resource
import sys
import time
from array import array
from collections import Counter
from typing import Any

import orjson

from bench.client import Http, HttpError, WsClient, use_uvloop

SEQ_KEY = b'"seq":'


def parse_seq(payload: bytes) -> int:
    i = payload.rfind(SEQ_KEY) + 6
    j = payload.find(b",", i)
    return int(payload[i : j if j > 0 else payload.find(b"}", i)])


class Listeners:
    """All sockets of this process and what they received."""

    def __init__(self) -> None:
        self.socks: list[WsClient] = []
        self.seqs = array("q")
        self.times = array("q")
        self.tags = array("i")
        self.gaps = 0
        self.closed_codes: Counter[int] = Counter()

    def on_text(self, sock: WsClient, payload: bytes, t_ns: int) -> None:
        state = sock.tag  # [tag, last_seq, first_frame_future]
        if state[2] is not None:
            fut, state[2] = state[2], None
            if payload.startswith(b'{"type":"snapshot"') or payload.startswith(b'{"type":"resumed"'):
                state[1] = orjson.loads(payload)["seq"]
                fut.set_result(None)
            else:
                fut.set_exception(ConnectionError(f"unexpected first frame {payload[:80]!r}"))
            return
        seq = parse_seq(payload)
        if seq != state[1] + 1:
            self.gaps += 1
        state[1] = seq
        self.seqs.append(seq)
        self.times.append(t_ns)
        self.tags.append(state[0])

    def on_close(self, sock: WsClient) -> None:
        self.closed_codes[sock.close_code or 1006] += 1
        fut, sock.tag[2] = sock.tag[2], None
        if fut is not None and not fut.done():
            fut.set_exception(ConnectionError(f"closed with {sock.close_code or 1006} before the first frame"))

    async def connect(self, port: int, path: str, token: str, tag: int, timeout: float = 30.0) -> WsClient:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        sock = await WsClient.open(port, path, self.on_text, tag=[tag, -1, fut], timeout=timeout)
        sock.on_close = self.on_close
        sock.send_json({"type": "hello", "token": token})
        try:
            await asyncio.wait_for(fut, timeout)
        except BaseException:
            sock.abort()
            raise
        self.socks.append(sock)
        return sock


def _hist_key(latency_ns: int) -> int:
    """Log-scale bucket, 1 % wide, of a latency in nanoseconds (>= 1 µs)."""
    return int(math.log(max(latency_ns, 1000)) * 100)


class Worker:
    def __init__(self) -> None:
        self.listeners = Listeners()

    async def op_open(self, port: int, conns: list[list[Any]], concurrency: int = 200) -> dict[str, Any]:
        sem = asyncio.Semaphore(concurrency)
        errors: Counter[str] = Counter()

        async def one(path: str, token: str, tag: int) -> None:
            async with sem:
                try:
                    await self.listeners.connect(port, path, token, tag)
                except Exception as exc:
                    errors[f"{type(exc).__name__}: {str(exc)[:80]}"] += 1

        t0 = time.monotonic()
        await asyncio.gather(*(one(*c) for c in conns))
        return {"opened": len(conns) - sum(errors.values()), "errors": dict(errors), "s": time.monotonic() - t0}

    async def op_storm(
        self, port: int, group: str, count: int, concurrency: int, invite: str | None = None, name: str = "storm"
    ) -> dict[str, Any]:
        sem = asyncio.Semaphore(concurrency)
        errors: Counter[str] = Counter()
        done: list[float] = []
        phases = {"user": [], "join": [], "socket": []}  # type: dict[str, list[float]]
        t0 = time.monotonic()

        async def one(i: int) -> None:
            async with sem:
                http = Http(port)
                try:
                    a = time.monotonic()
                    if invite:  # what the join page does: a new guest joins in one request
                        user = await http.request("POST", f"/api/invites/{invite}/join", {"name": f"{name} {i}"})
                        b = a
                    else:
                        user = await http.request("POST", "/api/users", {"name": f"{name} {i}"})
                        b = time.monotonic()
                        await http.request("POST", f"/api/groups/{group}/join", None, user["token"])
                    c = time.monotonic()
                    await self.listeners.connect(port, f"/ws/groups/{group}", user["token"], 0)
                    d = time.monotonic()
                    if b > a:
                        phases["user"].append(b - a)
                    phases["join"].append(c - b)
                    phases["socket"].append(d - c)
                    done.append(d - t0)
                except HttpError as exc:
                    errors[f"HTTP {exc.status}"] += 1
                except Exception as exc:
                    errors[f"{type(exc).__name__}: {str(exc)[:80]}"] += 1
                finally:
                    await http.close()

        await asyncio.gather(*(one(i) for i in range(count)))
        done.sort()
        return {
            "completed": len(done),
            "errors": dict(errors),
            "all_in_s": done[-1] if done else None,
            "p50_in_s": done[len(done) // 2] if done else None,
            "phase_mean_ms": {k: 1000 * sum(v) / len(v) for k, v in phases.items() if v},
        }

    async def op_reset(self) -> dict[str, Any]:
        ls = self.listeners
        ls.seqs, ls.times, ls.tags = array("q"), array("q"), array("i")
        ls.gaps = 0
        return {"ok": True}

    async def op_wait(self, seq: int, within: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + within
        while True:
            behind = [s for s in self.listeners.socks if not s.closed and s.tag[1] < seq]
            if not behind or time.monotonic() > deadline:
                last = max(self.listeners.times) if self.listeners.times else 0
                return {"behind": len(behind), "last_ns": last}
            await asyncio.sleep(0.005)

    async def op_collect(self, send: list[list[int]]) -> dict[str, Any]:
        sent = dict((seq, t) for seq, t in send)
        ls = self.listeners
        per_tag: dict[int, dict[str, Any]] = {}
        per_seq_max: dict[int, int] = {}
        per_seq_count: Counter[int] = Counter()
        first = last = 0
        for seq, t, tag in zip(ls.seqs, ls.times, ls.tags, strict=True):
            t0 = sent.get(seq)
            if t0 is None:
                continue
            stats = per_tag.get(tag)
            if stats is None:
                stats = per_tag[tag] = {"n": 0, "hist": Counter(), "max": 0}
            lat = t - t0
            stats["n"] += 1
            stats["hist"][_hist_key(lat)] += 1
            if lat > stats["max"]:
                stats["max"] = lat
            if t > per_seq_max.get(seq, 0):
                per_seq_max[seq] = t
            per_seq_count[seq] += 1
            first = t if not first or t < first else first
            last = max(last, t)
        return {
            "tags": {str(k): {"n": v["n"], "hist": dict(v["hist"]), "max": v["max"]} for k, v in per_tag.items()},
            "seq_max": per_seq_max,
            "seq_count": dict(per_seq_count),
            "first_ns": first,
            "last_ns": last,
            "gaps": ls.gaps,
            "open": sum(1 for s in ls.socks if not s.closed),
            "closed": dict(ls.closed_codes),
        }

    async def op_usage(self) -> dict[str, Any]:
        ru = resource.getrusage(resource.RUSAGE_SELF)
        return {"cpu_s": ru.ru_utime + ru.ru_stime, "rss_kb": ru.ru_maxrss, "socks": len(self.listeners.socks)}

    async def op_close(self) -> dict[str, Any]:
        for sock in self.listeners.socks:
            sock.close()
        await asyncio.sleep(0.2)
        for sock in self.listeners.socks:
            sock.abort()
        return {"ok": True}


async def serve_stdio() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 30)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    worker = Worker()
    while True:
        line = await reader.readline()
        if not line:
            break
        request = orjson.loads(line)
        op = request.pop("op")
        try:
            reply = await getattr(worker, f"op_{op}")(**request)
        except Exception as exc:  # the runner shows it; the process stays usable
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        sys.stdout.buffer.write(orjson.dumps(reply, option=orjson.OPT_NON_STR_KEYS) + b"\n")
        sys.stdout.buffer.flush()
        if op == "close":
            break


if __name__ == "__main__":
    use_uvloop()
    asyncio.run(serve_stdio())
