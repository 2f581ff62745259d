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
    id: str | None = None


ClientFrame: TypeAlias = (
    Hello | Add | Remove | Move | Skip | Previous | Jump | Play | Pause | Seek | VoteSkip | Chat | React | Ping
)
