"""A batch of durable commands of one group: one SQL transaction, one engine commit, an answer each.

The leader of a group (group_commit.py) holds the group's lock and runs the queued commands in
order against the threaded state. A command the room refuses changes nothing and gets its own
error while the others still commit: only adds write before they may be refused (their rows get
their ids first), so only they run in a savepoint (``session.begin_nested()``) that a refusal
rolls back. The state's diff (order, current track, version, settings, speakers) is written once,
from the batch's first state to its last; the plays a command ended and its answer (outcomes.py)
are written at once, so later commands of the batch see them (a duplicate id inside the batch
finds the first one's answer). Then one SQL commit, one engine commit carrying every event with
consecutive seqs, and each caller gets its own seq. An outage during the transaction fails every
command of it: none is acked, nothing is stored. **An ack still means committed**: it is sent
only after the SQL commit holding the command and its answer, and the engine commit.

When the live state lags SQL (the playlist's compare-and-set fails, ``StaleState``), the whole
transaction rolls back, the state is rebuilt from SQL and the batch runs once more, as a single
command did before batching.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from rooms_server import autoplay, failures, rooms
from rooms_server.db import live as sql
from rooms_server.db.live import LiveWrite
from rooms_server.engine.base import Stored
from rooms_server.group_commit import Pending
from rooms_server.outcomes import CommandId, Duplicate, acked
from rooms_server.room_state import NewTrack, Track
from rooms_server.rooms import Change, LiveState, RoomError

if TYPE_CHECKING:
    from rooms_server.live import LiveGroups


@dataclass(frozen=True, slots=True)
class Inputs:
    """What a transition gets besides the state, read in its own transaction: the tracks it adds,
    with the ids SQL gave them, and when each of their links last played in the room."""

    new_tracks: tuple[Track, ...] = ()
    last_played: Mapping[str, int] = field(default_factory=dict)  # url → ms since the epoch


Transition = Callable[[LiveState, Inputs], Awaitable[Change]]


@dataclass(frozen=True, slots=True)
class Ask:
    """One command as it waits in its group's queue (LiveGroups.run's arguments)."""

    transition: Transition
    durable: bool
    lead_ms: int | None = None
    command: CommandId | None = None
    new_tracks: Sequence[NewTrack] = ()


def joins(first: Ask, other: Ask) -> bool:
    """Durable commands share a batch; a live-only one runs alone (its answer lives in the engine commit)."""
    return first.durable and other.durable


@dataclass(slots=True)
class Applied:
    """A command of the batch that changed (or kept) the state; ``seq`` is the one after its events."""

    pending: Pending[Ask, int]
    before: LiveState
    change: Change
    seq: int


Refused = tuple[Pending[Ask, int], Exception]


class DurableBatch:
    """Runs batches of durable commands for LiveGroups; the caller holds the group's lock."""

    def __init__(self, live: LiveGroups) -> None:
        self.live = live

    async def run(self, group_id: str, batch: Sequence[Pending[Ask, int]]) -> list[Applied]:
        """Commit the batch; answer the refused commands; return the applied ones (not yet resolved)."""
        live = self.live
        stored, state = await live.current(group_id)
        for attempt in range(2):
            try:
                applied, refused = await self._transaction(stored, state, batch)
                break
            except sql.StaleState:
                # The live state lags SQL (a process died between its two commits, or a lock lease
                # ran out): rebuild it from SQL and run the batch once more against it.
                if attempt:
                    raise RoomError("conflict", "the room changed meanwhile; try again") from None
                stored, state = await live._rebuild(group_id, replace=True)
        _restamp(state, applied, live.now_ms())
        await live._stall_for_tests(next((p.ask.command for p in batch if p.ask.command is not None), None))
        await self._publish(group_id, stored, state, applied)
        for pending, exc in refused:
            pending.fail(exc)
        return applied

    async def _transaction(
        self, stored: Stored, start: LiveState, batch: Sequence[Pending[Ask, int]]
    ) -> tuple[list[Applied], list[Refused]]:
        """Each command decides against the threaded state; the state's diff is written once, at the end."""
        nested = len(batch) > 1  # a batch of one needs no savepoint: its failure rolls back everything
        applied: list[Applied] = []
        refused: list[Refused] = []
        seq, state = stored.seq, start
        async with self.live.store.write() as write:
            for pending in batch:
                mark = len(write.inserted)
                # Only an add writes before the room may refuse it: only an add needs its savepoint.
                guarded = nested and bool(pending.ask.new_tracks)
                try:
                    async with write.savepoint(guarded):
                        change = await self._decide(write, state, pending.ask, start.version)
                except sql.StaleState:
                    raise
                except Exception as exc:
                    if not nested or failures.classify(exc) is not None:
                        raise  # an outage fails the whole batch: nothing of it is stored or acked
                    del write.inserted[mark:]  # rolled back with its savepoint
                    refused.append((pending, exc))
                    continue
                # From here on a failure fails the batch: these writes cannot be undone one by one.
                change = await self._record(write, state, pending.ask, change, seq)
                seq += len(change.events)
                applied.append(Applied(pending, state, change, seq))
                state = change.state
            await write.save(start, state)  # the batch's diff, under the playlist's compare-and-set
        return applied, refused

    async def _decide(self, write: LiveWrite, state: LiveState, ask: Ask, start_version: int) -> Change:
        """The checks and the transition: where a command is refused (RoomError, Duplicate)."""
        live = self.live
        if ask.command is not None:
            await live.outcomes.check_live(ask.command)
            await self._check_durable(write, state.playlist_id, start_version, ask.command)
        added = await write.add_tracks(state, ask.new_tracks)
        last_played = await write.last_played(state.group_id, [t.url for t in ask.new_tracks])
        return await ask.transition(state, Inputs(added, last_played))

    async def _record(self, write: LiveWrite, state: LiveState, ask: Ask, change: Change, seq: int) -> Change:
        """What follows a decided command: autoplay, the plays it ended, its answer."""
        live = self.live
        change = await autoplay.follow_up(
            write,
            state,
            change,
            now_ms=live.now_ms(),
            lead_ms=ask.lead_ms or live.settings.playback_lead_ms,
            max_tracks=live.settings.limits.max_queue_tracks,
        )
        await write.record_plays(state.group_id, change.played)  # at once: later commands' reads see them
        if ask.command is not None:
            await live.outcomes.record_durable(write, ask.command, acked(seq + len(change.events)))
        return change

    async def _check_durable(self, write: LiveWrite, playlist_id: str, start_version: int, command: CommandId) -> None:
        try:
            await self.live.outcomes.check_durable(write, command)
        except Duplicate:
            # Answered in SQL but not in the engine: the answering process may have died before its
            # engine commit, so the live state may lag SQL; bring it up to date (the batch runs once
            # more against the rebuilt state, where this command is answered as the duplicate it is).
            # The batch writes the playlist at its end: until then SQL holds the batch's start version.
            if await write.current_version(playlist_id) != start_version:
                raise sql.StaleState("answered in SQL past the live state") from None
            raise

    async def _publish(self, group_id: str, stored: Stored, state: LiveState, applied: list[Applied]) -> None:
        """One engine commit with every event; the last command with an id keeps its answer there too."""
        final = applied[-1].change.state if applied else state
        events = [event for a in applied for event in a.change.events]
        last = next((a for a in reversed(applied) if a.pending.ask.command is not None), None)
        remember = None if last is None else self.live.outcomes.with_commit(last.pending.ask.command, acked(last.seq))
        await self.live._commit(group_id, stored, final, events, remember, durable=True)


def _restamp(start: LiveState, applied: list[Applied], now_ms: int) -> None:
    """Stamp each scheduled start after the SQL commit (``rooms.restamp``), threading the result.

    A command that left the playback alone keeps the instant its predecessor was moved to, so the
    batch's final state carries the stamped playback; ``before`` becomes the stamped state the
    command followed (what the commit observers compare).
    """
    previous = start
    for a in applied:
        change = a.change
        if a.pending.ask.lead_ms is not None:
            change = rooms.restamp(a.before, change, now_ms=now_ms, lead_ms=a.pending.ask.lead_ms)
        if change.state is a.before:  # it changed nothing: its state is its predecessor's, stamped
            change = Change(previous, change.events, change.played)
        elif change.state.playback == a.before.playback and previous.playback != a.before.playback:
            carried = replace(change.state, playback=previous.playback, play_started_ms=previous.play_started_ms)
            change = Change(carried, change.events, change.played)
        a.before, a.change = previous, change
        previous = change.state
