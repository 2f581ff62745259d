"""One contract suite for every engine backend, plus Redis-only multi-process and fault tests."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from redis.asyncio import Redis

from rooms_server.engine import Engine, EngineBusy, MemoryEngine, Remembered, Stored, create_engine, engine_of
from rooms_server.engine.redis import RedisEngine
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

    def __init__(self, name: str, raw: Redis | None = None) -> None:
        self.name = name
        self.raw = raw
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
            node.engine = engine_of(
                MemoryEngine(
                    on_event=node.on_event,
                    on_reset=node.resets.append,
                    on_signal=node.signals.append,
                    history_size=history_size,
                    lock_timeout_s=lock_timeout_s,
                )
            )
        else:
            node.engine = engine_of(
                RedisEngine(
                    REDIS_URL,
                    on_event=node.on_event,
                    on_reset=node.resets.append,
                    on_signal=node.signals.append,
                    prefix=self.prefix,
                    history_size=history_size,
                    lock_timeout_s=lock_timeout_s,
                    lock_lease_s=lock_lease_s,
                    poll_interval_s=poll_interval_s,
                )
            )
        await node.engine.connect()
        self.nodes.append(node)
        return node

    def key(self, group_id: str, suffix: str = "") -> str:
        return f"{self.prefix}g:{{{group_id}}}{suffix}"

    async def drop_state(self, node: Node, group_id: str) -> None:
        """Lose the group's live state, as a Redis flush or restart would."""
        if self.raw is not None:
            await self.raw.delete(self.key(group_id, ":state"))
        else:
            assert isinstance(node.engine.state, MemoryEngine)
            del node.engine.state._groups[group_id]

    async def aclose(self) -> None:
        for node in self.nodes:
            await node.engine.close()
        if self.raw is not None:
            keys = [key async for key in self.raw.scan_iter(match=f"{self.prefix}*")]
            if keys:
                await self.raw.delete(*keys)
            await self.raw.aclose()


async def _backend(name: str) -> Backend:
    if name == "memory":
        return Backend("memory")
    require("Redis", REDIS_URL)
    return Backend("redis", Redis.from_url(REDIS_URL))


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    made = await _backend(request.param)
    try:
        yield made
    finally:
        await made.aclose()


@pytest.fixture
async def redis_backend() -> AsyncIterator[Backend]:
    made = await _backend("redis")
    try:
        yield made
    finally:
        await made.aclose()


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


# --- create_engine -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "kind"), [("memory://", MemoryEngine), ("redis://h:6379/0", RedisEngine), ("rediss://h/1", RedisEngine)]
)
def test_create_engine_picks_backend_by_scheme(url: str, kind: type[Engine]) -> None:
    engine = create_engine(url, on_event=lambda *a: None, on_reset=lambda g: None)
    assert type(engine.state) is kind


@pytest.mark.parametrize("url", ["postgres://h/db", "memory", ""])
def test_create_engine_rejects_unknown_scheme(url: str) -> None:
    with pytest.raises(ValueError, match="unsupported engine URL"):
        create_engine(url, on_event=lambda *a: None, on_reset=lambda g: None)


# --- state and commit ----------------------------------------------------------------------------


async def test_create_is_idempotent(backend: Backend) -> None:
    node = await backend.make()
    assert await node.engine.state.get("g1") is None
    first = await node.engine.state.create("g1", b"s0")
    assert first.seq == 0 and first.state == b"s0" and len(first.epoch) == 16
    assert await node.engine.state.create("g1", b"other") == first
    assert await node.engine.state.get("g1") == first


async def test_create_after_state_loss_gives_new_epoch_and_empty_log(backend: Backend) -> None:
    node = await backend.make()
    first = await node.engine.state.create("g1", b"s0")
    await commit_events(node.engine, "g1", first, 3)
    await backend.drop_state(node, "g1")
    assert await node.engine.state.get("g1") is None
    second = await node.engine.state.create("g1", b"rebuilt")
    assert second.epoch != first.epoch and second.seq == 0 and second.state == b"rebuilt"
    assert await node.engine.state.history("g1", second.epoch, 0) == []
    assert await node.engine.state.history("g1", first.epoch, 0) is None


