"""Keeping presence true across processes: refresh this process's entries, sweep the expired ones.

Each process refreshes its sockets' presence entries every third of the presence TTL and sweeps
the expired entries of the groups it holds, so a crashed process's ghosts leave within 4/3 of a
TTL (PRESENCE_TTL_S): their entries expire at most one TTL after the crash, and the next sweep
comes at most TTL/3 later.
"""

from __future__ import annotations

import asyncio
import logging

from rooms_server import failures
from rooms_server.engine.base import PresenceStore
from rooms_server.hub import Hub
from rooms_server.presence import Presence

log = logging.getLogger(__name__)


class Heartbeat:
    def __init__(self, hub: Hub, store: PresenceStore, presence: Presence, ttl_s: float) -> None:
        self.hub = hub
        self.store = store
        self.presence = presence
        self.ttl_s = ttl_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._beat(), name="presence-heartbeat")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.ttl_s / 3)
            for group_id in list(self.hub.groups):
                try:
                    await self.refresh(group_id)
                except Exception as exc:
                    failures.log_error(log, exc, f"presence refresh failed for group {group_id}")

    async def refresh(self, group_id: str) -> None:
        """Extend this process's entries of the group, then sweep the group's expired ones."""
        conn_ids = [c.id for c in self.hub.connections(group_id)]
        await self.store.touch(group_id, conn_ids, self.ttl_s)
        await self.presence.sweep(group_id)
