"""Track-end timers: advance a group when its current track ends, armed from the events.

A reactor of the hub (``hub.react(timers.react)``, wired in app.py): every ``playback_changed``,
and every ``index_changed`` of a track change, carries ``ends_at_ms`` (``rooms.track_ends_at_ms``
of the state it left, a property test in tests/test_rooms.py holds every transition to it), so the
timer re-arms from the event alone;
events without a playback change leave the end where it was. The advance itself runs under the
group's lock through ``LiveGroups.advance``: every process holding the group may fire, the first
one skips, the others find the track not ended and change nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from rooms_server import failures, rooms
from rooms_server.clock import ServerClock
from rooms_server.hub import Hub
from rooms_server.live import GroupGone, LiveGroups

log = logging.getLogger(__name__)


class TrackEndTimers:
    def __init__(self, hub: Hub, live: LiveGroups, clock: ServerClock) -> None:
        self.hub = hub
        self.live = live
        self.clock = clock  # the server clock the events' instants are on
        self._timers: dict[str, asyncio.Task[None]] = {}

    def react(self, group_id: str, event: Mapping[str, Any]) -> None:
        if "ends_at_ms" in event:  # playback_changed, and index_changed when the track changed
            ends_at = event.get("ends_at_ms")
            self.arm(group_id, ends_at if isinstance(ends_at, int) else None)

    def arm(self, group_id: str, ends_at_ms: int | None) -> None:
        """(Re)schedule the advance at ``ends_at_ms`` (None: no end), if this process holds the group."""
        self.cancel(group_id)
        if ends_at_ms is not None and self.hub.groups.get(group_id):
            task = asyncio.create_task(self._advance_at(group_id, ends_at_ms), name=f"advance-{group_id}")
            self._timers[group_id] = task

    def arm_current(self, group_id: str) -> None:
        """Arm from the state itself: when this process starts holding the group (no event yet)."""
        self.cancel(group_id)
        if self.hub.groups.get(group_id):
            self._timers[group_id] = asyncio.create_task(self._arm_from_state(group_id), name=f"advance-{group_id}")

    def cancel(self, group_id: str) -> None:
        old = self._timers.pop(group_id, None)
        # The advance's own commit re-arms while the advance still runs: it must not cancel itself.
        if old is not None and old is not asyncio.current_task():
            old.cancel()

    def stop(self) -> None:
        for task in self._timers.values():
            task.cancel()
        self._timers.clear()

    async def _arm_from_state(self, group_id: str) -> None:
        try:
            _, state = await self.live.current(group_id)
        except GroupGone:
            return
        except Exception as exc:
            failures.log_error(log, exc, f"reading group {group_id} for its track end failed")
            return
        ends_at = rooms.track_ends_at_ms(state)
        if ends_at is not None:
            await self._advance_at(group_id, ends_at)

    async def _advance_at(self, group_id: str, ends_at_ms: int) -> None:
        """Advance once the track ended; an outage is retried until the backend is back."""
        await asyncio.sleep(max(ends_at_ms - self.clock.now_ms(), 0) / 1000)
        while True:
            try:
                await self.live.advance(group_id)
                return
            except (GroupGone, asyncio.CancelledError):
                return
            except Exception as exc:
                failures.log_error(log, exc, f"advancing group {group_id} failed")
                failure = failures.classify(exc)
                if failure is None:
                    return
                await asyncio.sleep(failure.retry_after_ms / 1000)
