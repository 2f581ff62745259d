"""Client → server frames of the room socket, as parsed by protocol.parse_client_frame.

Field names are the wire names, `type` (a class attribute) is the frame's wire type, and every
frame may carry the client's `id`, echoed in its ack or error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, TypeAlias


@dataclass(frozen=True, slots=True, kw_only=True)
class Resume:
    epoch: str
    seq: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Hello:
    type: ClassVar[str] = "hello"
    token: str | None = None
    resume: Resume | None = None
    device_id: str | None = None  # random, kept by the page in localStorage: which device this is
    id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Add:
    type: ClassVar[str] = "add"
    service: str
    url: str
    title: str | None = None
    duration: int | None = None  # seconds
    id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Remove:
    type: ClassVar[str] = "remove"
    track_id: int
    id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Move:
    type: ClassVar[str] = "move"
    track_id: int
    after_track_id: int | None  # None: to the front
    id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Skip:
    type: ClassVar[str] = "skip"
    expected_track_id: int
    id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Previous:
    type: ClassVar[str] = "previous"
    expected_track_id: int | None  # None: the sender saw the queue as ended
    id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Jump:
    type: ClassVar[str] = "jump"
    track_id: int
    id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Play:
    type: ClassVar[str] = "play"
    id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Pause:
    type: ClassVar[str] = "pause"
    id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Seek:
    type: ClassVar[str] = "seek"
    position_ms: int
    id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class VoteSkip:
    type: ClassVar[str] = "vote_skip"
    track_id: int
    id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Chat:
    type: ClassVar[str] = "chat"
    text: str  # stripped
    id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class React:
    type: ClassVar[str] = "react"
    emoji: str
    id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Ping:
    type: ClassVar[str] = "ping"
    client_time: float
    rtt_ms: int | None = None  # the client's recent high round-trip time, for the room's lead
    id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ListeningMode:
    type: ClassVar[str] = "listening_mode"
    mode: str  # everyone | speaker
    id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MarkSpeaker:
    type: ClassVar[str] = "mark_speaker"  # the sender's own device
    id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class UnmarkSpeaker:
    type: ClassVar[str] = "unmark_speaker"
    device_key: str
    id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Follow:
    type: ClassVar[str] = "follow"  # "play on my Spotify": the sender's own Spotify follows the room
    following: bool
    id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueSettingsChange:
    """A host changes some of the room's queue settings (queue_rules.QueueSettings); None: unchanged."""

    type: ClassVar[str] = "queue_settings"
    queue_mode: str | None = None  # in_order | fair_turns
    repeat: str | None = None  # off | one | all
    autoplay: bool | None = None
    autoplay_avoid_last: int | None = None
    who_may_add: str | None = None  # everyone | hosts
    max_queued_per_member: int | None = None  # 0: no limit
    max_track_s: int | None = None  # 0: no limit
    replay_block_min: int | None = None  # 0: no limit
    id: str | None = None

    def changes(self) -> dict[str, str | int | bool]:
        """The settings this frame names, by their QueueSettings field names."""
        named = {
            "queue_mode": self.queue_mode,
            "repeat": self.repeat,
            "autoplay": self.autoplay,
            "autoplay_avoid_last": self.autoplay_avoid_last,
            "who_may_add": self.who_may_add,
            "max_queued_per_member": self.max_queued_per_member,
            "max_track_s": self.max_track_s,
            "replay_block_min": self.replay_block_min,
        }
        return {name: value for name, value in named.items() if value is not None}


@dataclass(frozen=True, slots=True, kw_only=True)
class Shuffle:
    type: ClassVar[str] = "shuffle"  # the upcoming tracks, in a random order
    id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Unshuffle:
    type: ClassVar[str] = "unshuffle"  # the upcoming tracks, back in the order they were added
    id: str | None = None


ClientFrame: TypeAlias = (
    Hello
    | Add
    | Remove
    | Move
    | Skip
    | Previous
    | Jump
    | Play
    | Pause
    | Seek
    | VoteSkip
    | Chat
    | React
    | Ping
    | ListeningMode
    | MarkSpeaker
    | UnmarkSpeaker
    | Follow
    | QueueSettingsChange
    | Shuffle
    | Unshuffle
)