async def test_commit_requires_stored_epoch_and_seq(backend: Backend) -> None:
    node = await backend.make()
    stored = await node.engine.state.create("g1", b"s0")
    assert not await node.engine.state.commit("nope", stored.epoch, 0, b"x", [ev(1)])
    assert not await node.engine.state.commit("g1", "f" * 16, 0, b"x", [ev(1)])
    assert not await node.engine.state.commit("g1", stored.epoch, 1, b"x", [ev(1)])
    assert await node.engine.state.get("g1") == stored
    assert await node.engine.state.commit("g1", stored.epoch, 0, b"s1", [ev(1)])
    assert not await node.engine.state.commit("g1", stored.epoch, 0, b"stale", [ev(1)])
    assert await node.engine.state.get("g1") == Stored(stored.epoch, 1, b"s1")


async def test_commit_concurrent_same_seq_has_exactly_one_winner(backend: Backend) -> None:
    node = await backend.make()
    stored = await node.engine.state.create("g1", b"s0")

    async def attempt(n: int) -> bool:
        return await node.engine.state.commit("g1", stored.epoch, 0, f"s-{n}".encode(), [ev(n)])

    results = await asyncio.gather(*(attempt(n) for n in range(50)))
    assert results.count(True) == 1
    winner = results.index(True)
    assert await node.engine.state.get("g1") == Stored(stored.epoch, 1, f"s-{winner}".encode())
    assert await node.engine.state.history("g1", stored.epoch, 0) == [ev(winner)]


async def test_commit_numbers_events_without_gaps(backend: Backend) -> None:
    node = await backend.make()
    stored = await node.engine.state.create("g1", b"s0")
    for batch in (1, 3, 2, 5):
        stored = await commit_events(node.engine, "g1", stored, batch, batch=batch)
    assert stored.seq == 11
    assert await node.engine.state.get("g1") == stored
    assert await node.engine.state.history("g1", stored.epoch, 0) == [ev(n) for n in range(1, 12)]
    assert await node.engine.state.commit("g1", stored.epoch, 11, b"no events", [])
    assert await node.engine.state.get("g1") == Stored(stored.epoch, 11, b"no events")


# --- history -------------------------------------------------------------------------------------


async def test_history_returns_exactly_the_missing_events(backend: Backend) -> None:
    node = await backend.make()
    stored = await commit_events(node.engine, "g1", await node.engine.state.create("g1", b"s0"), 10, batch=3)
    assert await node.engine.state.history("g1", stored.epoch, 4) == [ev(n) for n in range(5, 11)]
    assert await node.engine.state.history("g1", stored.epoch, 9) == [ev(10)]
    assert await node.engine.state.history("g1", stored.epoch, 10) == []


async def test_history_is_none_for_foreign_epoch_or_impossible_seq(backend: Backend) -> None:
    node = await backend.make()
    stored = await commit_events(node.engine, "g1", await node.engine.state.create("g1", b"s0"), 3)
    assert await node.engine.state.history("g1", "0" * 16, 0) is None
    assert await node.engine.state.history("g1", stored.epoch, 4) is None
    assert await node.engine.state.history("g1", stored.epoch, -1) is None
    assert await node.engine.state.history("unknown", stored.epoch, 0) is None


async def test_history_is_none_when_range_is_trimmed(backend: Backend) -> None:
    node = await backend.make(history_size=5)
    stored = await commit_events(node.engine, "g1", await node.engine.state.create("g1", b"s0"), 12, batch=4)
    assert await node.engine.state.history("g1", stored.epoch, 7) == [ev(n) for n in range(8, 13)]
    assert await node.engine.state.history("g1", stored.epoch, 6) is None
    assert await node.engine.state.history("g1", stored.epoch, 0) is None


# --- subscribe -----------------------------------------------------------------------------------


async def test_subscribe_delivers_events_in_order(backend: Backend) -> None:
    node = await backend.make()
    stored = await node.engine.state.create("g1", b"s0")
    await node.engine.broker.subscribe("g1")
    stored = await commit_events(node.engine, "g1", stored, 20, batch=3)
    await eventually(lambda: len(node.events) >= 20)
    assert node.events == [("g1", stored.epoch, n, ev(n)) for n in range(1, 21)]
    assert node.resets == []


async def test_subscribe_before_create_delivers_from_first_event(backend: Backend) -> None:
    node = await backend.make()
    await node.engine.broker.subscribe("g1")
    stored = await commit_events(node.engine, "g1", await node.engine.state.create("g1", b"s0"), 3)
    await eventually(lambda: len(node.events) >= 3)
    assert node.events == [("g1", stored.epoch, n, ev(n)) for n in range(1, 4)]
    assert node.resets == []


