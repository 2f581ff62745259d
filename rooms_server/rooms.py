"""Pure domain of a listening room: the live state of one group and its transitions.

No I/O and no clock: every transition takes the time it needs (`now_ms`, `lead_ms`) and returns
a `Change` (the new state plus the event bodies to publish), or raises `RoomError`. The hub runs
them under the group's engine lock; the engine stores `encode_state()` bytes without reading them.

Scheduling: every playback change that phones must apply together (a start, a resume, a pause, a
seek while playing) takes effect ``lead_ms`` after ``now_ms``, and never before a change that is
already scheduled, so phones always apply them in order. Until that instant the room stays on the
clock it was on (`Playback.prior`). Changes of a paused room take effect at once.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from typing import Any, TypeAlias

from rooms_server import queue_rules
from rooms_server.room_state import (
    ENDED,
    EVERYONE,
    LISTENING_MODES,
    REMOVED,
    SKIPPED,
    SPEAKER,
    STATE_FORMAT,
    VOTED,
    Clock,
    LiveState,
    Member,
    Play,
    Playback,
    Speaker,
    Track,
    current_track,
    decode_state,
    encode_state,
    member_to_dict,
    playback_to_dict,
    queue_to_dict,
    speaker_to_dict,
    track_to_dict,
)

__all__ = [
    "ADMIN",
    "ADMIN_ONLY",
    "CONTRIBUTOR_ONLY",
    "ERROR_CODES",
    "EVERYONE",
    "LISTENER",
    "LISTENING_MODES",
    "MAX_SPEAKERS",
    "MEMBER",
    "SPEAKER",
    "STATE_FORMAT",
    "Adding",
    "Change",
    "Clock",
    "Event",
    "LiveState",
    "Member",
    "Playback",
    "RoomError",
    "Speaker",
    "Track",
    "add_track",
    "advance_if_ended",
    "current_track",
    "decode_state",
    "index_event",
    "track_changed_event",
    "encode_state",
    "jump",
    "mark_speaker",
    "member_to_dict",
    "move_track",
    "needed_votes",
    "pause",
    "play",
    "playback_event",
    "playback_to_dict",
    "previous",
    "queue_ended",
    "queue_to_dict",
    "rebuild",
    "remove_track",
    "require_role",
    "restamp",
    "seek",
    "set_follow",
    "set_listening_mode",
    "skip",
    "speaker_to_dict",
    "track_ends_at_ms",
    "track_to_dict",
    "unmark_speaker",
    "update_group",
    "vote_skip",
    "voters",
]

ADMIN = "admin"
MEMBER = "member"
LISTENER = "listener"  # hears, chats, reacts and votes; adds and removes nothing
# What a listener may not do (a member removes only the tracks they added: checked in remove_track).
CONTRIBUTOR_ONLY: frozenset[str] = frozenset({"add", "remove"})
# Remove is not here: members may remove the tracks they added (checked in remove_track).
ADMIN_ONLY: frozenset[str] = frozenset(
    {
        "skip",
        "previous",
        "jump",
        "play",
        "pause",
        "seek",
        "move",
        "listening_mode",
        "mark_speaker",
        "unmark_speaker",
        "queue_settings",
        "shuffle",
        "unshuffle",
    }
)
MAX_SPEAKERS = 8

# Stable `error.code` values of RoomError; clients branch on them, so they only ever get added.
ERROR_CODES: frozenset[str] = frozenset(
    {
        "forbidden",
        "track_not_found",
        "stale_track",
        "queue_full",
        "nothing_to_play",
        "already_voted",
        "bad_position",
        "speaker_not_found",
        "too_many_speakers",
        "no_device",  # mark_speaker from a page that named no device (commands.py)
        "invalid_reaction",  # a react outside protocol.REACTIONS (commands.py)
        "listeners_cannot_add",  # an add or remove by a listener
        *queue_rules.REFUSAL_CODES,  # an add the room's queue settings refuse
    }
)

Event: TypeAlias = dict[str, Any]  # an event body: {"type": ..., ...} without epoch/seq/ts


class RoomError(Exception):
    """A command that the room refuses; `code` is stable and goes on the wire."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Change:
    """The result of a transition; a no-op returns the same state object and no events."""

    state: LiveState
    events: list[Event]
    played: tuple[Play, ...] = ()  # plays this change ended, for the durable history


