"""Host failover: every HOST_CHECK_S, each process checks the rooms it holds sockets of.

The rules are pure (``hosting.check``); this runs them. A tick reads the hosting of all its rooms
in one query and the members present from the engine; a room whose host is present and that has
no failover in progress costs nothing more. A step is written with the compare-and-set of
``db.hosting.apply_step``, so when two processes decide the same failover only one writes it and
only that one announces it (``role_changed`` for each role it moves, then ``hosting_changed``).
A process that dies between its commit and its publish leaves the change durable and unannounced:
the next snapshot of every phone shows it.

The clock is injected (``now``), and tests call ``tick`` and ``released`` directly.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from datetime import datetime

from rooms_server import failures, hosting, protocol
from rooms_server.db import hosting as hosting_queries
from rooms_server.db.models import utcnow
from rooms_server.db.session import Database
from rooms_server.engine.base import PresenceStore
from rooms_server.hosting import Hosting, Step
from rooms_server.hub import Hub
from rooms_server.live import GroupGone, LiveGroups

log = logging.getLogger(__name__)
CHUNK = 500  # groups per hosting query


class HostWatch:
    def __init__(
        self,
        hub: Hub,
        presence: PresenceStore,
        live: LiveGroups,
        db: Database,
        *,
        every_s: float,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.hub = hub
        self.presence = presence
        self.live = live
        self.db = db
        self.every_s = every_s
        self.now = now
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="host-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.every_s)
            try:
                await self.tick()
            except Exception as exc:  # an outage skips a round; the next one decides again
                failures.log_error(log, exc, "host check failed")

    async def tick(self) -> None:
        group_ids = list(self.hub.groups)
        for start in range(0, len(group_ids), CHUNK):
            await self.check(group_ids[start : start + CHUNK])

    async def released(self, group_id: str) -> None:
        """This process's last socket of the group left: check it once more (an emptied room stops
        the grace period; nobody else might be holding the room to notice)."""
        try:
            await self.check([group_id])
        except Exception as exc:
            failures.log_error(log, exc, f"host check of group {group_id} failed")

    async def check(self, group_ids: Iterable[str]) -> None:
        async with self.db.read() as session:
            found = await hosting_queries.hostings(session, group_ids)
        for group_id, was in found.items():
            present = set(await self.presence.users(group_id))
            if _settled(was, present):
                continue
            await self._decide(group_id, was, present)

    async def _decide(self, group_id: str, was: Hosting, present: set[str]) -> None:
        async with self.db.read() as session:
            members = await hosting_queries.candidates(session, group_id)
        step = hosting.check(was, present, members, self.now())
        if step is None:
            return
        async with self.db.write() as session:
            if not await hosting_queries.apply_step(session, group_id, was, step):
                return  # another process (or a host's own action) changed it first
        if step.cause is not None:
            log.info("group %s: %s, host is now %s", group_id, step.cause, step.hosting.host_user_id)
            await announce(self.live, group_id, step, previous=was.host_user_id)


def _settled(was: Hosting, present: set[str]) -> bool:
    """Nothing to decide: the host is here, no grace period runs, and no original host came back."""
    host_here = was.host_user_id is not None and was.host_user_id in present
    return host_here and was.away_since is None and was.away_host_user_id not in present


async def announce(live: LiveGroups, group_id: str, step: Step, *, previous: str | None) -> None:
    """The committed step's events, in one publish: the role changes first, then the hosting."""
    assert step.cause is not None
    events = [protocol.role_changed(user_id, role) for user_id, role in step.roles]
    events.append(protocol.hosting_changed(step.hosting, step.cause, previous))
    try:
        await live.publish(group_id, *events)
    except GroupGone:
        pass
    except failures.BACKEND_ERRORS as exc:
        log.warning("group %s: hosting_changed not published (%s)", group_id, type(exc).__name__)