async def test_subscribe_is_reference_counted_and_unsubscribe_stops_delivery(backend: Backend) -> None:
    node = await backend.make()
    g1 = await node.engine.state.create("g1", b"s0")
    g2 = await node.engine.state.create("g2", b"s0")
    await node.engine.broker.subscribe("g1")
    await node.engine.broker.subscribe("g1")
    await node.engine.broker.subscribe("g2")
    await node.engine.broker.unsubscribe("g1")
    g1 = await commit_events(node.engine, "g1", g1, 1)
    await eventually(lambda: node.seqs("g1") == [1])
    await node.engine.broker.unsubscribe("g1")
    await commit_events(node.engine, "g1", g1, 1)
    # g2 is a sentinel: its event is published after g1's, and one connection keeps publish order.
    await commit_events(node.engine, "g2", g2, 1)
    await eventually(lambda: node.seqs("g2") == [1])
    assert node.seqs("g1") == [1]


async def test_subscribe_other_groups_are_not_delivered(backend: Backend) -> None:
    node = await backend.make()
    await node.engine.broker.subscribe("g2")
    await commit_events(node.engine, "g1", await node.engine.state.create("g1", b"s0"), 2)
    await commit_events(node.engine, "g2", await node.engine.state.create("g2", b"s0"), 1)
    await eventually(lambda: len(node.events) >= 1)
    assert [event[0] for event in node.events] == ["g2"]


# --- lock ----------------------------------------------------------------------------------------


async def test_lock_is_mutually_exclusive(backend: Backend) -> None:
    node = await backend.make()
    inside: list[int] = []
    most = 0

    async def work(n: int) -> None:
        nonlocal most
        async with node.engine.locks.lock("g1"):
            inside.append(n)
            most = max(most, len(inside))
            await asyncio.sleep(0.001)
            inside.remove(n)

    await asyncio.gather(*(work(n) for n in range(20)))
    assert most == 1


async def test_lock_times_out_with_engine_busy(backend: Backend) -> None:
    node = await backend.make(lock_timeout_s=0.1)
    held, release = asyncio.Event(), asyncio.Event()

    async def holder() -> None:
        async with node.engine.locks.lock("g1"):
            held.set()
            await release.wait()

    task = asyncio.create_task(holder())
    await held.wait()
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(EngineBusy):
        async with node.engine.locks.lock("g1"):
            pass
    assert loop.time() - started >= 0.09  # it waited for the timeout (and then gave up: we are here)
    async with node.engine.locks.lock("g2"):  # other groups are not affected
        pass
    release.set()
    await task
    async with node.engine.locks.lock("g1"):
        pass


async def test_lock_is_released_when_the_block_raises(backend: Backend) -> None:
    node = await backend.make(lock_timeout_s=0.2)
    with pytest.raises(RuntimeError):
        async with node.engine.locks.lock("g1"):
            raise RuntimeError("boom")
    async with node.engine.locks.lock("g1"):
        pass


# --- command answers (exactly-once) and process-wide signals --------------------------------------


async def test_commit_remembers_the_answer_atomically_with_the_events(backend: Backend) -> None:
    node = await backend.make()
    stored = await node.engine.state.create("g1", b"s0")
    answer = Remembered("u1:c1", b'{"seq":1}', ttl_s=60)
    assert await node.engine.state.recall("g1", "u1:c1") is None
    assert await node.engine.state.commit("g1", stored.epoch, stored.seq, b"s1", [b"e1"], remember=answer)
    assert await node.engine.state.recall("g1", "u1:c1") == b'{"seq":1}'
    assert await node.engine.state.recall("g2", "u1:c1") is None  # per group
    # A commit that does not apply (stale position) remembers nothing.
    stale = Remembered("u1:c2", b'{"seq":9}', ttl_s=60)
    assert not await node.engine.state.commit("g1", stored.epoch, stored.seq, b"s9", [b"e9"], remember=stale)
    assert await node.engine.state.recall("g1", "u1:c2") is None
    # An answer with no events (a commit of nothing but the answer) applies too.
    current = await node.engine.state.get("g1")
    assert current is not None
    empty = Remembered("u1:c3", b'{"seq":1}', ttl_s=60)
    assert await node.engine.state.commit("g1", current.epoch, current.seq, current.state, [], remember=empty)
    assert await node.engine.state.recall("g1", "u1:c3") == b'{"seq":1}'


