"""The PresenceStore contract on every backend: connections per user, touch and expiry."""

from __future__ import annotations

import asyncio

from tests.engine.helpers import Backend


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


async def test_presence_readding_a_connection_takes_its_new_expiry(backend: Backend) -> None:
    """The newest add or touch decides: an older, shorter expiry no longer ends the connection,
    and a newer, shorter one does."""
    engine = (await backend.make()).engine
    await engine.presence.add("g1", "c1", "u1", 0.05)
    await engine.presence.add("g1", "c1", "u1", 30)
    await engine.presence.add("g1", "c2", "u2", 30)
    await engine.presence.add("g1", "c2", "u2", 0.05)
    await asyncio.sleep(0.1)
    assert await engine.presence.expired("g1") == ["u2"]
    assert await engine.presence.users("g1") == {"u1": 1}
    assert await engine.presence.remove("g1", "c1") == ("u1", 0)
    assert await engine.presence.users("g1") == {}
