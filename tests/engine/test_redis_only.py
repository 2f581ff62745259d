"""Redis only: several processes on one prefix, lease expiry, lost pub/sub messages, lost state."""

from __future__ import annotations

import asyncio

import pytest

from rooms_server.engine import EngineBusy, Stored
from rooms_server.engine.redis import Connection
from tests.engine.helpers import Backend, Node, commit_events, ev, eventually


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
    loop = asyncio.get_running_loop()
    started = loop.time()  # before the lease is set: connecting the engine below may take any time
    await redis_backend.raw.set(key, "dead-holder", px=300)  # what a killed holder leaves behind
    b = await redis_backend.make(lock_timeout_s=3.0, lock_lease_s=1.5)
    async with b.engine.locks.lock("g1"):
        waited = loop.time() - started
        token = await redis_backend.raw.get(key)
        # A stale release by the dead holder's token (compare-and-delete) leaves the new lock alone.
        assert isinstance(b.engine.lifecycle, Connection)
        await b.engine.lifecycle.scripts.lock_release(keys=[key], args=["dead-holder"])
        assert await redis_backend.raw.get(key) == token
    # It waited for the dead holder's 300 ms lease (Redis expires to the millisecond), and got the
    # lock before its own 3 s timeout: a lower bound set by Redis, not by this machine's speed.
    assert waited >= 0.295, waited


@pytest.mark.redis
async def test_redis_killed_pubsub_loses_no_event(redis_backend: Backend) -> None:
    # No periodic check within the test: the catch-up after resubscribing must do all the work.
    a, b = await redis_backend.make(poll_interval_s=30.0), await redis_backend.make()
    assert redis_backend.raw is not None and isinstance(a.engine.lifecycle, Connection)
    await a.engine.broker.subscribe("g1")
    stored = await commit_events(b.engine, "g1", await b.engine.state.create("g1", b"s0"), 3)
    await eventually(lambda: len(a.events) >= 3)

    def pubsub_ids(clients: list[dict[str, str]]) -> list[str]:
        assert isinstance(a.engine.lifecycle, Connection)
        return [c["id"] for c in clients if c["name"] == a.engine.lifecycle.pubsub_client_name]

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
