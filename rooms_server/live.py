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

Durable commands that queue up behind each other in one group run as one batch: one lock, one SQL
transaction, one engine commit (group_commit.py queues them, live_batch.py runs them); each still
gets its own answer, and an ack still means both commits happened.

Time comes from one injected ``ServerClock`` (monotonic, never stepping). A durable command's
scheduled instant is stamped after its SQL commit (``rooms.restamp``), so the database's latency
never eats into the lead phones need; the lead itself follows the room's reported round trips
(``latency.RoomLatency``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from rooms_server import failures, protocol, rooms
from rooms_server.clock import ServerClock
from rooms_server.config import Settings
from rooms_server.db.live import LiveStore
from rooms_server.db.session import Database
from rooms_server.engine.base import Engine, Remembered, Stored
from rooms_server.failures import BACKEND_ERRORS
from rooms_server.group_commit import GroupQueues, Pending
from rooms_server.latency import RoomLatency
from rooms_server.live_batch import Applied, Ask, DurableBatch, Inputs as Inputs, Transition as Transition, joins
from rooms_server.metrics import Metrics
from rooms_server.outcomes import CommandId, Outcomes, acked
from rooms_server.room_state import NewTrack
from rooms_server.rooms import Change, LiveState, RoomError

if TYPE_CHECKING:
    from rooms_server.follow import SpotifyFollow
    from rooms_server.sources import Sources

log = logging.getLogger(__name__)

# A room's state is read for every snapshot and command, and changes far less often: each stored
# version is decoded once (the states are immutable). With the memory engine the bytes are the same
# object every time, so a hit costs no hashing; a Redis read hashes them once (~1 µs per KB).
DECODED_STATES_KEPT = 64
decoded = functools.lru_cache(maxsize=DECODED_STATES_KEPT)(rooms.decode_state)


# Called after every commit that changed the live state of a room somebody follows (``followers``:
# members whose own Spotify plays the room), with (group id, before, after); must not block (the
# Spotify driver schedules its calls from here). A room nobody follows never calls them.
CommitObserver = Callable[[str, LiveState, LiveState], None]


class GroupGone(Exception):
    """The group no longer exists in SQL."""


class LiveGroups:
    """Runs commands and publishes events for any group; shared by every socket of the process."""

    def __init__(
        self,
        engine: Engine,
        db: Database,
        settings: Settings,
        sources: Sources | None = None,
        metrics: Metrics | None = None,
        *,
        clock: ServerClock | None = None,
    ) -> None:
        self.engine = engine
        self.db = db
        self.store = LiveStore(db)
        self.settings = settings
        self.sources = sources  # resolves the links of add commands; None: clients describe their tracks
        self.outcomes = Outcomes(engine, settings.command_id_window_s)
        self.metrics = metrics or Metrics()
        self.clock = clock or ServerClock()
        self.latency = RoomLatency(
            engine, min_lead_ms=settings.playback_lead_ms, max_lead_ms=settings.playback_lead_max_ms
        )
        self.observers: list[CommitObserver] = []
        self.follow: SpotifyFollow | None = None  # "play on my Spotify"; set by the app when it can
        self.durable = DurableBatch(self)
        self.queues: GroupQueues[Ask, int] = GroupQueues(self._run_batch, joins)

    def now_ms(self) -> int:
        return self.clock.now_ms()

    async def lead_ms(self, group_id: str) -> int:
        return await self.latency.lead_ms(group_id)

    @asynccontextmanager
    async def _locked(self, group_id: str) -> AsyncIterator[None]:
        """The group's engine lock, with the time it took to get it recorded."""
        asked = time.perf_counter()
        async with self.engine.locks.lock(group_id):
            self.metrics.lock_wait_seconds.observe(time.perf_counter() - asked)
            yield

    # -- reading ---------------------------------------------------------------------------------

    async def current(self, group_id: str) -> tuple[Stored, LiveState]:
        """The live state, rebuilt from SQL (paused, new epoch) when the engine has none."""
        stored = await self.engine.state.get(group_id)
        if stored is not None:
            try:
                return stored, decoded(stored.state)
            except ValueError:
                log.warning("group %s: live state unreadable, rebuilding from SQL", group_id)
        return await self._rebuild(group_id, replace=stored is not None)

    async def _rebuild(self, group_id: str, *, replace: bool) -> tuple[Stored, LiveState]:
        """Load the group from SQL under a new epoch; ``replace`` drops a live state that exists."""
        state = await self.store.load(group_id, self.now_ms())
        if state is None:
            raise GroupGone(group_id)
        encoded = rooms.encode_state(rooms.rebuild(state))
        # create() keeps a state another process rebuilt a moment ago: one new epoch, not two.
        stored = await (
            self.engine.state.reset(group_id, encoded) if replace else self.engine.state.create(group_id, encoded)
        )
        log.info("group %s: live state rebuilt from SQL under epoch %s", group_id, stored.epoch)
        return stored, decoded(stored.state)

    # -- writing ---------------------------------------------------------------------------------

    async def run(
        self,
        group_id: str,
        transition: Transition,
        *,
        durable: bool,
        lead_ms: int | None = None,
        command: CommandId | None = None,
        new_tracks: Sequence[NewTrack] = (),
    ) -> int:
        """Apply ``transition`` under the group lock; return the seq after its events.

        ``lead_ms``: the lead a durable transition scheduled with; its start is re-stamped with it
        once SQL has committed. ``new_tracks`` (durable only) get their rows, hence their ids, in
        the command's transaction before the transition runs. Raises Duplicate when ``command`` was
        answered before, RoomError when the room refuses. Durable commands that queue up behind
        each other commit together (live_batch.py); the answer is the same as alone.
        """
        if new_tracks and not durable:
            raise ValueError("tracks are only added by durable transitions")
        return await self.queues.submit(group_id, Ask(transition, durable, lead_ms, command, new_tracks))

    async def _run_batch(self, group_id: str, batch: list[Pending[Ask, int]]) -> None:
        """The leader's turn (group_commit.py): one lock for the batch; answers after every commit."""
        async with self._locked(group_id):
            if batch[0].ask.durable:
                applied = await self.durable.run(group_id, batch)
            else:
                applied = [await self._run_live(group_id, batch[0])]
        for a in applied:
            a.pending.resolve(a.seq)
            before, after = a.before, a.change.state
            if after is not before and (before.followers or after.followers):
                for observe in self.observers:
                    observe(group_id, before, after)

    async def _run_live(self, group_id: str, pending: Pending[Ask, int]) -> Applied:
        """A live-only command, alone: its answer is kept in the engine commit, atomically."""
        command = pending.ask.command
        if command is not None:
            await self.outcomes.check_live(command)
        stored, before = await self.current(group_id)
        change = await pending.ask.transition(before, Inputs())
        if change.played:  # a play ending is durable history: the transition must be too
            raise ValueError("a live-only transition ended a play")
        seq = stored.seq + len(change.events)
        remember = self.outcomes.with_commit(command, acked(seq))
        await self._commit(group_id, stored, change.state, change.events, remember)
        return Applied(pending, before, change, seq)

    async def _stall_for_tests(self, command: CommandId | None) -> None:
        """TEST_STALL_AFTER_SQL_S (test-only fault injection, off by default)."""
        stall_s = self.settings.test_stall_after_sql_s
        if stall_s > 0 and command is not None and command.id.startswith("stall-"):
            log.warning("test fault: stalling %s s between the SQL and the engine commit", stall_s)
            await asyncio.sleep(stall_s)

    async def _commit(
        self,
        group_id: str,
        stored: Stored,
        after: LiveState,
        events: Sequence[rooms.Event],
        remember: Remembered | None = None,
        *,
        durable: bool = False,
    ) -> None:
        """Store ``after`` and append ``events`` as seq+1.. (one engine round trip for a whole batch)."""
        if not events and remember is None:
            return
        ts = self.now_ms()
        frames = [
            protocol.encode_event(body, epoch=stored.epoch, seq=stored.seq + i, ts=ts)
            for i, body in enumerate(events, start=1)
        ]
        state = rooms.encode_state(after)
        try:
            applied = await self.engine.state.commit(
                group_id, stored.epoch, stored.seq, state, frames, remember=remember
            )
        except BACKEND_ERRORS as exc:
            if not durable or failures.classify(exc) is None:
                raise
            # SQL holds the change and its answer: the command applied. The live state lags SQL
            # until the next command finds the playlist version moved on and rebuilds it.
            log.warning("group %s: engine commit failed after the SQL commit (%s)", group_id, type(exc).__name__)
            return
        if applied:
            self.metrics.events_published.inc(len(frames))
        else:
            # Only possible when the lock was lost or the state was rebuilt under us. SQL already
            # holds a durable change (and its answer), so a rebuild from it converges, and the
            # command did apply; a live-only one did not.
            await self._rebuild(group_id, replace=True)
            if not durable:
                raise RoomError("conflict", "the room changed meanwhile; try again")

    async def publish(self, group_id: str, *events: rooms.Event, command: CommandId | None = None) -> int:
        """Events that change no durable or live state (presence, chat, roles, reactions)."""

        async def same_state(state: LiveState, _: Inputs) -> Change:
            return Change(state, list(events))

        return await self.run(group_id, same_state, durable=False, command=command)

    async def update_group(self, group_id: str, *, name: str, is_public: bool) -> int:
        async def rename(state: LiveState, _: Inputs) -> Change:
            return rooms.update_group(state, name=name, is_public=is_public)

        return await self.run(group_id, rename, durable=False)

    async def delete_group(self, group_id: str) -> None:
        """Tell every socket, then forget the live state (SQL rows are already gone)."""
        async with self._locked(group_id):
            stored = await self.engine.state.get(group_id)
            if stored is not None:
                await self._commit(group_id, stored, decoded(stored.state), [protocol.group_deleted()])
            await self.engine.state.delete(group_id)

    async def advance(self, group_id: str) -> int:
        """Move on when the current track has ended; a no-op for every process but the first."""
        lead = await self.lead_ms(group_id)

        async def advance_if_ended(state: LiveState, _: Inputs) -> Change:
            return rooms.advance_if_ended(state, now_ms=self.now_ms(), lead_ms=lead)

        return await self.run(group_id, advance_if_ended, durable=True, lead_ms=lead)

    async def set_listening_mode(self, group_id: str, mode: str) -> int:
        """The group's listening mode (PATCH /api/groups/{id}); written to SQL by the generic save."""

        async def change_mode(state: LiveState, _: Inputs) -> Change:
            return rooms.set_listening_mode(state, mode)

        return await self.run(group_id, change_mode, durable=True)

    async def set_follow(self, group_id: str, user_id: str, following: bool, *, notice: str | None = None) -> int:
        async def follow(state: LiveState, _: Inputs) -> Change:
            return rooms.set_follow(state, user_id, following, notice=notice)

        return await self.run(group_id, follow, durable=False)