async def test_remember_keeps_an_answer_until_its_ttl(backend: Backend) -> None:
    node = await backend.make()
    await node.engine.state.remember("g1", Remembered("u1:r", b'{"code":"queue_full"}', ttl_s=60))
    assert await node.engine.state.recall("g1", "u1:r") == b'{"code":"queue_full"}'
    await node.engine.state.remember("g1", Remembered("u1:short", b"{}", ttl_s=0.05))
    await asyncio.sleep(0.1)  # only ever longer than the TTL, however slow the machine
    assert await node.engine.state.recall("g1", "u1:short") is None


async def test_broadcast_reaches_every_process(backend: Backend) -> None:
    a = await backend.make()
    others = [await backend.make() for _ in range(2)] if backend.name == "redis" else []
    await asyncio.sleep(0.05 if others else 0)  # the listeners' subscriptions are confirmed
    await a.engine.broker.broadcast(b"revoked:abc")
    for node in (a, *others):
        await eventually(lambda node=node: node.signals == [b"revoked:abc"])


# --- presence ------------------------------------------------------------------------------------


async def test_presence_add_and_remove_count_connections_per_user(backend: Backend) -> None:
    engine = (await backend.make()).engine
    assert await engine.presence.add("g1", "c1", "u1", 30) == 1
    assert await engine.presence.add("g1", "c1", "u1", 30) == 1  # re-adding a connection is idempotent
    assert await engine.presence.add("g1", "c2", "u1", 30) == 2
    assert await engine.presence.add("g1", "c3", "u2", 30) == 1
    assert await engine.presence.users("g1") == {"u1": 2, "u2": 1}
    assert await engine.presence.users("g2") == {}
    assert await engine.presence.remove("g1", "c1") == ("u1", 1)
    assert await engine.presence.remove("g1", "c2") == ("u1", 0)
    assert await engine.presence.remove("g1", "c2") == (None, 0)
    assert await engine.presence.users("g1") == {"u2": 1}


async def test_presence_touch_extends_only_registered_connections(backend: Backend) -> None:
    engine = (await backend.make()).engine
    await engine.presence.add("g1", "c1", "u1", 0.2)
    await engine.presence.add("g1", "c2", "u2", 0.2)
    await asyncio.sleep(0.1)
    await engine.presence.touch("g1", ["c1", "gone"], 5)
    await asyncio.sleep(0.15)
    assert await engine.presence.expired("g1") == ["u2"]
    assert await engine.presence.users("g1") == {"u1": 1}
    assert await engine.presence.remove("g1", "gone") == (None, 0)


async def test_presence_expired_returns_only_users_who_left(backend: Backend) -> None:
    engine = (await backend.make()).engine
    await engine.presence.add("g1", "c1", "u1", 0.05)
    await engine.presence.add("g1", "c2", "u1", 30)
    await engine.presence.add("g1", "c3", "u2", 0.05)
    await engine.presence.add("g1", "c4", "u3", 0.05)
    assert await engine.presence.expired("g1") == []
    await asyncio.sleep(0.1)
    assert sorted(await engine.presence.expired("g1")) == ["u2", "u3"]
    assert await engine.presence.expired("g1") == []
    assert await engine.presence.users("g1") == {"u1": 1}


# --- cache, ping, close --------------------------------------------------------------------------


async def test_cache_returns_values_until_ttl(backend: Backend) -> None:
    engine = (await backend.make()).engine
    assert await engine.cache.get("k") is None
    await engine.cache.set("k", b"v1", 0.15)
    await engine.cache.set("k", b"v2", 0.15)
    await engine.cache.set("long", b"stays", 30)
    assert await engine.cache.get("k") == b"v2"
    await asyncio.sleep(0.2)
    assert await engine.cache.get("k") is None
    assert await engine.cache.get("long") == b"stays"


async def test_hit_counts_atomically_within_the_window_then_starts_over(backend: Backend) -> None:
    engine = (await backend.make()).engine
    counts = await asyncio.gather(*(engine.counters.hit("ip:1", 0.3) for _ in range(50)))
    assert sorted(counts) == list(range(1, 51))  # no lost update, no double count
    assert await engine.counters.hit("ip:2", 0.3) == 1  # keys are independent
    await asyncio.sleep(0.4)
    assert await engine.counters.hit("ip:1", 0.3) == 1  # a new window
    assert await engine.counters.hit("ip:1", 0.3) == 2