def require_role(command_type: str, role: str) -> None:
    if command_type in ADMIN_ONLY and role != ADMIN:
        raise RoomError("forbidden", f"only a host can {command_type}")
    if command_type in CONTRIBUTOR_ONLY and role == LISTENER:
        raise RoomError("listeners_cannot_add", "listeners hear, vote and chat; ask a host to make you a member")


def voters(present: Collection[str], hosts: Iterable[str]) -> int:
    """Whom a vote to skip is measured against: the present members who are not hosts.

    A host skips directly, so counting hosts would only make a room's guests outvoted by people
    who never need to vote; a host's vote still counts toward the votes cast. ``present`` holds
    distinct ids (a set or a mapping): counted from the hosts, a handful, not from everyone present.
    """
    return len(present) - sum(1 for user_id in set(hosts) if user_id in present)


def needed_votes(present_users: int, ratio: float) -> int:
    """Smallest vote count strictly greater than present_users × ratio."""
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"vote ratio must be within [0, 1], got {ratio}")
    return math.floor(max(present_users, 0) * ratio) + 1


def track_ends_at_ms(state: LiveState) -> int | None:
    """When the current track reaches its end on the room's clock; None when it does not (paused)."""
    track = current_track(state)
    playback = state.playback
    if track is None:
        return None
    if playback.is_playing:
        return playback.server_time_ms + track.duration_ms - playback.position_ms
    prior = playback.prior
    if prior is not None and prior.is_playing:  # a pause is scheduled: the track may end before it
        ends_at = prior.server_time_ms + track.duration_ms - prior.position_ms
        if ends_at < playback.server_time_ms:
            return ends_at
    return None


def rebuild(state: LiveState) -> LiveState:
    """State rebuilt from SQL: paused at the current track at 0, no votes.

    The position is not durable, so restarting the track is the honest choice. The index is
    clamped because SQL may hold one that no longer fits the track list.
    """
    index = min(max(state.current_index, 0), len(state.tracks))
    playback = Playback(is_playing=False, position_ms=0, server_time_ms=state.playback.server_time_ms)
    return replace(state, current_index=index, playback=playback, votes=frozenset(), play_started_ms=None)


# -- event bodies --------------------------------------------------------------------------------


def _current_id(state: LiveState) -> int | None:
    track = current_track(state)
    return None if track is None else track.id


def queue_ended(state: LiveState) -> bool:
    """The room played (or skipped) past its last track: tracks exist and none is current."""
    return bool(state.tracks) and state.current_index >= len(state.tracks)


def index_event(state: LiveState, cause: str) -> Event:
    return {
        "type": "index_changed",
        "index": state.current_index,
        "track_id": _current_id(state),
        "cause": cause,
        "queue_ended": queue_ended(state),
    }


def track_changed_event(state: LiveState, cause: str) -> Event:
    """The one event of a change of the current track: its index and cause, with the new playback.

    One frame per skip (previous, jump, vote, end, removal, autoplay) instead of an
    ``index_changed`` followed by a ``playback_changed``: the fan-out cost of a track change is
    per listener per frame. A track change also clears the votes, so no ``votes_changed`` follows.
    """
    return {**index_event(state, cause), **_playback_fields(state)}


def _playback_fields(state: LiveState) -> Event:
    # ends_at_ms is what the track-end timers need, so they arm from the event instead of re-reading the state.
    return {"playback": playback_to_dict(state.playback), "ends_at_ms": track_ends_at_ms(state)}


def playback_event(state: LiveState, cause: str | None = None) -> Event:
    event: Event = {"type": "playback_changed", "track_id": _current_id(state), **_playback_fields(state)}
    if cause is not None:
        event["cause"] = cause
    return event


def _votes_event(state: LiveState, needed: int | None) -> Event:
    # needed is None when the transition does not know who is present; clients keep their last value.
    return {"type": "votes_changed", "track_id": _current_id(state), "votes": len(state.votes), "needed": needed}


# -- helpers -------------------------------------------------------------------------------------


def _index_of(tracks: tuple[Track, ...], track_id: int) -> int:
    for index, track in enumerate(tracks):
        if track.id == track_id:
            return index
    raise RoomError("track_not_found", f"track {track_id} is not in the playlist")


