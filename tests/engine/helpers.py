"""Nodes (one engine each, "one process") and the helpers the engine contract suites share."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from redis.asyncio import Redis, RedisCluster

from rooms_server.engine import Engine, Stored
from rooms_server.engine.memory import memory_engine
from rooms_server.engine.redis import redis_engine
from tests.services import REDIS_URL, require

Event = tuple[str, str, int, bytes]


@dataclass
class Node:
    """One engine (one "process") and what its callbacks received."""

    engine: Engine = field(init=False)
    events: list[Event] = field(default_factory=list)
    resets: list[str] = field(default_factory=list)
    signals: list[bytes] = field(default_factory=list)

    def on_event(self, group_id: str, epoch: str, seq: int, data: bytes) -> None:
        self.events.append((group_id, epoch, seq, data))

    def seqs(self, group_id: str) -> list[int]:
        return [seq for gid, _, seq, _ in self.events if gid == group_id]

    def data(self, group_id: str) -> list[bytes]:
        return [data for gid, _, _, data in self.events if gid == group_id]


class Backend:
    """Makes connected engines of one kind and cleans up after them."""

    def __init__(self, name: str, raw: Redis | RedisCluster | None = None, url: str = REDIS_URL) -> None:
        self.name = name
        self.raw = raw
        self.url = url
        self.prefix = f"test:{secrets.token_hex(4)}:"
        self.nodes: list[Node] = []

    async def make(
        self,
        *,
        history_size: int = 1000,
        lock_timeout_s: float = 5.0,
        poll_interval_s: float = 0.05,
        lock_lease_s: float = 1.5,
    ) -> Node:
        node = Node()
        if self.name == "memory":
            node.engine = memory_engine(
                on_event=node.on_event,
                on_reset=node.resets.append,
                on_signal=node.signals.append,
                history_size=history_size,
                lock_timeout_s=lock_timeout_s,
            )
        else:
            node.engine = redis_engine(
                self.url,
                on_event=node.on_event,
                on_reset=node.resets.append,
                on_signal=node.signals.append,
                prefix=self.prefix,
                history_size=history_size,
                lock_timeout_s=lock_timeout_s,
                lock_lease_s=lock_lease_s,
                poll_interval_s=poll_interval_s,
            )
        await node.engine.connect()
        self.nodes.append(node)
        return node

    def key(self, group_id: str, suffix: str = "") -> str:
        return f"{self.prefix}g:{{{group_id}}}{suffix}"

    async def drop_state(self, node: Node, group_id: str) -> None:
        """Lose the group's live state, as a Redis flush or restart would (in memory: all of it)."""
        if self.raw is not None:
            await self.raw.delete(self.key(group_id, ":state"))
        else:
            await node.engine.state.delete(group_id)

    async def aclose(self) -> None:
        for node in self.nodes:
            await node.engine.close()
        if self.raw is not None:
            keys = [key async for key in self.raw.scan_iter(match=f"{self.prefix}*")]
            for key in keys:  # one by one: in a cluster they span slots
                await self.raw.delete(key)
            await self.raw.aclose()


async def open_backend(name: str, cluster_url: str | None = None) -> Backend:
    """``memory``, ``redis`` (TEST_REDIS_URL) or ``redis-cluster`` (``cluster_url``, a redis+cluster:// URL)."""
    if name == "memory":
        return Backend("memory")
    if cluster_url is not None:
        first = cluster_url.removeprefix("redis+cluster://").split(",")[0]
        return Backend(name, RedisCluster.from_url(f"redis://{first}"), cluster_url)
    require("Redis", REDIS_URL)
    return Backend("redis", Redis.from_url(REDIS_URL))


async def eventually(check: Callable[[], bool], within_s: float = 3.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {within_s}s")
        await asyncio.sleep(0.005)


def ev(n: int) -> bytes:
    return f"event-{n}".encode()


async def commit_events(engine: Engine, group_id: str, stored: Stored, count: int, batch: int = 1) -> Stored:
    """Commit events ev(seq+1)..ev(seq+count) in batches; return the new position."""
    seq = stored.seq
    while seq < stored.seq + count:
        events = [ev(n) for n in range(seq + 1, min(seq + batch, stored.seq + count) + 1)]
        assert await engine.state.commit(group_id, stored.epoch, seq, f"state-{seq + len(events)}".encode(), events)
        seq += len(events)
    return Stored(stored.epoch, seq, f"state-{seq}".encode())