async def test_hit_window_is_not_extended_by_later_hits(backend: Backend) -> None:
    engine = (await backend.make()).engine
    assert await engine.counters.hit("k", 0.4) == 1
    await asyncio.sleep(0.25)
    assert await engine.counters.hit("k", 0.4) == 2  # does not push the window's end
    await asyncio.sleep(0.25)
    assert await engine.counters.hit("k", 0.4) == 1


async def test_max_recent_is_the_largest_report_of_the_last_windows(backend: Backend) -> None:
    engine = (await backend.make()).engine
    assert await engine.counters.max_recent("rtt:g1", 0.25) is None
    for value in (120, 480, 90):
        await engine.counters.max_report("rtt:g1", value, 0.25)
    await engine.counters.max_report("rtt:g2", 999, 0.25)
    assert await engine.counters.max_recent("rtt:g1", 0.25) == 480  # the largest, not the last
    assert await engine.counters.max_recent("rtt:g2", 0.25) == 999  # keys are independent
    await asyncio.sleep(0.6)  # more than two windows without a report
    assert await engine.counters.max_recent("rtt:g1", 0.25) is None
    await engine.counters.max_report("rtt:g1", 50, 0.25)
    assert await engine.counters.max_recent("rtt:g1", 0.25) == 50


async def test_max_report_keeps_the_largest_under_concurrent_reports(backend: Backend) -> None:
    engine = (await backend.make()).engine
    await asyncio.gather(*(engine.counters.max_report("k", value, 30) for value in range(1, 101)))
    assert await engine.counters.max_recent("k", 30) == 100


async def test_ping_is_true_when_connected_and_close_is_idempotent(backend: Backend) -> None:
    engine = (await backend.make()).engine
    assert await engine.ping()
    await engine.close()
    await engine.close()


# --- Redis only: several processes, faults -------------------------------------------------------


@pytest.mark.redis
async def test_redis_hit_is_shared_by_every_engine_of_the_prefix(redis_backend: Backend) -> None:
    a, b = (await redis_backend.make()).engine, (await redis_backend.make()).engine
    counts = await asyncio.gather(*(engine.counters.hit("join", 30) for engine in (a, b) * 20))
    assert sorted(counts) == list(range(1, 41))
    assert redis_backend.raw is not None
    ttl_ms = await redis_backend.raw.pttl(f"{redis_backend.prefix}hits:join")
    assert 0 < ttl_ms <= 30_000  # the counter never lives without its expiry


@pytest.mark.redis
async def test_redis_max_is_shared_by_every_engine_of_the_prefix(redis_backend: Backend) -> None:
    a, b = (await redis_backend.make()).engine, (await redis_backend.make()).engine
    await a.counters.max_report("rtt:g", 300, 30)
    await b.counters.max_report("rtt:g", 200, 30)
    assert await a.counters.max_recent("rtt:g", 30) == await b.counters.max_recent("rtt:g", 30) == 300
    assert redis_backend.raw is not None
    keys = [key async for key in redis_backend.raw.scan_iter(f"{redis_backend.prefix}max:rtt:g:*")]
    assert keys
    for key in keys:
        assert 0 < await redis_backend.raw.pttl(key) <= 60_000  # never without its expiry


@pytest.mark.redis
async def test_redis_two_engines_see_the_same_events_in_order(redis_backend: Backend) -> None:
    a, b = await redis_backend.make(), await redis_backend.make()
    await a.engine.broker.subscribe("g1")
    await b.engine.broker.subscribe("g1")
    epoch = (await a.engine.state.create("g1", b"s0")).epoch

    async def writer(node: Node, name: str) -> None:
        for n in range(10):
            async with node.engine.locks.lock("g1"):  # the lock spans processes: commits under it never conflict
                stored = await node.engine.state.get("g1")
                assert stored is not None
                assert await node.engine.state.commit("g1", epoch, stored.seq, b"s", [f"{name}-{n}".encode()])

    await asyncio.gather(
        *(writer(node, f"{node_name}{i}") for i in range(3) for node_name, node in (("a", a), ("b", b)))
    )
    await eventually(lambda: len(a.events) >= 60 and len(b.events) >= 60)
    assert a.events == b.events
    assert a.seqs("g1") == list(range(1, 61))
    assert a.data("g1") == await a.engine.state.history("g1", epoch, 0)


