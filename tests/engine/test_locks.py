"""The Locks contract on every backend: one holder per group, EngineBusy on timeout."""

from __future__ import annotations

import asyncio

import pytest

from rooms_server.engine import EngineBusy
from tests.engine.helpers import Backend


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
