"""Transitions of a room's queue (pure): its settings, shuffle and unshuffle, autoplay.

The rules they apply are in ``queue_rules``; the playback transitions (skip, repeat, the adds that
fair turns place) are in ``rooms``. Like those, every function here takes what it needs (a seed,
``now_ms``) and returns a ``Change``.
"""

from __future__ import annotations

import zlib
from dataclasses import fields, replace
from typing import Any

from rooms_server import queue_rules
from rooms_server.queue_rules import QueueSettings
from rooms_server.room_state import LiveState, Playback, Track, current_track, queue_to_dict, track_to_dict
from rooms_server.rooms import Change, Event, track_changed_event

SETTING_NAMES: tuple[str, ...] = tuple(f.name for f in fields(QueueSettings))


def upcoming(state: LiveState) -> tuple[Track, ...]:
    """The tracks after the current one (none when nothing is current)."""
    if current_track(state) is None:
        return ()
    return state.tracks[state.current_index + 1 :]


def set_queue_settings(state: LiveState, changes: dict[str, Any]) -> Change:
    """Apply the settings named in ``changes`` (values already checked by the protocol)."""
    unknown = set(changes) - set(SETTING_NAMES)
    if unknown:
        raise ValueError(f"unknown queue settings {sorted(unknown)}")  # the protocol lets none through
    queue = replace(state.queue, **changes)
    if queue == state.queue:
        return Change(state, [])
    new = replace(state, queue=queue)
    return Change(new, [{"type": "queue_settings_changed", "queue": queue_to_dict(queue)}])


def shuffle(state: LiveState, seed: int) -> Change:
    """Shuffle the upcoming tracks; the current one stays current. Two or more always move."""
    ids = [track.id for track in upcoming(state)]
    order = ids
    for attempt in range(8):  # a permutation that is the identity would look like a broken button
        order = queue_rules.shuffled(ids, seed + attempt)
        if order != ids:
            break
    else:
        order = ids[1:] + ids[:1]  # eight identities in a row (1 in 256 with two tracks): rotate
    return _reordered(state, order, "shuffle")


def unshuffle(state: LiveState) -> Change:
    """Put the upcoming tracks back in the order they were added."""
    return _reordered(state, queue_rules.unshuffled([track.id for track in upcoming(state)]), "unshuffle")


def _reordered(state: LiveState, upcoming_ids: list[int], cause: str) -> Change:
    head = state.tracks[: state.current_index + 1]
    by_id = {track.id: track for track in state.tracks}
    tracks = (*head, *(by_id[i] for i in upcoming_ids))
    if tracks == state.tracks:
        return Change(state, [])
    new = replace(state, tracks=tracks, version=state.version + 1)
    event: Event = {
        "type": "queue_reordered",
        "track_ids": [track.id for track in tracks],
        "current_index": new.current_index,
        "cause": cause,
    }
    return Change(new, [event])


def shuffle_seed(state: LiveState) -> int:
    """A seed that differs per room and per playlist version, so a shuffle is reproducible in tests."""
    return zlib.crc32(f"{state.group_id}:{state.version}".encode())


def needs_autoplay(before: LiveState, after: LiveState) -> bool:
    """Autoplay picks a track when a change leaves nothing current in a room that has it on:
    the queue ran out (or emptied), or autoplay was just turned on with nothing current."""
    if not after.queue.autoplay or current_track(after) is not None:
        return False
    return current_track(before) is not None or not before.queue.autoplay


def autoplay(state: LiveState, track: Track, *, playing: bool, now_ms: int, lead_ms: int, max_tracks: int) -> Change:
    """Append ``track`` (re-added from the history) and make it current, playing if the room was.

    A party that runs on autoplay for days would grow its playlist without end: once it holds
    ``max_tracks``, the oldest played tracks leave it (their plays stay in the history).
    """
    if current_track(state) is not None:
        raise ValueError("autoplay only fills a room with nothing current")  # needs_autoplay guards it
    dropped = state.tracks[: max(0, len(state.tracks) - max_tracks + 1)]
    kept = state.tracks[len(dropped) :]
    index = len(kept)
    start = now_ms + lead_ms if playing else now_ms
    new = replace(
        state,
        tracks=(*kept, track),
        current_index=index,
        playback=Playback(is_playing=playing, position_ms=0, server_time_ms=start),
        votes=frozenset(),
        version=state.version + 1,
        play_started_ms=start if playing else None,
    )
    removed: list[Event] = [{"type": "track_removed", "track_id": old.id} for old in dropped]
    added: Event = {"type": "track_added", "track": track_to_dict(track), "index": index, "cause": "autoplay"}
    return Change(new, [*removed, added, track_changed_event(new, "autoplay")])
