"""Autoplay: when a durable change leaves a room with nothing to play, re-add a track from its history.

Runs inside the change's own transaction (``LiveGroups._run_durable``), after the pure transition
and before the durable write, so the track the room replays, the play that just ended and the
playlist's new version commit together or not at all: exactly once, whichever process's timer
ended the track. The pick is ``queue_rules.autoplay_pick`` over the room's latest plays, the one
that just ended first; the track is re-added on behalf of whoever added it originally.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Protocol

from rooms_server import queue_rules, queue_transitions
from rooms_server.room_state import LiveState, NewTrack, PlayedTrack, Track
from rooms_server.rooms import Change

# Enough of the newest plays to find a track beyond the last ``autoplay_avoid_last`` (at most 100).
HISTORY_WINDOW = 300


class AutoplayWrite(Protocol):
    """What autoplay needs of the command's transaction (``db.live.LiveWrite`` provides it)."""

    async def recent_plays(self, group_id: str, limit: int) -> list[PlayedTrack]: ...

    async def add_tracks(self, state: LiveState, tracks: list[NewTrack]) -> tuple[Track, ...]: ...


async def follow_up(
    write: AutoplayWrite, before: LiveState, change: Change, *, now_ms: int, lead_ms: int, max_tracks: int
) -> Change:
    """``change``, followed by an autoplayed track when the room has autoplay on and ran out."""
    after = change.state
    if not queue_transitions.needs_autoplay(before, after):
        return change
    plays = [_as_played(play.track, play.started_ms) for play in reversed(change.played)]
    plays += await write.recent_plays(after.group_id, HISTORY_WINDOW)
    url = queue_rules.autoplay_pick(
        [play.url for play in plays], after.queue.autoplay_avoid_last, queue_transitions.shuffle_seed(after)
    )
    if url is None:  # nothing ever played here: the room asks for a song instead
        return change
    pick = next(play for play in plays if play.url == url)
    (track,) = await write.add_tracks(after, [_new_track(pick)])
    playing = before.playback.is_playing
    follow = queue_transitions.autoplay(
        after, track, playing=playing, now_ms=now_ms, lead_ms=lead_ms, max_tracks=max_tracks
    )
    return replace(change, state=follow.state, events=[*change.events, *follow.events])


def _as_played(track: Track, started_ms: int) -> PlayedTrack:
    return PlayedTrack(
        service=track.service,
        title=track.title,
        duration_s=track.duration_s,
        url=track.url,
        added_by=track.added_by,
        added_by_name=track.added_by_name,
        artwork_url=track.artwork_url,
        started_ms=started_ms,
    )


def _new_track(play: PlayedTrack) -> NewTrack:
    return NewTrack(
        service=play.service,
        title=play.title,
        duration_s=play.duration_s,
        url=play.url,
        added_by=play.added_by,
        added_by_name=play.added_by_name,
        artwork_url=play.artwork_url,
    )
