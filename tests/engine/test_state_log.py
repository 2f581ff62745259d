"""The StateLog contract on every backend: positions, commits, history, remembered answers."""

from __future__ import annotations

import asyncio

from rooms_server.engine import Remembered, Stored
from tests.engine.helpers import Backend, commit_events, ev


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
