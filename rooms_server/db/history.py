"""Queries on a group's playback history (``playback_history``): what it played, newest first.

Rows are written by the live core inside the durable transaction of the command that ended a play
(``db.live.LiveWrite.save``), so there is one row per play whichever process ran the command.
Each query takes a session; the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from rooms_server.db import queries
from rooms_server.db.models import PlaybackHistory, Track, User
from rooms_server.room_state import Play, PlayedTrack

# Per group; older plays are purged by housekeeping. Autoplay reads the newest 300, the replay
# block the newest of a link, so a party's memory outlives a long night without growing forever.
KEPT = 1000


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def to_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


async def record(session: AsyncSession, group_id: str, plays: Sequence[Play]) -> None:
    for play in plays:
        track = play.track
        session.add(
            PlaybackHistory(
                group_id=group_id,
                track_id=track.id,
                added_by_user_id=track.added_by,
                service=track.service,
                title=track.title,
                duration=track.duration_s,
                external_url=track.url,
                artwork_url=track.artwork_url,
                started_at=from_ms(play.started_ms),
                ended_at=from_ms(play.ended_ms),
                played_ms=play.played_ms,
                outcome=play.outcome,
            )
        )
    if plays:
        await session.flush()


async def last_played(session: AsyncSession, group_id: str, urls: Sequence[str]) -> dict[str, int]:
    """When each of these links last stopped playing in the group (ms since the epoch), if it ever did."""
    if not urls:
        return {}
    query = (
        select(PlaybackHistory.external_url, func.max(PlaybackHistory.ended_at))
        .where(PlaybackHistory.group_id == group_id, PlaybackHistory.external_url.in_(set(urls)))
        .group_by(PlaybackHistory.external_url)
    )
    rows = (await session.execute(query)).all()
    return {url: to_ms(_aware(ended)) for url, ended in rows if ended is not None}


def _aware(moment: datetime) -> datetime:
    # func.max() bypasses the column type's processing: SQLite hands back a naive UTC value or text.
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


async def recent_plays(session: AsyncSession, group_id: str, limit: int) -> list[PlayedTrack]:
    """The group's latest plays, newest first (for autoplay)."""
    rows = await _page(session, group_id, before_id=None, limit=limit)
    return [played_track(row, name) for row, name in rows]


def played_track(row: PlaybackHistory, added_by_name: str) -> PlayedTrack:
    return PlayedTrack(
        service=row.service,
        title=row.title,
        duration_s=row.duration,
        url=row.external_url,
        added_by=row.added_by_user_id,
        added_by_name=added_by_name,
        artwork_url=row.artwork_url,
        started_ms=to_ms(row.started_at),
    )


@dataclass(frozen=True, slots=True)
class HistoryPage:
    entries: list[tuple[PlaybackHistory, str]]  # rows with their adder's name, newest first
    next_before: int | None  # the cursor of the next (older) page; None on the last page


async def page(session: AsyncSession, group_id: str, *, before_id: int | None, limit: int) -> HistoryPage:
    """One page of the history, newest first; ``before_id`` is the cursor a previous page returned."""
    rows = await _page(session, group_id, before_id=before_id, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return HistoryPage(rows, rows[-1][0].id if more and rows else None)


async def _page(
    session: AsyncSession, group_id: str, *, before_id: int | None, limit: int
) -> list[tuple[PlaybackHistory, str]]:
    query = (
        select(PlaybackHistory, User.name)
        .join(User, User.id == PlaybackHistory.added_by_user_id)
        .where(PlaybackHistory.group_id == group_id)
        .order_by(PlaybackHistory.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        query = query.where(PlaybackHistory.id < before_id)
    return [(row, name) for row, name in (await session.execute(query)).all()]


async def existing_tracks(session: AsyncSession, track_ids: Sequence[int | None]) -> set[int]:
    """Which of these playlist rows still exist (a history entry names its row only while it lasts)."""
    wanted = {track_id for track_id in track_ids if track_id is not None}
    if not wanted:
        return set()
    return set((await session.execute(select(Track.id).where(Track.id.in_(wanted)))).scalars())


async def purge_beyond(session: AsyncSession, keep: int = KEPT) -> int:
    """Delete every play older than its group's last ``keep``; one statement for all groups."""
    return await queries.keep_newest_per_group(session, PlaybackHistory.id, PlaybackHistory.group_id, keep)