def _expect_current(state: LiveState, expected_track_id: int | None) -> None:
    # The concurrency guard: a command names the track its sender saw as current, so of two hosts
    # pressing skip together the second one fails instead of skipping a track nobody chose to skip.
    current_id = _current_id(state)
    if current_id != expected_track_id:
        raise RoomError("stale_track", f"the current track is {current_id}, not {expected_track_id}")


def _require_current(state: LiveState) -> Track:
    track = current_track(state)
    if track is None:
        raise RoomError("nothing_to_play", "no track is current")
    return track


def _started(playing: bool, position_ms: int, *, now_ms: int, lead_ms: int) -> Playback:
    # A start is scheduled lead_ms ahead so every phone, whatever its latency, begins together.
    if playing:
        return Playback(is_playing=True, position_ms=position_ms, server_time_ms=now_ms + lead_ms)
    return Playback(is_playing=False, position_ms=position_ms, server_time_ms=now_ms)


def _scheduled(playback: Playback, new: Clock, *, now_ms: int) -> Playback:
    """The switch to ``new`` at its instant, remembering the playback in effect until then.

    ``new.server_time_ms`` is never before ``playback.server_time_ms``; when equal, ``new``
    replaces the change scheduled there (e.g. resume pressed again before a pause took effect).
    """
    if new.server_time_ms <= now_ms:
        return Playback(new.is_playing, new.position_ms, new.server_time_ms)
    if new.server_time_ms > playback.server_time_ms:
        prior = playback.pending_at(now_ms)
    else:  # replacing the change scheduled at this instant: what held before it still holds
        prior = (playback.prior or Playback(False, playback.position_ms, playback.server_time_ms)).pending_at(now_ms)
    if prior.prior is None and prior.clock == Clock(False, new.position_ms, prior.server_time_ms):
        return Playback(new.is_playing, new.position_ms, new.server_time_ms)  # a hold is what no prior means
    return Playback(new.is_playing, new.position_ms, new.server_time_ms, prior)


def _instant(playback: Playback, *, now_ms: int, lead_ms: int) -> int:
    """When a change to the playback takes effect: after the lead, and not before one already scheduled."""
    return max(now_ms + lead_ms, playback.server_time_ms)


def _switch_to(
    state: LiveState, tracks: tuple[Track, ...], index: int, *, now_ms: int, lead_ms: int, cause: str
) -> Change:
    """Make tracks[index] current from position 0 (still playing if the room was), clearing the votes.

    ``cause`` goes on the events; past the last track they say ``queue_end`` (the index event of a
    vote keeps ``vote``, so that everyone sees the skip was voted), and the room stops.
    """
    playing = state.playback.is_playing and index < len(tracks)
    playback = _started(playing, 0, now_ms=now_ms, lead_ms=lead_ms)
    new = replace(
        state,
        tracks=tracks,
        current_index=index,
        playback=playback,
        votes=frozenset(),
        version=state.version + 1,
        play_started_ms=playback.server_time_ms if playing else None,
    )
    ended = queue_ended(new)
    index_cause = "queue_end" if ended and cause != "vote" else cause
    return Change(new, [track_changed_event(new, index_cause)], _ended_play(state, now_ms, cause))


# What the history says of a play a transition ends, by the transition's cause.
_OUTCOMES = {"end": ENDED, "host": SKIPPED, "vote": VOTED, "removed": REMOVED}


def _ended_play(state: LiveState, now_ms: int, cause: str) -> tuple[Play, ...]:
    """The current play of ``state`` as it ends now; none when the track had not started playing."""
    track = current_track(state)
    started = state.play_started_ms
    if track is None or started is None or now_ms < started:
        return ()
    played_ms = state.playback.position_at(now_ms, track.duration_ms)
    return (Play(track, started, now_ms, played_ms, _OUTCOMES[cause]),)


def _restart(state: LiveState, *, now_ms: int, lead_ms: int, cause: str = "host") -> Change:
    """The current track from 0: the play that was on ends, and a new one starts if the room plays."""
    playing = state.playback.is_playing
    playback = _started(playing, 0, now_ms=now_ms, lead_ms=lead_ms)
    played = _ended_play(state, now_ms, cause)
    if playback == state.playback and not played:
        return Change(state, [])
    new = replace(state, playback=playback, play_started_ms=playback.server_time_ms if playing else None)
    return Change(new, [playback_event(new, "repeat" if cause == "end" else None)], played)


