"""Values of a room's live state and their encoding; the rules that change them live in rooms.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from rooms_server.queue_rules import QueueSettings

# Bumped when the encoded layout changes: states outlive a deploy in Redis, and a state the new
# code cannot read must be rebuilt from SQL rather than misread. 2: scheduled pauses and seeks
# (Playback.prior), listening mode, speakers, Spotify followers. 3: queue settings, the start of
# the current play.
STATE_FORMAT = 3

EVERYONE = "everyone"  # every phone that joined plays the room
SPEAKER = "speaker"  # only the devices marked as the room's speaker play; the others are remotes
LISTENING_MODES = frozenset({EVERYONE, SPEAKER})


@dataclass(frozen=True, slots=True)
class Track:
    """A playlist entry; `id` is the SQL row id, stable across removals and moves."""

    id: int
    service: str
    title: str
    duration_s: int
    url: str
    added_by: str
    added_by_name: str
    added_at: str  # ISO-8601 UTC
    artwork_url: str | None = None  # absent from states written before artwork existed

    @property
    def duration_ms(self) -> int:
        return self.duration_s * 1000


@dataclass(frozen=True, slots=True)
class Clock:
    """A linear playback clock: at ``server_time_ms`` the position is ``position_ms``, and it
    advances with server time while ``is_playing`` (before that instant too: it is a line)."""

    is_playing: bool
    position_ms: int
    server_time_ms: int

    def at(self, t_ms: int) -> int:
        """The unclamped position at server time ``t_ms``."""
        return self.position_ms + (t_ms - self.server_time_ms if self.is_playing else 0)


@dataclass(frozen=True, slots=True)
class Playback:
    """Playback as a scheduled switch of clocks; clients compute the position, the server never ticks.

    From ``server_time_ms`` on, the clock ``(is_playing, position_ms, server_time_ms)`` applies.
    Before that instant ``prior`` applies: the playback the room was on when the change was made
    (a pause or a seek while playing is scheduled like a start, so every phone stops or jumps at
    the same instant and position). It may itself still be pending, with its own prior; priors
    whose instant had passed when the change was made are cut off, so the chain only holds
    changes that were still ahead. ``prior`` None means: hold at ``position_ms`` until the
    instant (a start, a resume, and every change that took effect at once).
    """

    is_playing: bool
    position_ms: int
    server_time_ms: int  # may lie in the future: the instant at which every phone applies the change
    prior: Playback | None = None

    @property
    def clock(self) -> Clock:
        return Clock(self.is_playing, self.position_ms, self.server_time_ms)

    def clock_at(self, t_ms: int) -> Clock:
        """The clock in effect at server time ``t_ms``."""
        playback: Playback | None = self
        while playback is not None:
            if t_ms >= playback.server_time_ms:
                return playback.clock
            if playback.prior is None:
                return Clock(False, playback.position_ms, playback.server_time_ms)
            playback = playback.prior
        raise AssertionError("unreachable")

    def position_at(self, now_ms: int, duration_ms: int) -> int:
        return max(0, min(self.clock_at(now_ms).at(now_ms), duration_ms))

    def playing_at(self, now_ms: int) -> bool:
        return self.clock_at(now_ms).is_playing

    def pending_at(self, now_ms: int) -> Playback:
        """The same playback without the priors that are over by ``now_ms``."""
        if self.prior is None:
            return self
        if self.server_time_ms <= now_ms:
            return Playback(self.is_playing, self.position_ms, self.server_time_ms)
        return Playback(self.is_playing, self.position_ms, self.server_time_ms, self.prior.pending_at(now_ms))


@dataclass(frozen=True, slots=True)
class LiveState:
    """Everything live about one group: what the engine stores, what a snapshot shows."""

    group_id: str
    name: str
    is_public: bool
    playlist_id: str
    version: int
    tracks: tuple[Track, ...]
    current_index: int  # len(tracks) means nothing is current (empty playlist or queue ended)
    playback: Playback
    votes: frozenset[str]  # user ids voting to skip the current track
    listening_mode: str = EVERYONE  # durable (groups.listening_mode)
    speakers: tuple[Speaker, ...] = ()  # durable (group_speakers), sorted by device key
    followers: frozenset[str] = frozenset()  # user ids whose own Spotify follows the room (live only)
    queue: QueueSettings = QueueSettings()  # durable (groups' queue columns)
    # When the current track's play began on the room's clock (its first start), None while it has
    # not started: what the history row written when the play ends says. Live only: a play cut off
    # by a rebuild of the live state is not recorded.
    play_started_ms: int | None = None

    @property
    def current_track(self) -> Track | None:
        return current_track(self)


# How a play ended, as the history keeps it: played to its end, moved on by a host (skip, previous,
# jump, a restart), voted off, or removed from the playlist while it played.
ENDED, SKIPPED, VOTED, REMOVED = "ended", "skipped", "voted", "removed"
PLAY_OUTCOMES = (ENDED, SKIPPED, VOTED, REMOVED)


@dataclass(frozen=True, slots=True)
class Play:
    """One play of a track that ended: what a transition hands to the durable history."""

    track: Track
    started_ms: int  # server clock (ms since the Unix epoch)
    ended_ms: int
    played_ms: int  # the position it reached (a seek counts as played), at most its duration
    outcome: str  # one of PLAY_OUTCOMES


@dataclass(frozen=True, slots=True)
class PlayedTrack:
    """A play as the history returns it to the live core (autoplay picks from these)."""

    service: str
    title: str
    duration_s: int
    url: str
    added_by: str
    added_by_name: str
    artwork_url: str | None
    started_ms: int


@dataclass(frozen=True, slots=True)
class Speaker:
    """A device marked as the room's speaker: its per-room key and who marked it."""

    device_key: str
    user_id: str
    name: str


