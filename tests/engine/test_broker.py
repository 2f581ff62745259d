"""The Broker contract on every backend: subscriptions deliver committed events in order; signals."""

from __future__ import annotations

import asyncio

from tests.engine.helpers import Backend, commit_events, ev, eventually


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


async def test_broadcast_reaches_every_process(backend: Backend) -> None:
    a = await backend.make()
    others = [await backend.make() for _ in range(2)] if backend.name != "memory" else []
    await asyncio.sleep(0.05 if others else 0)  # the listeners' subscriptions are confirmed
    await a.engine.broker.broadcast(b"revoked:abc")
    for node in (a, *others):
        await eventually(lambda node=node: node.signals == [b"revoked:abc"])