def _with_playback(state: LiveState, playback: Playback) -> Change:
    if playback == state.playback:
        return Change(state, [])
    new = replace(state, playback=playback)
    return Change(new, [playback_event(new)])


# -- transitions ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Adding:
    """Who adds a track and what the history knows of it: what the queue's limits are checked against."""

    is_host: bool
    now_ms: int
    last_played_ms: int | None = None  # when the track (by its link) last played in the room


def add_track(state: LiveState, track: Track, *, max_queue: int, by: Adding) -> Change:
    """Add a track where the queue mode puts it: at the end, or at its adder's fair turn."""
    if len(state.tracks) >= max_queue:
        raise RoomError("queue_full", f"the playlist holds at most {max_queue} tracks")
    if any(t.id == track.id for t in state.tracks):
        raise ValueError(f"track id {track.id} is already in the playlist")  # a caller bug, not a user error
    _check_queue_limits(state, track, by)
    if current_track(state) is None:
        index = len(state.tracks)
    else:
        upcoming = [t.added_by for t in state.tracks[state.current_index + 1 :]]
        index = state.current_index + 1 + queue_rules.insert_position(state.queue, upcoming, track.added_by)
    tracks = (*state.tracks[:index], track, *state.tracks[index:])
    new = replace(state, tracks=tracks, version=state.version + 1)
    events: list[Event] = [{"type": "track_added", "track": track_to_dict(track), "index": index}]
    if state.current_index == index:  # nothing was current: the new track is, paused at 0
        new = replace(new, playback=Playback(False, 0, state.playback.server_time_ms), play_started_ms=None)
        events.append(track_changed_event(new, "added"))
    return Change(new, events)


def _check_queue_limits(state: LiveState, track: Track, by: Adding) -> None:
    current = current_track(state)
    last_played = by.last_played_ms
    if current is not None and current.url == track.url and state.play_started_ms is not None:
        last_played = by.now_ms  # the track playing now counts as just played
    queued = sum(1 for t in state.tracks[state.current_index + 1 :] if t.added_by == track.added_by)
    refusal = queue_rules.refuse_add(
        state.queue,
        is_host=by.is_host,
        queued_by_adder=queued,
        duration_s=track.duration_s,
        last_played_ms=last_played,
        now_ms=by.now_ms,
    )
    if refusal is not None:
        raise RoomError(refusal.code, refusal.message)


def remove_track(state: LiveState, track_id: int, *, by_user: str, is_admin: bool, now_ms: int, lead_ms: int) -> Change:
    index = _index_of(state.tracks, track_id)
    if not is_admin and state.tracks[index].added_by != by_user:
        raise RoomError("forbidden", "members may only remove the tracks they added")
    tracks = state.tracks[:index] + state.tracks[index + 1 :]
    removed: Event = {"type": "track_removed", "track_id": track_id}
    if index == state.current_index:  # the next track (now at the same index) becomes current
        change = _switch_to(state, tracks, index, now_ms=now_ms, lead_ms=lead_ms, cause="removed")
        return Change(change.state, [removed, *change.events], change.played)
    # Removing a track before the current one shifts the index so the same track stays current.
    shift = 1 if index < state.current_index else 0
    new = replace(state, tracks=tracks, current_index=state.current_index - shift, version=state.version + 1)
    return Change(new, [removed, index_event(new, "removed")] if shift else [removed])


def move_track(state: LiveState, track_id: int, after_track_id: int | None) -> Change:
    """Move a track right after another one (None: to the front); the current track stays current."""
    index = _index_of(state.tracks, track_id)
    if after_track_id == track_id:
        return Change(state, [])
    moved = state.tracks[index]
    rest = state.tracks[:index] + state.tracks[index + 1 :]
    at = 0 if after_track_id is None else _index_of(rest, after_track_id) + 1
    tracks = (*rest[:at], moved, *rest[at:])
    if tracks == state.tracks:
        return Change(state, [])
    current_id = _current_id(state)
    current_index = len(tracks) if current_id is None else _index_of(tracks, current_id)
    new = replace(state, tracks=tracks, current_index=current_index, version=state.version + 1)
    events: list[Event] = [{"type": "track_moved", "track_id": track_id, "after_track_id": after_track_id, "index": at}]
    if current_index != state.current_index:
        events.append(index_event(new, "moved"))
    return Change(new, events)