@dataclass(frozen=True, slots=True)
class Member:
    """A member as the room shows them (members list, member_joined, `you`)."""

    user_id: str
    name: str
    role: str


@dataclass(frozen=True, slots=True)
class Actor:
    """Who issues a command, on the socket or over HTTP: the one shape commands are checked against."""

    user_id: str
    name: str
    role: str  # admin | member: read per command, so a promotion applies to the very next one
    device_key: str | None = None  # the sender's device in this room (from hello's device_id)

    @property
    def member(self) -> Member:
        return Member(self.user_id, self.name, self.role)


@dataclass(frozen=True, slots=True)
class NewTrack:
    """A track a command adds, before the database gave it its id (``Track`` once it has one)."""

    service: str
    title: str
    duration_s: int
    url: str
    added_by: str
    added_by_name: str
    artwork_url: str | None = None


def current_track(state: LiveState) -> Track | None:
    if 0 <= state.current_index < len(state.tracks):
        return state.tracks[state.current_index]
    return None


# -- serialisation -------------------------------------------------------------------------------


def track_to_dict(track: Track) -> dict[str, Any]:
    return {
        "id": track.id,
        "service": track.service,
        "title": track.title,
        "duration_s": track.duration_s,
        "url": track.url,
        "added_by": track.added_by,
        "added_by_name": track.added_by_name,
        "added_at": track.added_at,
        "artwork_url": track.artwork_url,
    }


def clock_to_dict(clock: Clock) -> dict[str, Any]:
    return {"is_playing": clock.is_playing, "position_ms": clock.position_ms, "server_time_ms": clock.server_time_ms}


def playback_to_dict(playback: Playback) -> dict[str, Any]:
    body = clock_to_dict(playback.clock)
    if playback.prior is not None:
        body["prior"] = playback_to_dict(playback.prior)
    return body


def speaker_to_dict(speaker: Speaker) -> dict[str, Any]:
    return {"device_key": speaker.device_key, "user_id": speaker.user_id, "name": speaker.name}


def member_to_dict(member: Member) -> dict[str, Any]:
    return {"user_id": member.user_id, "name": member.name, "role": member.role}


def queue_to_dict(queue: QueueSettings) -> dict[str, Any]:
    return {
        "queue_mode": queue.queue_mode,
        "repeat": queue.repeat,
        "autoplay": queue.autoplay,
        "autoplay_avoid_last": queue.autoplay_avoid_last,
        "who_may_add": queue.who_may_add,
        "max_queued_per_member": queue.max_queued_per_member,
        "max_track_s": queue.max_track_s,
        "replay_block_min": queue.replay_block_min,
    }


def encode_state(state: LiveState) -> bytes:
    return orjson.dumps(
        {
            "format": STATE_FORMAT,
            "group_id": state.group_id,
            "name": state.name,
            "is_public": state.is_public,
            "playlist_id": state.playlist_id,
            "version": state.version,
            "tracks": [track_to_dict(t) for t in state.tracks],
            "current_index": state.current_index,
            "playback": playback_to_dict(state.playback),
            "votes": sorted(state.votes),  # sorted so equal states encode to equal bytes
            "listening_mode": state.listening_mode,
            "speakers": [speaker_to_dict(s) for s in state.speakers],
            "followers": sorted(state.followers),
            "queue": queue_to_dict(state.queue),
            "play_started_ms": state.play_started_ms,
        }
    )


def decode_state(data: bytes) -> LiveState:
    """Inverse of encode_state; ValueError for bytes written in another format."""
    raw = orjson.loads(data)
    if not isinstance(raw, dict) or raw.get("format") != STATE_FORMAT:
        raise ValueError("live state in an unknown format")
    return LiveState(
        group_id=raw["group_id"],
        name=raw["name"],
        is_public=raw["is_public"],
        playlist_id=raw["playlist_id"],
        version=raw["version"],
        tracks=tuple(Track(**t) for t in raw["tracks"]),
        current_index=raw["current_index"],
        playback=_playback(raw["playback"]),
        votes=frozenset(raw["votes"]),
        listening_mode=raw["listening_mode"],
        speakers=tuple(Speaker(**s) for s in raw["speakers"]),
        followers=frozenset(raw["followers"]),
        queue=QueueSettings(**raw["queue"]),
        play_started_ms=raw["play_started_ms"],
    )


def _playback(raw: dict[str, Any]) -> Playback:
    prior = raw.get("prior")
    return Playback(
        is_playing=raw["is_playing"],
        position_ms=raw["position_ms"],
        server_time_ms=raw["server_time_ms"],
        prior=None if prior is None else _playback(prior),
    )
