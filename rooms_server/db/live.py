"""The durable side of live commands: load a group's state from SQL, write its changes back.

Changes are written as one generic diff between the state before and after a command (playlist
order, removals, current index, version; listening mode; speakers), the playlist part under a
compare-and-set on ``playlists.version``: if another writer got there first the update matches no
row and the whole transaction fails with ``StaleState``, so SQL is never overwritten blindly.

New tracks get their ids from the database (they are row ids, increasing): ``LiveWrite.add_tracks``
inserts their rows in the command's transaction *before* the pure transition runs, which takes the
resulting ``Track`` values as an input (like ``now_ms``); a refused command rolls them back.
Callers above ``db/`` see ``LiveStore`` and ``LiveWrite`` only, never a session or a row.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from rooms_server import protocol
from rooms_server.db import history, outcomes, queries
from rooms_server.db.models import Group, GroupSpeaker, Playlist, Track, User, utcnow
from rooms_server.db.session import Database
from rooms_server.queue_rules import QueueSettings
from rooms_server.room_state import LiveState, NewTrack, Play, Playback, PlayedTrack, Speaker, Track as LiveTrack


class StaleState(Exception):
    """SQL's playlist version is not the one the live state was derived from."""


def to_live_track(row: Track, added_by_name: str) -> LiveTrack:
    return LiveTrack(
        id=row.id,
        service=row.service,
        title=row.title,
        duration_s=row.duration,
        url=row.external_url,
        added_by=row.added_by_user_id,
        added_by_name=added_by_name,
        added_at=protocol.sent_at(row.added_at),
        artwork_url=row.artwork_url,
    )


async def load_state(session: AsyncSession, group_id: str, now_ms: int) -> LiveState | None:
    """The group as SQL knows it, paused at its current track; None when the group is gone."""
    group = await queries.get_group(session, group_id)
    playlist = await queries.playlist_of(session, group_id)
    if group is None or playlist is None:
        return None
    tracks = tuple(to_live_track(row, name) for row, name in await queries.tracks_of(session, playlist.id))
    speakers = await speakers_of(session, group_id)
    return LiveState(
        group_id=group.id,
        name=group.name,
        is_public=group.is_public,
        playlist_id=playlist.id,
        version=playlist.version,
        tracks=tracks,
        current_index=min(max(playlist.current_track_index, 0), len(tracks)),
        playback=Playback(is_playing=False, position_ms=0, server_time_ms=now_ms),
        votes=frozenset(),
        listening_mode=group.listening_mode,
        speakers=speakers,
        queue=queue_settings(group),
    )


def queue_settings(group: Group) -> QueueSettings:
    return QueueSettings(
        queue_mode=group.queue_mode,
        repeat=group.repeat_mode,
        autoplay=group.autoplay,
        autoplay_avoid_last=group.autoplay_avoid_last,
        who_may_add=group.who_may_add,
        max_queued_per_member=group.max_queued_per_member,
        max_track_s=group.max_track_s,
        replay_block_min=group.replay_block_min,
    )


def _queue_columns(queue: QueueSettings) -> dict[str, object]:
    return {
        "queue_mode": queue.queue_mode,
        "repeat_mode": queue.repeat,
        "autoplay": queue.autoplay,
        "autoplay_avoid_last": queue.autoplay_avoid_last,
        "who_may_add": queue.who_may_add,
        "max_queued_per_member": queue.max_queued_per_member,
        "max_track_s": queue.max_track_s,
        "replay_block_min": queue.replay_block_min,
    }


async def speakers_of(session: AsyncSession, group_id: str) -> tuple[Speaker, ...]:
    query = (
        select(GroupSpeaker.device_key, GroupSpeaker.user_id, User.name)
        .join(User, User.id == GroupSpeaker.user_id)
        .where(GroupSpeaker.group_id == group_id)
        .order_by(GroupSpeaker.device_key)
    )
    return tuple(Speaker(key, user_id, name) for key, user_id, name in (await session.execute(query)).all())


# The compare-and-set every batch runs, built once as a Core statement on the table: the ORM's bulk
# update path around it cost more than the statement itself (a profile of bench/run commands).
_PLAYLISTS = cast(Table, Playlist.__table__)
_PLAYLIST_CAS = (
    update(_PLAYLISTS)
    .where(_PLAYLISTS.c.id == bindparam("playlist"), _PLAYLISTS.c.version == bindparam("old"))
    .values(version=bindparam("new"), current_track_index=bindparam("index"))
)


async def save_playlist(session: AsyncSession, before: LiveState, after: LiveState, added: Sequence[int] = ()) -> None:
    """Write the order, removals and current index of ``after``; ``before.version`` must still hold.

    ``added``: rows inserted since ``before`` (a batch's adds), removed again when ``after`` lacks them.
    The updates skip the ORM's in-session synchronisation: no loaded row is read after them.
    """
    if before.version == after.version:
        return
    values = {"playlist": before.playlist_id, "old": before.version, "new": after.version, "index": after.current_index}
    result = await session.execute(_PLAYLIST_CAS, values)
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise StaleState(f"playlist {before.playlist_id} moved past version {before.version}")
    kept = {track.id for track in after.tracks}
    removed = [track_id for track_id in (*(t.id for t in before.tracks), *added) if track_id not in kept]
    if removed:
        await session.execute(
            delete(Track)
            .where(Track.id.in_(removed), Track.playlist_id == before.playlist_id)
            .execution_options(synchronize_session=False)
        )
    old_positions = {track.id: index for index, track in enumerate(before.tracks)}
    for index, track in enumerate(after.tracks):
        if old_positions.get(track.id) != index:
            await session.execute(
                update(Track)
                .where(Track.id == track.id)
                .values(position=index)
                .execution_options(synchronize_session=False)
            )