def skip(state: LiveState, expected_track_id: int, *, now_ms: int, lead_ms: int, cause: str = "host") -> Change:
    _expect_current(state, expected_track_id)
    if state.current_track is None:  # only reachable with expected None, which the type excludes
        raise RoomError("stale_track", "the queue has already ended")
    index = queue_rules.after_skip(state.current_index, len(state.tracks), state.queue.repeat)
    return _switch_to(state, state.tracks, index, now_ms=now_ms, lead_ms=lead_ms, cause=cause)


def previous(state: LiveState, expected_track_id: int | None, *, now_ms: int, lead_ms: int) -> Change:
    """Back one track; at the first track restart it; from the ended queue go to the last track."""
    _expect_current(state, expected_track_id)
    if not state.tracks:
        raise RoomError("nothing_to_play", "the playlist is empty")
    if state.current_index == 0:
        return _restart(state, now_ms=now_ms, lead_ms=lead_ms)
    return _switch_to(state, state.tracks, state.current_index - 1, now_ms=now_ms, lead_ms=lead_ms, cause="host")


def jump(state: LiveState, track_id: int, *, now_ms: int, lead_ms: int) -> Change:
    """Make a track current from 0; jumping to the current track restarts it."""
    index = _index_of(state.tracks, track_id)
    if index == state.current_index:
        return _restart(state, now_ms=now_ms, lead_ms=lead_ms)
    return _switch_to(state, state.tracks, index, now_ms=now_ms, lead_ms=lead_ms, cause="host")


def play(state: LiveState, *, now_ms: int, lead_ms: int) -> Change:
    """Resume (or start) where the room is paused, at a scheduled instant."""
    track = _require_current(state)
    playback = state.playback
    if playback.is_playing:
        return Change(state, [])
    at = _instant(playback, now_ms=now_ms, lead_ms=lead_ms)
    position = min(max(playback.clock.at(at), 0), track.duration_ms)
    if position >= track.duration_ms:  # paused at the very end: it would end the moment it starts
        position = 0
    change = _with_playback(state, _scheduled(playback, Clock(True, position, at), now_ms=now_ms))
    if state.play_started_ms is None:  # the track's first start: its play begins at that instant
        return Change(replace(change.state, play_started_ms=at), change.events)
    return change


def pause(state: LiveState, *, now_ms: int, lead_ms: int) -> Change:
    """Stop every phone at the same scheduled instant and at the same position."""
    track = current_track(state)
    playback = state.playback
    if track is None or not playback.is_playing:
        return Change(state, [])
    at = _instant(playback, now_ms=now_ms, lead_ms=lead_ms)
    position = min(max(playback.clock.at(at), 0), track.duration_ms)
    return _with_playback(state, _scheduled(playback, Clock(False, position, at), now_ms=now_ms))


def seek(state: LiveState, position_ms: int, *, now_ms: int, lead_ms: int) -> Change:
    """Jump to a position: while playing, every phone jumps at the same scheduled instant."""
    track = _require_current(state)
    if not 0 <= position_ms <= track.duration_ms:
        raise RoomError("bad_position", f"position must be within 0..{track.duration_ms} ms")
    playback = state.playback
    at = _instant(playback, now_ms=now_ms, lead_ms=lead_ms if playback.is_playing else 0)
    return _with_playback(state, _scheduled(playback, Clock(playback.is_playing, position_ms, at), now_ms=now_ms))


def vote_skip(
    state: LiveState, user_id: str, track_id: int, *, present_users: int, ratio: float, now_ms: int, lead_ms: int
) -> Change:
    """Vote to skip the named current track; skips once more than present_users × ratio voted."""
    _expect_current(state, track_id)
    if user_id in state.votes:
        raise RoomError("already_voted", "you already voted to skip this track")
    voted = replace(state, votes=state.votes | {user_id})
    needed = needed_votes(present_users, ratio)
    if len(voted.votes) >= needed:
        return skip(voted, track_id, now_ms=now_ms, lead_ms=lead_ms, cause="vote")
    return Change(voted, [_votes_event(voted, needed)])