@pytest.mark.redis
async def test_redis_lock_excludes_other_process_and_expires_after_lease(redis_backend: Backend) -> None:
    a, b = await redis_backend.make(), await redis_backend.make(lock_timeout_s=0.1)
    async with a.engine.locks.lock("g1"):
        with pytest.raises(EngineBusy):
            async with b.engine.locks.lock("g1"):
                pass
    assert redis_backend.raw is not None
    # A holder that died: its lease runs out and the lock is free again.
    await redis_backend.raw.set(redis_backend.key("g1", ":lock"), "dead-holder", px=150)
    c = await redis_backend.make(lock_timeout_s=2.0)
    async with c.engine.locks.lock("g1"):
        assert await redis_backend.raw.get(redis_backend.key("g1", ":lock")) != b"dead-holder"


@pytest.mark.redis
async def test_redis_lock_lease_is_kept_alive_while_held(redis_backend: Backend) -> None:
    """A holder that works for many leases keeps the lock: the keepalive renews it every lease/3."""
    a = await redis_backend.make(lock_lease_s=0.6)
    b = await redis_backend.make(lock_timeout_s=0.05)
    async with a.engine.locks.lock("g1"):
        for _ in range(4):  # 1.6 s: more than two and a half leases
            await asyncio.sleep(0.4)
            with pytest.raises(EngineBusy):
                async with b.engine.locks.lock("g1"):
                    pass
    assert redis_backend.raw is not None
    assert await redis_backend.raw.exists(redis_backend.key("g1", ":lock")) == 0  # released on exit
    async with b.engine.locks.lock("g1"):
        pass


@pytest.mark.redis
async def test_redis_lock_of_a_dead_holder_is_free_within_one_lease(redis_backend: Backend) -> None:
    """The holder's engine disappears mid-block (its keepalive stops, as when its process is killed):
    another process gets the lock within the lease, and the dead holder's release deletes nothing of theirs."""
    assert redis_backend.raw is not None
    key = redis_backend.key("g1", ":lock")
    await redis_backend.raw.set(key, "dead-holder", px=300)  # what a killed holder leaves behind
    b = await redis_backend.make(lock_timeout_s=3.0, lock_lease_s=1.5)
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with b.engine.locks.lock("g1"):
        waited = loop.time() - started
        token = await redis_backend.raw.get(key)
        # A stale release by the dead holder's token (compare-and-delete) leaves the new lock alone.
        assert isinstance(b.engine.state, RedisEngine)
        await b.engine.state._release(key, "dead-holder")
        assert await redis_backend.raw.get(key) == token
    assert waited >= 0.25, waited  # it waited for the dead holder's lease (and got the lock before its own timeout)


@pytest.mark.redis
async def test_redis_killed_pubsub_loses_no_event(redis_backend: Backend) -> None:
    # No periodic check within the test: the catch-up after resubscribing must do all the work.
    a, b = await redis_backend.make(poll_interval_s=30.0), await redis_backend.make()
    assert redis_backend.raw is not None and isinstance(a.engine.state, RedisEngine)
    await a.engine.broker.subscribe("g1")
    stored = await commit_events(b.engine, "g1", await b.engine.state.create("g1", b"s0"), 3)
    await eventually(lambda: len(a.events) >= 3)

    def pubsub_ids(clients: list[dict[str, str]]) -> list[str]:
        assert isinstance(a.engine.state, RedisEngine)
        return [c["id"] for c in clients if c["name"] == a.engine.state.pubsub_client_name]

    # Kill only this engine's connection: the Redis server is shared with other test runs.
    [killed] = pubsub_ids(await redis_backend.raw.client_list(_type="pubsub"))
    await redis_backend.raw.client_kill_filter(_id=killed)
    stored = await commit_events(b.engine, "g1", stored, 5)  # published while nobody listens
    await eventually(lambda: len(a.events) >= 8)
    stored = await commit_events(b.engine, "g1", stored, 2)
    await eventually(lambda: len(a.events) >= 10)
    assert a.events == [("g1", stored.epoch, n, ev(n)) for n in range(1, 11)]
    assert a.resets == []
    assert pubsub_ids(await redis_backend.raw.client_list(_type="pubsub")) not in ([], [killed])