async def current_version(session: AsyncSession, playlist_id: str) -> int | None:
    result = await session.execute(select(Playlist.version).where(Playlist.id == playlist_id))
    return result.scalar_one_or_none()


async def save_room(
    session: AsyncSession,
    before: LiveState,
    after: LiveState,
    played: Sequence[Play] = (),
    added: Sequence[int] = (),
) -> None:
    """Everything durable that changed from ``before`` to ``after``, and the plays the change ended."""
    await save_playlist(session, before, after, added)
    group: dict[str, object] = {}
    if after.listening_mode != before.listening_mode:
        group["listening_mode"] = after.listening_mode
    if after.queue != before.queue:
        group.update(_queue_columns(after.queue))
    if group:
        await session.execute(
            update(Group)
            .where(Group.id == before.group_id)
            .values(**group)
            .execution_options(synchronize_session=False)
        )
    await history.record(session, before.group_id, played)
    if after.speakers != before.speakers:
        await _save_speakers(session, before, after)


async def _save_speakers(session: AsyncSession, before: LiveState, after: LiveState) -> None:
    kept = {s.device_key for s in after.speakers}
    gone = [s.device_key for s in before.speakers if s.device_key not in kept]
    if gone:
        await session.execute(
            delete(GroupSpeaker).where(GroupSpeaker.group_id == before.group_id, GroupSpeaker.device_key.in_(gone))
        )
    known = {s.device_key for s in before.speakers}
    for speaker in after.speakers:
        if speaker.device_key not in known:
            await _add_speaker(session, before.group_id, speaker)


async def _add_speaker(session: AsyncSession, group_id: str, speaker: Speaker) -> None:
    """Idempotent: a device marked twice keeps its first row."""
    exists = select(GroupSpeaker.device_key).where(
        GroupSpeaker.group_id == group_id, GroupSpeaker.device_key == speaker.device_key
    )
    if (await session.execute(exists)).first() is None:
        row = GroupSpeaker(group_id=group_id, device_key=speaker.device_key, user_id=speaker.user_id)
        row.marked_at = utcnow()
        session.add(row)
        await session.flush()


async def insert_track(session: AsyncSession, state: LiveState, track: NewTrack, position: int) -> LiveTrack:
    """A new row of the playlist; its id is what the live event will carry."""
    row = Track(
        playlist_id=state.playlist_id,
        added_by_user_id=track.added_by,
        service=track.service,
        title=track.title,
        duration=track.duration_s,
        external_url=track.url,
        added_at=utcnow(),
        position=position,
        artwork_url=track.artwork_url,
    )
    session.add(row)
    await session.flush()
    return to_live_track(row, track.added_by_name)


class LiveWrite:
    """One durable command's transaction, as the live core sees it (no session leaves db/)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self.inserted: list[int] = []  # ids of the track rows this transaction inserted, in order

    @asynccontextmanager
    async def savepoint(self, nested: bool = True) -> AsyncIterator[None]:
        """One command of a batch: an exception rolls back its writes only (``nested=False``: a no-op,
        for a batch of one, whose exception rolls back the whole transaction anyway)."""
        if not nested:
            yield
            return
        async with self._session.begin_nested():
            yield

    async def add_tracks(self, state: LiveState, tracks: Sequence[NewTrack]) -> tuple[LiveTrack, ...]:
        """Rows at the end of the playlist for the tracks a command adds: their ids, for the transition."""
        start = len(state.tracks)
        added = tuple([await insert_track(self._session, state, t, start + i) for i, t in enumerate(tracks)])
        self.inserted.extend(t.id for t in added)
        return added

    async def save(self, before: LiveState, after: LiveState, played: Sequence[Play] = ()) -> None:
        """The diff from ``before`` to ``after``; the rows inserted meanwhile count as ``before``'s too."""
        await save_room(self._session, before, after, played, self.inserted)

    async def record_plays(self, group_id: str, played: Sequence[Play]) -> None:
        """The plays one command of a batch ended, at once: the next command's history reads see them."""
        await history.record(self._session, group_id, played)

    async def last_played(self, group_id: str, urls: Sequence[str]) -> dict[str, int]:
        return await history.last_played(self._session, group_id, urls)

    async def recent_plays(self, group_id: str, limit: int) -> list[PlayedTrack]:
        return await history.recent_plays(self._session, group_id, limit)

    async def current_version(self, playlist_id: str) -> int | None:
        return await current_version(self._session, playlist_id)

    async def find_answer(self, user_id: str, group_id: str, command_id: str, since: datetime) -> str | None:
        return await outcomes.find(self._session, user_id, group_id, command_id, since)

    async def record_answer(self, user_id: str, group_id: str, command_id: str, answer: str) -> None:
        await outcomes.record(self._session, user_id, group_id, command_id, answer)


class LiveStore:
    """The live core's door to SQL: a group's state, its durable writes, who of it is present."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def load(self, group_id: str, now_ms: int) -> LiveState | None:
        async with self.db.read() as session:
            return await load_state(session, group_id, now_ms)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[LiveWrite]:
        async with self.db.write() as session:
            yield LiveWrite(session)
