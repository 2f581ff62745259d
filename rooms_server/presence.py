"""Who is in the room: a user's first socket joins them, their last one leaves them.

A user is present while at least one of their sockets is registered in the engine (on any
process). Their first socket emits ``member_joined``, their last one ``member_left``. Entries are
kept alive and swept by the heartbeat (heartbeat.py); a new socket sweeps its group before its
snapshot, so the snapshot lists no expired entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from rooms_server import failures, protocol, rooms
from rooms_server.client import Client
from rooms_server.db import queries
from rooms_server.engine.base import Engine
from rooms_server.hub import Hub
from rooms_server.live import GroupGone, LiveGroups
from rooms_server.timers import TrackEndTimers

log = logging.getLogger(__name__)


class Presence:
    def __init__(self, hub: Hub, engine: Engine, live: LiveGroups, timers: TrackEndTimers) -> None:
        self.hub = hub
        self.engine = engine
        self.live = live
        self.timers = timers  # armed here when this process starts holding a group, cancelled when it stops
        self.ttl_s = live.settings.presence_ttl_s
        self._leaving: set[asyncio.Task[None]] = set()
        # Called with a group id once this process's last socket of it has left (host_watch.py).
        self.released: list[Callable[[str], Awaitable[None]]] = []

    async def stop(self) -> None:
        if self._leaving:  # let departures finish while the engine is still open
            await asyncio.wait(self._leaving, timeout=5)
        self.timers.stop()

    # -- joining and leaving ---------------------------------------------------------------------

    async def attach(self, conn: Client) -> None:
        if self.hub.add(conn):
            await self.engine.broker.subscribe(conn.group_id)
            self.timers.arm_current(conn.group_id)
        # Entries that expired with nobody to sweep them (their process died while no other process
        # held the group) leave first: the snapshot this socket gets must not list them.
        await self.sweep(conn.group_id)
        if await self.engine.presence.add(conn.group_id, conn.id, conn.user_id, self.ttl_s) == 1:
            member = rooms.Member(conn.user_id, conn.name, conn.role)
            await self.live.publish(conn.group_id, protocol.member_joined(member))

    def leave(self, conn: Client) -> asyncio.Task[None]:
        """Detach in a task of its own, so a handler cancelled at disconnect still says goodbye."""
        task = asyncio.create_task(self._leave(conn), name=f"leave-{conn.id}")
        self._leaving.add(task)
        task.add_done_callback(self._leaving.discard)
        return task

    async def _leave(self, conn: Client) -> None:
        try:
            await self.detach(conn)
        except GroupGone:
            pass
        except Exception as exc:
            failures.log_error(log, exc, f"detaching connection {conn.id} from group {conn.group_id} failed")

    async def detach(self, conn: Client) -> None:
        last_here = self.hub.remove(conn)
        if last_here:
            await self.engine.broker.unsubscribe(conn.group_id)
            self.timers.cancel(conn.group_id)
        user_id, remaining = await self.engine.presence.remove(conn.group_id, conn.id)
        if user_id is not None and remaining == 0:
            with contextlib.suppress(GroupGone):
                await self.live.publish(conn.group_id, protocol.member_left(user_id))
                # Nobody drives the Spotify of a member who is no longer in the room.
                await self.live.set_follow(conn.group_id, user_id, False)
        if last_here:
            for callback in self.released:
                await callback(conn.group_id)

    async def members(self, group_id: str) -> list[rooms.Member]:
        """Members present, with their names and current roles from SQL."""
        present = await self.engine.presence.users(group_id)
        async with self.live.db.read() as session:
            rows = await queries.member_names(session, group_id)
        return [rooms.Member(user_id, name, role) for user_id, name, role in rows if user_id in present]

    async def count(self, group_id: str) -> int:
        return len(await self.engine.presence.users(group_id))

    async def voters(self, group_id: str) -> int:
        """Present members a vote to skip counts (``rooms.voters``: not the hosts)."""
        return rooms.voters(await self.members(group_id))

    async def sweep(self, group_id: str) -> None:
        """Remove expired entries; their users who thereby left get their member_left."""
        for user_id in await self.engine.presence.expired(group_id):
            await self.live.publish(group_id, protocol.member_left(user_id))
