"""The Cache contract on every backend: values until their TTL."""

from __future__ import annotations

import asyncio

from tests.engine.helpers import Backend


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
