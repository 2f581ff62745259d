"""Track-end timers arm from the events alone (rooms_server/timers.py)."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from rooms_server.clock import ServerClock
from rooms_server.hub import Hub
from rooms_server.live import LiveGroups
from rooms_server.timers import TrackEndTimers


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000

    def now_ms(self) -> int:
        return self.now


class FakeLive:
    def __init__(self) -> None:
        self.advanced: list[str] = []
        self.done = asyncio.Event()

    async def advance(self, group_id: str) -> int:
        self.advanced.append(group_id)
        self.done.set()
        return 0


def _timers(held: bool = True) -> tuple[TrackEndTimers, FakeLive, FakeClock]:
    hub = Hub.__new__(Hub)
    hub.groups = {"g": {cast(Any, object())}} if held else {}
    live, clock = FakeLive(), FakeClock()
    timers = TrackEndTimers(hub, cast(LiveGroups, live), cast(ServerClock, clock))
    return timers, live, clock


async def test_timers_advance_at_the_end_the_event_carries() -> None:
    timers, live, clock = _timers()
    timers.react("g", {"type": "playback_changed", "ends_at_ms": clock.now})  # ends now: no waiting
    await asyncio.wait_for(live.done.wait(), 5)
    assert live.advanced == ["g"]


async def test_timers_cancel_when_the_event_says_the_track_does_not_end() -> None:
    timers, live, clock = _timers()
    timers.react("g", {"type": "playback_changed", "ends_at_ms": clock.now + 3_600_000})
    timers.react("g", {"type": "playback_changed", "ends_at_ms": None})
    assert timers._timers == {}
    timers.stop()


async def test_timers_ignore_events_without_a_playback_change() -> None:
    timers, live, clock = _timers()
    timers.react("g", {"type": "playback_changed", "ends_at_ms": clock.now + 3_600_000})
    armed = timers._timers["g"]
    timers.react("g", {"type": "track_moved", "track_id": 1, "index": 0})
    assert timers._timers["g"] is armed
    timers.stop()


async def test_timers_arm_nothing_for_a_group_not_held_here() -> None:
    timers, live, clock = _timers(held=False)
    timers.react("g", {"type": "playback_changed", "ends_at_ms": clock.now})
    assert timers._timers == {}
