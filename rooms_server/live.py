"""Commands on a group's live state: one lock, SQL first, then the engine.

Every change of a group runs under the group's engine lock (one writer per group across all
processes): read the live state (rebuilding it from SQL under a new epoch when it is missing),
apply the pure transition from ``rooms``, commit the durable part to SQL, then commit the new
live state and its events to the engine, which logs and publishes them. The acknowledgement the
caller sends carries the seq of the last event.

A command with a client id is answered once (outcomes.py): its answer is recorded in the SQL
transaction (durable commands) or in the engine commit (live-only ones), and looked up under the
lock first. When SQL moved on without the engine (a process died between the two commits, or a
lock lease ran out), the durable write's compare-and-set fails; the state is rebuilt from SQL and
the command runs once more against it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from rooms_server import failures, protocol, rooms
from rooms_server.config import Settings
from rooms_server.db import live as sql
from rooms_server.db.models import User
from rooms_server.db.session import Database
from rooms_server.engine.base import Engine, Stored
from rooms_server.failures import BACKEND_ERRORS
from rooms_server.metrics import Metrics
from rooms_server.outcomes import CommandId, Duplicate, Outcomes, acked
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
        self.outcomes = Outcomes(engine, settings.command_id_window_s)
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

    async def run(
        self, group_id: str, transition: Transition, *, durable: bool, command: CommandId | None = None
    ) -> int:
        """Apply ``transition`` under the group lock; return the seq after its events.

        Raises Duplicate when ``command`` was answered before, RoomError when the room refuses.
        """
        async with self._locked(group_id):
            if command is not None:
                await self.outcomes.check_live(command)
            if durable:
                return await self._run_durable(group_id, transition, command)
            stored, state = await self.current(group_id)
            change = await transition(state, None)
            return await self._commit(group_id, stored, change, command)

    async def _run_durable(self, group_id: str, transition: Transition, command: CommandId | None) -> int:
        stored, state = await self.current(group_id)
        for attempt in range(2):
            try:
                async with self.db.write() as session:
                    if command is not None:
                        await self._check_durable(session, group_id, state, command)
                    change = await transition(state, session)
                    await sql.save_playlist(session, state, change.state)
                    answer = acked(stored.seq + len(change.events))
                    if command is not None:
                        await self.outcomes.record_durable(session, command, answer)
                break
            except sql.StaleState:
                # The live state lags SQL (a process died between its two commits, or a lock lease
                # ran out): rebuild it from SQL and run the command once more against it.
                if attempt:
                    raise RoomError("conflict", "the room changed meanwhile; try again") from None
                stored, state = await self._rebuild(group_id, replace=True)
        await self._stall_for_tests(command)
        return await self._commit(group_id, stored, change, command, durable=True)

    async def _check_durable(self, session: AsyncSession, group_id: str, state: LiveState, command: CommandId) -> None:
        try:
            await self.outcomes.check_durable(session, command)
        except Duplicate:
            # Answered in SQL but not in the engine: the answering process may have died before its
            # engine commit, so the live state may lag SQL; bring it up to date before answering.
            if await sql.current_version(session, state.playlist_id) != state.version:
                await self._rebuild(group_id, replace=True)
            raise

    async def _stall_for_tests(self, command: CommandId | None) -> None:
        """TEST_STALL_AFTER_SQL_S (test-only fault injection, off by default)."""
        stall_s = self.settings.test_stall_after_sql_s
        if stall_s > 0 and command is not None and command.id.startswith("stall-"):
            log.warning("test fault: stalling %s s between the SQL and the engine commit", stall_s)
            await asyncio.sleep(stall_s)

    async def _commit(
        self, group_id: str, stored: Stored, change: Change, command: CommandId | None = None, *, durable: bool = False
    ) -> int:
        seq = stored.seq + len(change.events)
        remember = self.outcomes.with_commit(command, acked(seq))
        if not change.events and remember is None:
            return stored.seq
        ts = now_ms()
        frames = [
            protocol.encode_event(body, epoch=stored.epoch, seq=stored.seq + i, ts=ts)
            for i, body in enumerate(change.events, start=1)
        ]
        state = rooms.encode_state(change.state)
        try:
            applied = await self.engine.commit(group_id, stored.epoch, stored.seq, state, frames, remember=remember)
        except BACKEND_ERRORS as exc:
            if not durable or failures.classify(exc) is None:
                raise
            # SQL holds the change and its answer: the command applied. The live state lags SQL
            # until the next command finds the playlist version moved on and rebuilds it.
            log.warning("group %s: engine commit failed after the SQL commit (%s)", group_id, type(exc).__name__)
            return seq
        if applied:
            self.metrics.events_published.inc(len(frames))
        else:
            # Only possible when the lock was lost or the state was rebuilt under us. SQL already
            # holds a durable change (and its answer), so a rebuild from it converges, and the
            # command did apply; a live-only one did not.
            await self._rebuild(group_id, replace=True)
            if not durable:
                raise RoomError("conflict", "the room changed meanwhile; try again")
        return seq

    async def publish(self, group_id: str, *events: rooms.Event, command: CommandId | None = None) -> int:
        """Events that change no durable or live state (presence, chat, roles, reactions)."""

        async def same_state(state: LiveState, _: AsyncSession | None) -> Change:
            return Change(state, list(events))

        return await self.run(group_id, same_state, durable=False, command=command)

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
        self,
        group_id: str,
        actor: User,
        *,
        service: str,
        url: str,
        title: str,
        duration_s: int,
        command: CommandId | None = None,
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

        return await self.run(group_id, add, durable=True, command=command)
