"""The durable side of live commands: load a group's state from SQL, write playlist changes back.

Changes are written as a diff between the state before and after a command, under a
compare-and-set on ``playlists.version``: if another writer got there first the update matches no
row and the whole transaction fails with ``StaleState``, so SQL is never overwritten blindly.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from rooms_server.db import queries
from rooms_server.db.models import Group, GroupSpeaker, Playlist, Track, User, utcnow
from rooms_server.rooms import LiveState, Playback, Speaker, Track as LiveTrack


class StaleState(Exception):
    """SQL's playlist version is not the one the live state was derived from."""


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def to_live_track(row: Track, added_by_name: str) -> LiveTrack:
    return LiveTrack(
        id=row.id,
        service=row.service,
        title=row.title,
        duration_s=row.duration,
        url=row.external_url,
        added_by=row.added_by_user_id,
        added_by_name=added_by_name,
        added_at=_iso(row.added_at),
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
    )


async def speakers_of(session: AsyncSession, group_id: str) -> tuple[Speaker, ...]:
    query = (
        select(GroupSpeaker.device_key, GroupSpeaker.user_id, User.name)
        .join(User, User.id == GroupSpeaker.user_id)
        .where(GroupSpeaker.group_id == group_id)
        .order_by(GroupSpeaker.device_key)
    )
    return tuple(Speaker(key, user_id, name) for key, user_id, name in (await session.execute(query)).all())


async def set_listening_mode(session: AsyncSession, group_id: str, mode: str) -> None:
    await session.execute(update(Group).where(Group.id == group_id).values(listening_mode=mode))


async def add_speaker(session: AsyncSession, group_id: str, speaker: Speaker) -> None:
    """Idempotent: a device marked twice keeps its first row."""
    exists = select(GroupSpeaker.device_key).where(
        GroupSpeaker.group_id == group_id, GroupSpeaker.device_key == speaker.device_key
    )
    if (await session.execute(exists)).first() is None:
        row = GroupSpeaker(group_id=group_id, device_key=speaker.device_key, user_id=speaker.user_id)
        row.marked_at = utcnow()
        session.add(row)
        await session.flush()


async def remove_speaker(session: AsyncSession, group_id: str, device_key: str) -> None:
    await session.execute(
        delete(GroupSpeaker).where(GroupSpeaker.group_id == group_id, GroupSpeaker.device_key == device_key)
    )


async def insert_track(
    session: AsyncSession,
    state: LiveState,
    *,
    user: User,
    service: str,
    title: str,
    duration_s: int,
    url: str,
    artwork_url: str | None = None,
) -> LiveTrack:
    """A new row at the end of the playlist; its id is what the live event will carry."""
    row = Track(
        playlist_id=state.playlist_id,
        added_by_user_id=user.id,
        service=service,
        title=title,
        duration=duration_s,
        external_url=url,
        added_at=utcnow(),
        position=len(state.tracks),
        artwork_url=artwork_url,
    )
    session.add(row)
    await session.flush()
    return to_live_track(row, user.name)


async def save_playlist(session: AsyncSession, before: LiveState, after: LiveState) -> None:
    """Write the order, removals and current index of ``after``; ``before.version`` must still hold."""
    if before.version == after.version:
        return
    result = await session.execute(
        update(Playlist)
        .where(Playlist.id == before.playlist_id, Playlist.version == before.version)
        .values(version=after.version, current_track_index=after.current_index)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise StaleState(f"playlist {before.playlist_id} moved past version {before.version}")
    kept = {track.id for track in after.tracks}
    removed = [track.id for track in before.tracks if track.id not in kept]
    if removed:
        await session.execute(delete(Track).where(Track.id.in_(removed), Track.playlist_id == before.playlist_id))
    old_positions = {track.id: index for index, track in enumerate(before.tracks)}
    for index, track in enumerate(after.tracks):
        if old_positions.get(track.id) != index:
            await session.execute(update(Track).where(Track.id == track.id).values(position=index))


async def current_version(session: AsyncSession, playlist_id: str) -> int | None:
    result = await session.execute(select(Playlist.version).where(Playlist.id == playlist_id))
    return result.scalar_one_or_none()
