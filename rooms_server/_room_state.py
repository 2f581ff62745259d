"""Values of a room's live state and their encoding; the rules that change them live in rooms.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

# Bumped when the encoded layout changes: states outlive a deploy in Redis, and a state the new
# code cannot read must be rebuilt from SQL rather than misread.
STATE_FORMAT = 1


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

    @property
    def duration_ms(self) -> int:
        return self.duration_s * 1000


@dataclass(frozen=True, slots=True)
class Playback:
    """Playback as a clock: clients compute the position, the server never ticks."""

    is_playing: bool
    position_ms: int
    server_time_ms: int  # may lie in the future: a start scheduled so that all phones begin together

    def position_at(self, now_ms: int, duration_ms: int) -> int:
        position = self.position_ms
        if self.is_playing and now_ms > self.server_time_ms:
            position += now_ms - self.server_time_ms
        return max(0, min(position, duration_ms))


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

    @property
    def current_track(self) -> Track | None:
        return current_track(self)


@dataclass(frozen=True, slots=True)
class Member:
    """A member as the room shows them (members list, member_joined, `you`)."""

    user_id: str
    name: str
    role: str


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
    }


def playback_to_dict(playback: Playback) -> dict[str, Any]:
    return {
        "is_playing": playback.is_playing,
        "position_ms": playback.position_ms,
        "server_time_ms": playback.server_time_ms,
    }


def member_to_dict(member: Member) -> dict[str, Any]:
    return {"user_id": member.user_id, "name": member.name, "role": member.role}


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
        playback=Playback(**raw["playback"]),
        votes=frozenset(raw["votes"]),
    )
