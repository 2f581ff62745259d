"""Commands on a group's live state: one lock, SQL first, then the engine.

Every change of a group runs under the group's engine lock (one writer per group across all
processes): read the live state (rebuilding it from SQL under a new epoch when it is missing),
apply the pure transition from ``rooms``, commit the durable part to SQL, then commit the new
live state and its events to the engine, which logs and publishes them. The acknowledgement the
caller sends carries the seq of the last event.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from rooms_server import protocol, rooms
from rooms_server.config import Settings
from rooms_server.db import live as sql
from rooms_server.db.models import User
from rooms_server.db.session import Database
from rooms_server.engine.base import Engine, Stored
from rooms_server.metrics import Metrics
from rooms_server.rooms import Change, LiveState, RoomError

if TYPE_CHECKING:
    from rooms_server.sources import Sources

log = logging.getLogger(__name__)

Transition = Callable[[LiveState, AsyncSession | None], Awaitable[Change]]


def now_ms() -> int:
    return int(time.time() * 1000)


class GroupGone(Exception):
    """The group no longer exists in SQL."""


@dataclass(frozen=True, slots=True)
class Actor:
    user_id: str
    name: str
    role: str


class LiveGroups:
    """Runs commands and publishes events for any group; shared by every socket of the process."""

    def __init__(
        self,
        engine: Engine,
        db: Database,
        settings: Settings,
        sources: Sources | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.engine = engine
        self.db = db
        self.settings = settings
        self.sources = sources  # resolves the links of add commands; None: clients describe their tracks
        self.metrics = metrics or Metrics()

    @asynccontextmanager
    async def _locked(self, group_id: str) -> AsyncIterator[None]:
        """The group's engine lock, with the time it took to get it recorded."""
        asked = time.perf_counter()
        async with self.engine.lock(group_id):
            self.metrics.lock_wait_seconds.observe(time.perf_counter() - asked)
            yield

    # -- reading ---------------------------------------------------------------------------------

    async def current(self, group_id: str) -> tuple[Stored, LiveState]:
        """The live state, rebuilt from SQL (paused, new epoch) when the engine has none."""
        stored = await self.engine.get(group_id)
        if stored is not None:
            try:
                return stored, rooms.decode_state(stored.state)
            except ValueError:
                log.warning("group %s: live state unreadable, rebuilding from SQL", group_id)
        return await self._rebuild(group_id, replace=stored is not None)

    async def _rebuild(self, group_id: str, *, replace: bool) -> tuple[Stored, LiveState]:
        """Load the group from SQL under a new epoch; ``replace`` drops a live state that exists."""
        async with self.db.read() as session:
            state = await sql.load_state(session, group_id, now_ms())
        if state is None:
            raise GroupGone(group_id)
        encoded = rooms.encode_state(rooms.rebuild(state))
        # create() keeps a state another process rebuilt a moment ago: one new epoch, not two.
        stored = await (self.engine.reset(group_id, encoded) if replace else self.engine.create(group_id, encoded))
        log.info("group %s: live state rebuilt from SQL under epoch %s", group_id, stored.epoch)
        return stored, rooms.decode_state(stored.state)

    # -- writing ---------------------------------------------------------------------------------

    async def run(self, group_id: str, transition: Transition, *, durable: bool) -> int:
        """Apply ``transition`` under the group lock; return the seq after its events."""
        async with self._locked(group_id):
            stored, state = await self.current(group_id)
            if durable:
                try:
                    async with self.db.write() as session:
                        change = await transition(state, session)
                        await sql.save_playlist(session, state, change.state)
                except sql.StaleState:
                    # The live state lags SQL (e.g. a lock that expired mid-command): rebuild, and
                    # let the client retry against the rebuilt state.
                    await self._rebuild(group_id, replace=True)
                    raise RoomError("conflict", "the room changed meanwhile; try again") from None
            else:
                change = await transition(state, None)
            return await self._commit(group_id, stored, change)

    async def _commit(self, group_id: str, stored: Stored, change: Change) -> int:
        if not change.events:
            return stored.seq
        ts = now_ms()
        frames = [
            protocol.encode_event(body, epoch=stored.epoch, seq=stored.seq + i, ts=ts)
            for i, body in enumerate(change.events, start=1)
        ]
        if not await self.engine.commit(group_id, stored.epoch, stored.seq, rooms.encode_state(change.state), frames):
            # Only possible when the lock was lost or the state was rebuilt under us; SQL already
            # holds the change, so a rebuild from it converges.
            await self._rebuild(group_id, replace=True)
            raise RoomError("conflict", "the room changed meanwhile; try again")
        self.metrics.events_published.inc(len(frames))
        return stored.seq + len(frames)

    async def publish(self, group_id: str, *events: rooms.Event) -> int:
        """Events that change no durable or live state (presence, chat, roles, reactions)."""

        async def same_state(state: LiveState, _: AsyncSession | None) -> Change:
            return Change(state, list(events))

        return await self.run(group_id, same_state, durable=False)

    async def update_group(self, group_id: str, *, name: str, is_public: bool) -> int:
        async def rename(state: LiveState, _: AsyncSession | None) -> Change:
            return rooms.update_group(state, name=name, is_public=is_public)

        return await self.run(group_id, rename, durable=False)

    async def delete_group(self, group_id: str) -> None:
        """Tell every socket, then forget the live state (SQL rows are already gone)."""
        async with self._locked(group_id):
            stored = await self.engine.get(group_id)
            if stored is not None:
                change = Change(rooms.decode_state(stored.state), [protocol.group_deleted()])
                await self._commit(group_id, stored, change)
            await self.engine.delete(group_id)

    async def advance(self, group_id: str) -> int:
        """Move on when the current track has ended; a no-op for every process but the first."""
        lead = self.settings.playback_lead_ms

        async def advance_if_ended(state: LiveState, _: AsyncSession | None) -> Change:
            return rooms.advance_if_ended(state, now_ms=now_ms(), lead_ms=lead)

        return await self.run(group_id, advance_if_ended, durable=True)

    async def add_track(
        self, group_id: str, actor: User, *, service: str, url: str, title: str, duration_s: int
    ) -> int:
        max_queue = self.settings.limits.max_queue_tracks

        async def add(state: LiveState, session: AsyncSession | None) -> Change:
            assert session is not None
            if len(state.tracks) >= max_queue:
                raise RoomError("queue_full", f"the playlist holds at most {max_queue} tracks")
            track = await sql.insert_track(
                session, state, user=actor, service=service, title=title, duration_s=duration_s, url=url
            )
            return rooms.add_track(state, track, max_queue=max_queue)

        return await self.run(group_id, add, durable=True)
