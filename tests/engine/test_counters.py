"""The Counters contract on every backend: fixed-window hits and windowed maxima."""

from __future__ import annotations

import asyncio

from tests.engine.helpers import Backend


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
