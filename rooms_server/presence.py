"""Who is in the room: presence, heartbeats, the session check of open sockets, resyncs.

A user is present while at least one of their sockets is registered in the engine (on any
process). Their first socket emits ``member_joined``, their last one ``member_left``. Each process
refreshes its sockets' entries every third of the presence TTL and sweeps expired entries of the
groups it holds, so a crashed process's ghosts leave within 4/3 of a TTL (PRESENCE_TTL_S): their
entries expire at most one TTL after the crash, the next sweep comes at most TTL/3 later. A new
socket sweeps its group before its snapshot, so the snapshot lists no expired entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from rooms_server import failures, protocol, rooms
from rooms_server.client import Client
from rooms_server.db import identity, queries
from rooms_server.db.models import utcnow
from rooms_server.engine.base import Engine
from rooms_server.hub import Hub
from rooms_server.live import GroupGone, LiveGroups
from rooms_server.protocol import CloseCode
from rooms_server.timers import TrackEndTimers

log = logging.getLogger(__name__)

# A logout ends the token's sockets at once (a broadcast, hub.on_signal) and a token's expiry at its
# moment (a timer, web/ws.py); this periodic check is the backstop for a broadcast lost in an
# engine outage or a session deleted straight in the database.
SESSION_CHECK_S = 10.0


class Presence:
    def __init__(self, hub: Hub, engine: Engine, live: LiveGroups, timers: TrackEndTimers) -> None:
        self.hub = hub
        self.engine = engine
        self.live = live
        self.timers = timers  # armed here when this process starts holding a group, cancelled when it stops
        self.ttl_s = live.settings.presence_ttl_s
        self._heartbeat: asyncio.Task[None] | None = None
        self._leaving: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self._heartbeat = asyncio.create_task(self._beat(), name="presence-heartbeat")

    async def stop(self) -> None:
        if self._leaving:  # let departures finish while the engine is still open
            await asyncio.wait(self._leaving, timeout=5)
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        self.timers.stop()

    # -- joining and leaving ---------------------------------------------------------------------

    async def attach(self, conn: Client) -> None:
        if self.hub.add(conn):
            await self.engine.broker.subscribe(conn.group_id)
            self.timers.arm_current(conn.group_id)
        # Entries that expired with nobody to sweep them (their process died while no other process
        # held the group) leave first: the snapshot this socket gets must not list them.
        await self._sweep(conn.group_id)
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
        if self.hub.remove(conn):
            await self.engine.broker.unsubscribe(conn.group_id)
            self.timers.cancel(conn.group_id)
        user_id, remaining = await self.engine.presence.remove(conn.group_id, conn.id)
        if user_id is not None and remaining == 0:
            with contextlib.suppress(GroupGone):
                await self.live.publish(conn.group_id, protocol.member_left(user_id))
                # Nobody drives the Spotify of a member who is no longer in the room.
                await self.live.set_follow(conn.group_id, user_id, False)

    async def members(self, group_id: str) -> list[rooms.Member]:
        """Members present, with their names and current roles from SQL."""
        present = await self.engine.presence.users(group_id)
        async with self.live.db.read() as session:
            rows = await queries.members(session, group_id)
        return [rooms.Member(user.id, user.name, conn.role) for conn, user in rows if user.id in present]

    async def count(self, group_id: str) -> int:
        return len(await self.engine.presence.users(group_id))

    async def voters(self, group_id: str) -> int:
        """Present members a vote to skip counts (``rooms.voters``: not the hosts)."""
        return rooms.voters(await self.members(group_id))

    # -- heartbeat and sweeping ------------------------------------------------------------------

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(min(self.ttl_s / 3, SESSION_CHECK_S))
            for group_id in list(self.hub.groups):
                try:
                    await self._refresh(group_id)
                except Exception as exc:
                    failures.log_error(log, exc, f"presence refresh failed for group {group_id}")
            try:
                await self._end_revoked_sessions()
            except Exception as exc:
                failures.log_error(log, exc, "checking the sessions of open sockets failed")

    async def _end_revoked_sessions(self) -> None:
        """Close sockets whose token was revoked (logout) or has expired since they connected."""
        conns = [c for group in self.hub.groups.values() for c in group if not c.closed]
        async with self.live.db.read() as session:
            alive = await identity.live_token_hashes(session, {c.token_hash for c in conns}, utcnow())
        for conn in conns:
            if conn.token_hash not in alive:
                await conn.shut(CloseCode.UNAUTHORIZED, "the token was revoked or has expired")

    async def _refresh(self, group_id: str) -> None:
        conn_ids = [c.id for c in self.hub.connections(group_id)]
        await self.engine.presence.touch(group_id, conn_ids, self.ttl_s)
        await self._sweep(group_id)

    async def _sweep(self, group_id: str) -> None:
        """Remove expired entries; their users who thereby left get their member_left."""
        for user_id in await self.engine.presence.expired(group_id):
            await self.live.publish(group_id, protocol.member_left(user_id))