async def _commit_behind_the_engines_back(
    backend: Backend, group_id: str, stored: Stored, count: int, *, maxlen: int, ring: bool
) -> None:
    """Write what commit writes but publish at most the last doorbell: the others are "lost"."""
    assert backend.raw is not None
    for seq in range(stored.seq + 1, stored.seq + count + 1):
        await backend.raw.xadd(
            backend.key(group_id, ":log"), {"d": ev(seq)}, id=f"{seq}-0", maxlen=maxlen, approximate=False
        )
    last = stored.seq + count
    await backend.raw.hset(backend.key(group_id, ":state"), mapping={"seq": last, "state": b"x"})
    if ring:
        await backend.raw.publish(backend.key(group_id), f"{stored.epoch}|{last}|".encode() + ev(last))


# ring=False: only the periodic position check can notice; ring=True: the doorbell shows the gap.
@pytest.mark.redis
@pytest.mark.parametrize(("poll_interval_s", "ring"), [(0.05, False), (30.0, True)], ids=["periodic", "doorbell"])
async def test_redis_gap_is_filled_from_the_log(redis_backend: Backend, poll_interval_s: float, ring: bool) -> None:
    node = await redis_backend.make(poll_interval_s=poll_interval_s)
    await node.engine.broker.subscribe("g1")
    stored = await commit_events(node.engine, "g1", await node.engine.state.create("g1", b"s0"), 1)
    await eventually(lambda: len(node.events) >= 1)
    await _commit_behind_the_engines_back(redis_backend, "g1", stored, 4, maxlen=1000, ring=ring)
    await eventually(lambda: len(node.events) >= 5)
    assert node.events == [("g1", stored.epoch, n, ev(n)) for n in range(1, 6)]
    assert node.resets == []


@pytest.mark.redis
@pytest.mark.parametrize(("poll_interval_s", "ring"), [(0.05, False), (30.0, True)], ids=["periodic", "doorbell"])
async def test_redis_gap_the_log_cannot_fill_resets(redis_backend: Backend, poll_interval_s: float, ring: bool) -> None:
    node = await redis_backend.make(history_size=3, poll_interval_s=poll_interval_s)
    await node.engine.broker.subscribe("g1")
    stored = await commit_events(node.engine, "g1", await node.engine.state.create("g1", b"s0"), 1)
    await eventually(lambda: len(node.events) >= 1)
    await _commit_behind_the_engines_back(redis_backend, "g1", stored, 6, maxlen=3, ring=ring)
    await eventually(lambda: node.resets == ["g1"])
    await commit_events(node.engine, "g1", Stored(stored.epoch, 7, b"x"), 1)
    await eventually(lambda: len(node.events) >= 2)
    assert node.seqs("g1") == [1, 8]  # delivery continues after the reset point, without a second reset
    assert node.resets == ["g1"]


@pytest.mark.redis
async def test_redis_lost_state_reads_none_and_resets_subscribers(redis_backend: Backend) -> None:
    node = await redis_backend.make()
    await node.engine.broker.subscribe("g1")
    first = await commit_events(node.engine, "g1", await node.engine.state.create("g1", b"s0"), 1)
    await eventually(lambda: len(node.events) >= 1)
    await redis_backend.drop_state(node, "g1")
    assert await node.engine.state.get("g1") is None
    await eventually(lambda: node.resets == ["g1"])
    second = await commit_events(node.engine, "g1", await node.engine.state.create("g1", b"s0"), 2)
    await eventually(lambda: len(node.events) >= 3)
    assert second.epoch != first.epoch
    assert node.events[1:] == [("g1", second.epoch, 1, ev(1)), ("g1", second.epoch, 2, ev(2))]
    assert node.resets == ["g1"]


@pytest.mark.redis
async def test_redis_new_epoch_on_the_doorbell_resets_subscribers(redis_backend: Backend) -> None:
    node = await redis_backend.make(poll_interval_s=30.0)
    await node.engine.broker.subscribe("g1")
    first = await commit_events(node.engine, "g1", await node.engine.state.create("g1", b"s0"), 1)
    await eventually(lambda: len(node.events) >= 1)
    await redis_backend.drop_state(node, "g1")
    second = await commit_events(node.engine, "g1", await node.engine.state.create("g1", b"s0"), 2)
    await eventually(lambda: len(node.events) >= 2)
    assert node.resets == ["g1"]
    # The event that revealed the new epoch is covered by the snapshot the consumer re-reads.
    assert node.events == [("g1", first.epoch, 1, ev(1)), ("g1", second.epoch, 2, ev(2))]
