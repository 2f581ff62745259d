"""Who is in the room: a user's first socket joins them, their last one leaves them.

A user is present while at least one of their sockets is registered in the engine (on any
process). Entries are kept alive and swept by the heartbeat (heartbeat.py); a new socket sweeps
its group before its snapshot, so the snapshot lists no expired entry.

Arrivals and departures are announced in windows (``PRESENCE_WINDOW_MS``): the first change in a
quiet room goes out at once as a ``members_changed``; changes in the window after it wait and go
out together at its end, as one event. A join storm of N phones then costs O(N) frames instead of
one event per join to each of N sockets, O(N²). Each window announces the latest state of each
user it saw change (present: in ``joined``; gone: in ``left``), so a phone that reloads within a
window announces itself present and keeps following, and a client whose snapshot listed someone
who has gone since always gets their ``left``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection

from rooms_server import failures, protocol, rooms
from rooms_server.client import Client
from rooms_server.db import queries
from rooms_server.db.session import Transaction
from rooms_server.engine.base import Engine
from rooms_server.hub import Hub
from rooms_server.live import GroupGone, LiveGroups
from rooms_server.roster import Roster
from rooms_server.timers import TrackEndTimers

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[object]]
# A window's changes: user id -> the member now present, or None for a user who has gone.
Changes = dict[str, rooms.Member | None]


class Presence:
    def __init__(
        self, hub: Hub, engine: Engine, live: LiveGroups, timers: TrackEndTimers, *, sleep: Sleep = asyncio.sleep
    ) -> None:
        self.hub = hub
        self.engine = engine
        self.live = live
        self.timers = timers  # armed here when this process starts holding a group, cancelled when it stops
        self.ttl_s = live.settings.presence_ttl_s
        self.window_s = live.settings.presence_window_ms / 1000
        self.list_max = live.settings.snapshot_members_max
        self._sleep = sleep  # injected by tests to hold a window open
        self._leaving: set[asyncio.Task[None]] = set()
        self._changes: dict[str, Changes] = {}  # per group, waiting for its window to end
        self._windows: dict[str, asyncio.Task[None]] = {}  # per group with a window open
        self._rosters: dict[str, Roster] = {}  # per group this process holds: for its snapshots
        # Called with a group id once this process's last socket of it has left (host_watch.py).
        self.released: list[Callable[[str], Awaitable[None]]] = []

    async def stop(self) -> None:
        if self._leaving:  # let departures finish while the engine is still open
            await asyncio.wait(self._leaving, timeout=5)
        windows = list(self._windows.values())
        for task in windows:
            task.cancel()  # the windows close now: what they hold goes out below
        await asyncio.gather(*windows, return_exceptions=True)
        for group_id in list(self._changes):
            await self._announce_safely(group_id, self._changes.pop(group_id))
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
            await self._change(conn.group_id, conn.user_id, rooms.Member(conn.user_id, conn.name, conn.role))

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
            self._rosters.pop(conn.group_id, None)
        user_id, remaining = await self.engine.presence.remove(conn.group_id, conn.id)
        if user_id is not None and remaining == 0:
            await self._change(conn.group_id, user_id, None)
        if last_here:
            for callback in self.released:
                await callback(conn.group_id)

    async def sweep(self, group_id: str) -> None:
        """Remove expired entries; their users who thereby left are announced as gone."""
        for user_id in await self.engine.presence.expired(group_id):
            await self._change(group_id, user_id, None)

    # -- announcing, one window at a time ----------------------------------------------------------

    async def _change(self, group_id: str, user_id: str, member: rooms.Member | None) -> None:
        """Announce at once in a quiet room (a socket's own arrival is then in its snapshot's seq,
        as it was before windows), else leave it to the open window."""
        self._changes.setdefault(group_id, {})[user_id] = member
        if group_id in self._windows:
            return
        changes = self._changes.pop(group_id)
        if self.window_s > 0:  # opened first, so that changes meanwhile wait for its end
            self._windows[group_id] = asyncio.create_task(self._hold_window(group_id), name=f"presence-{group_id}")
        await self._announce_safely(group_id, changes)

    async def _hold_window(self, group_id: str) -> None:
        """At each window's end announce what it gathered, and open the next; close when one is empty."""
        try:
            while True:
                await self._sleep(self.window_s)
                changes = self._changes.pop(group_id, None)
                if changes is None:
                    return
                await self._announce_safely(group_id, changes)
        finally:
            del self._windows[group_id]

    async def _announce_safely(self, group_id: str, changes: Changes) -> None:
        try:
            await self._announce(group_id, changes)
        except GroupGone:
            pass
        except Exception as exc:  # an outage loses this announcement; the next snapshot is right
            failures.log_error(log, exc, f"announcing presence in group {group_id} failed")

    async def _announce(self, group_id: str, changes: Changes) -> None:
        joined = [member for member in changes.values() if member is not None]
        left = [user_id for user_id, member in changes.items() if member is None]
        count = len(await self.engine.presence.users(group_id))
        await self.live.publish(group_id, protocol.members_changed(joined, left, count))
        for user_id in left:  # nobody drives the Spotify of a member who is no longer in the room
            await self.live.set_follow(group_id, user_id, False)

    # -- reading ---------------------------------------------------------------------------------

    async def listed(self, session: Transaction, group_id: str) -> tuple[list[rooms.Member], int, int]:
        """For a snapshot (in its read transaction): up to SNAPSHOT_MEMBERS members present, hosts
        first; how many are present; how many of them a vote to skip counts (``rooms.voters``)."""
        present = await self.engine.presence.users(group_id)
        members, hosts = await self._pick(session, group_id, present)
        return members, len(present), rooms.voters(present, hosts)

    async def _pick(
        self, session: Transaction, group_id: str, present: Collection[str]
    ) -> tuple[list[rooms.Member], frozenset[str]]:
        """From the roster kept for the group while its version holds (roster.py), else read again
        and kept while this process holds sockets of the group."""
        version = await queries.roster_version(session, group_id)
        kept = self._rosters.get(group_id)
        if kept is not None and kept.version == version:
            rows = kept.pick(present, self.list_max)
            if rows is not None:
                return rows, kept.host_ids
        listing = await queries.present_members(session, group_id, present, self.list_max, version=version or 0)
        if listing.roster is not None and version is not None and group_id in self.hub.groups:
            self._rosters[group_id] = listing.roster
        return listing.rows, listing.hosts

    async def voters(self, group_id: str) -> int:
        """Present members a vote to skip counts (``rooms.voters``: not the hosts)."""
        present = await self.engine.presence.users(group_id)
        async with self.live.db.read() as session:
            hosts = await queries.admin_ids(session, group_id)
        return rooms.voters(present, hosts)