def advance_if_ended(state: LiveState, *, now_ms: int, lead_ms: int) -> Change:
    """The end-of-track timer: a skip expecting the current track, once its end has passed."""
    ends_at = track_ends_at_ms(state)
    track = current_track(state)
    if ends_at is None or track is None or now_ms < ends_at:
        return Change(state, [])
    index = queue_rules.after_end(state.current_index, len(state.tracks), state.queue.repeat)
    if index == state.current_index:  # repeat one: the same track plays again, as a new play
        return _restart(state, now_ms=now_ms, lead_ms=lead_ms, cause="end")
    return _switch_to(state, state.tracks, index, now_ms=now_ms, lead_ms=lead_ms, cause="end")


def restamp(before: LiveState, change: Change, *, now_ms: int, lead_ms: int) -> Change:
    """Move a start the change scheduled to ``now_ms + lead_ms``: the instant is taken after the
    durable write, so a slow SQL commit cannot eat into the phones' lead.

    Only what durable commands schedule is moved: a track starting (or restarting) from a hold.
    """
    playback = change.state.playback
    if playback == before.playback or playback.prior is not None:
        return change
    at = now_ms + lead_ms if playback.is_playing else now_ms
    if at == playback.server_time_ms:
        return change
    started = at if change.state.play_started_ms == playback.server_time_ms else change.state.play_started_ms
    new = replace(change.state, playback=replace(playback, server_time_ms=at), play_started_ms=started)
    # The events that carry the final playback are rebuilt with the new instant, their causes kept;
    # one that carries an earlier playback of the same change (a track that ended before autoplay
    # picked the next, say) says what happened then and stays as it was.
    final = playback_to_dict(playback)
    events = [
        {**event, **_playback_fields(new)} if event.get("playback") == final else event for event in change.events
    ]
    return Change(new, events, change.played)


def set_listening_mode(state: LiveState, mode: str) -> Change:
    if mode not in LISTENING_MODES:
        raise ValueError(f"unknown listening mode {mode!r}")  # the protocol only lets known modes through
    if mode == state.listening_mode:
        return Change(state, [])
    new = replace(state, listening_mode=mode)
    return Change(new, [{"type": "listening_mode_changed", "listening_mode": mode}])


def _speakers_event(state: LiveState) -> Event:
    return {"type": "speakers_changed", "speakers": [speaker_to_dict(s) for s in state.speakers]}


def mark_speaker(state: LiveState, speaker: Speaker) -> Change:
    """Mark a device as one of the room's speakers (marking it again changes nothing)."""
    if any(s.device_key == speaker.device_key for s in state.speakers):
        return Change(state, [])
    if len(state.speakers) >= MAX_SPEAKERS:
        raise RoomError("too_many_speakers", f"a room has at most {MAX_SPEAKERS} speakers; unmark one first")
    speakers = tuple(sorted((*state.speakers, speaker), key=lambda s: s.device_key))
    new = replace(state, speakers=speakers)
    return Change(new, [_speakers_event(new)])


def unmark_speaker(state: LiveState, device_key: str) -> Change:
    speakers = tuple(s for s in state.speakers if s.device_key != device_key)
    if len(speakers) == len(state.speakers):
        raise RoomError("speaker_not_found", "that device is not one of the room's speakers")
    new = replace(state, speakers=speakers)
    return Change(new, [_speakers_event(new)])


def set_follow(state: LiveState, user_id: str, following: bool, *, notice: str | None = None) -> Change:
    """A member's own Spotify follows the room (only ever on their own request) or stops.

    ``notice`` names a message for that member alone (why it stopped), kept outside the event.
    """
    if (user_id in state.followers) == following:
        return Change(state, [])
    followers = state.followers | {user_id} if following else state.followers - {user_id}
    new = replace(state, followers=followers)
    event: Event = {"type": "follow_changed", "user_id": user_id, "following": following}
    if notice is not None:
        event["notice"] = notice
    return Change(new, [event])


def update_group(state: LiveState, *, name: str, is_public: bool) -> Change:
    if name == state.name and is_public == state.is_public:
        return Change(state, [])
    new = replace(state, name=name, is_public=is_public)
    return Change(new, [{"type": "group_changed", "name": name, "is_public": is_public}])
