"""Wire format of the room socket `/ws/groups/{group_id}`: JSON text frames, no I/O.

Client frames are parsed into frozen dataclasses (`parse_client_frame`); server frames are built
here as text (`snapshot`, `resumed`, `ack`, `error`, `pong`) or, for events, encoded once per
event with their `(epoch, seq)` framing (`encode_event`). docs/asyncapi.yaml is the published
form of this module, and the tests hold both to each other.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from enum import IntEnum, unique
from typing import Any, TypeAlias

import orjson

from rooms_server.client_frames import (
    Add as Add,
    Chat as Chat,
    ClientFrame as ClientFrame,
    Follow as Follow,
    Hello as Hello,
    Jump as Jump,
    ListeningMode as ListeningMode,
    MarkSpeaker as MarkSpeaker,
    Move as Move,
    Pause as Pause,
    Ping as Ping,
    Play as Play,
    Previous as Previous,
    QueueSettingsChange as QueueSettingsChange,
    React as React,
    Remove as Remove,
    Resume as Resume,
    Seek as Seek,
    Shuffle as Shuffle,
    Skip as Skip,
    UnmarkSpeaker as UnmarkSpeaker,
    Unshuffle as Unshuffle,
    VoteSkip as VoteSkip,
)
from rooms_server.fields import MAX_SAFE_INT as MAX_SAFE_INT, FieldError, Fields, clean_text
from rooms_server.hosting import Hosting, hosting_to_dict
from rooms_server.queue_rules import QUEUE_MODES, REPEAT_MODES, WHO_MAY_ADD
from rooms_server.rooms import (
    LISTENING_MODES,
    Event,
    LiveState,
    Member,
    current_track,
    member_to_dict,
    playback_to_dict,
    queue_ended,
    queue_to_dict,
    speaker_to_dict,
    track_to_dict,
)

MAX_FRAME_BYTES = 64 * 1024
MAX_CHAT_CHARS = 500
MAX_ID_CHARS = 64
MAX_TOKEN_CHARS = 512
MAX_EPOCH_CHARS = 64
MAX_URL_CHARS = 2048
MAX_TITLE_CHARS = 512
MAX_DURATION_S = 86_400
MAX_EMOJI_CHARS = 16
# The reactions a `react` may send, in the order pages show them; anything else is `invalid_reaction`.
REACTIONS: tuple[str, ...] = ("🔥", "❤️", "😂", "👏", "🎉", "😮", "💃", "👍")
_VS16 = "\ufe0f"  # the emoji presentation selector: "❤" and "❤️" are the same reaction
_REACTION_OF = {emoji.replace(_VS16, ""): emoji for emoji in REACTIONS}
SERVICES = frozenset({"spotify", "youtube"})
MAX_RTT_MS = 60_000
DEVICE_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
DEVICE_KEY = re.compile(r"[0-9a-f]{32}")
# Stable `error.code` values for frames that cannot be understood; rooms.ERROR_CODES lists the rules' codes.
ERROR_CODES: frozenset[str] = frozenset({"frame_too_large", "bad_json", "bad_frame", "unknown_type", "binary_frame"})
# Codes of the socket itself: a second hello, the rate limit, a backend outage (retryable, with
# retry_after_ms), a full command queue or lock wait (retryable), a lost race (retry).
SOCKET_ERROR_CODES: frozenset[str] = frozenset(
    {"already_authenticated", "rate_limited", "unavailable", "busy", "conflict"}
)


class ProtocolError(Exception):
    """A frame that cannot be understood; answered with an `error` frame, the socket lives."""

    def __init__(self, code: str, message: str, id: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.id = id


@unique
class CloseCode(IntEnum):
    """WebSocket close codes (RFC 6455 private range).

    4000–4499: transient; reconnect with backoff and resume from the last (epoch, seq).
    4500–4999: terminal; do not reconnect without user action (new token, new invite).
    """

    SERVER_ERROR = 4000  # unexpected server failure
    SLOW_CONSUMER = 4008  # the send queue overflowed: the client did not read fast enough
    RESYNC = 4010  # events could not be delivered without a gap: reconnect for a fresh snapshot
    SHUTDOWN = 4011  # server restart or shutdown
    HELLO_TIMEOUT = 4012  # no hello frame in time after the socket opened
    UNAVAILABLE = 4013  # engine or database unavailable right now
    TOO_MANY_COMMANDS = 4029  # command rate limit exceeded
    UNAUTHORIZED = 4501  # missing, invalid, expired or revoked token
    FORBIDDEN = 4503  # not a member of this group, or removed from it
    GROUP_NOT_FOUND = 4504
    GROUP_DELETED = 4505
    BAD_ORIGIN = 4508  # Origin header not among the configured origins
    TOO_MANY_CONNECTIONS = 4509  # connections per user exceeded
    TOO_MANY_BAD_FRAMES = 4510  # repeated protocol errors

    @property
    def reconnect(self) -> bool:
        return self < 4500


# -- client frames -------------------------------------------------------------------------------


def parse_client_frame(text: str | bytes, *, max_bytes: int, max_chat_chars: int = MAX_CHAT_CHARS) -> ClientFrame:
    """Parse one text frame; raises ProtocolError and nothing else, whatever the input."""
    obj = _decode(text, max_bytes)
    frame_id = _frame_id(obj)
    frame_type = obj.get("type")
    if type(frame_type) is not str:
        raise ProtocolError("bad_frame", "type: must be a string", frame_id)
    parser = _PARSERS.get(frame_type)
    if parser is None:
        raise ProtocolError("unknown_type", f"unknown frame type {frame_type[:64]!r}", frame_id)
    fields = Fields(obj, frame_id=frame_id)
    fields.skip("type", "id")
    try:
        frame = parser(fields, max_chat_chars)
        fields.finish()
    except FieldError as exc:
        raise ProtocolError("bad_frame", str(exc), frame_id) from None
    return frame


def _decode(text: str | bytes, max_bytes: int) -> dict[str, object]:
    if isinstance(text, str):
        # Counting UTF-8 bytes needs an encode; skip it when the character count already decides.
        too_large = len(text) > max_bytes or (
            len(text) * 4 > max_bytes and len(text.encode("utf-8", "surrogatepass")) > max_bytes
        )
    elif isinstance(text, bytes):
        too_large = len(text) > max_bytes
    else:
        raise ProtocolError("bad_json", "a frame must be text")
    if too_large:
        raise ProtocolError("frame_too_large", f"frames are limited to {max_bytes} bytes")
    try:
        # orjson refuses NaN/Infinity, lone surrogates and nesting deeper than 1024 with this error.
        obj = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError("bad_json", f"invalid JSON: {exc}") from None
    if type(obj) is not dict:
        raise ProtocolError("bad_frame", "a frame must be a JSON object")
    return obj


def _frame_id(obj: dict[str, object]) -> str | None:
    frame_id = obj.get("id")
    if frame_id is None and "id" not in obj:
        return None
    if type(frame_id) is not str or not 1 <= len(frame_id) <= MAX_ID_CHARS or "\x00" in frame_id:
        raise ProtocolError("bad_frame", f"id: must be a string of 1..{MAX_ID_CHARS} characters without NUL")
    return frame_id


_Parser: TypeAlias = Callable[[Fields, int], ClientFrame]


def _hello(f: Fields, _: int) -> Hello:
    token = f.optional_text("token", min_len=1, max_len=MAX_TOKEN_CHARS)
    device_id = f.optional_pattern("device_id", DEVICE_ID, "16..64 characters of A-Z, a-z, 0-9, _ and -")
    return Hello(token=token, resume=_resume(f), device_id=device_id, id=f.frame_id)


def _resume(hello: Fields) -> Resume | None:
    """The resume point, or None when there is none or it is malformed (then: a snapshot with
    ``recovered: false``, as for a point the log no longer covers; the client is not at fault)."""
    try:
        f = hello.optional_object("resume")
        if f is None:
            return None
        resume = Resume(epoch=f.text("epoch", min_len=1, max_len=MAX_EPOCH_CHARS), seq=f.integer("seq", lo=0))
        f.finish()
    except FieldError:
        return None
    return resume


def _add(f: Fields, _: int) -> Add:
    return Add(
        service=f.choice("service", SERVICES),
        url=f.text("url", min_len=1, max_len=MAX_URL_CHARS),
        title=_cleaned(f.optional_text("title", min_len=1, max_len=MAX_TITLE_CHARS)),
        duration=f.optional_integer("duration", lo=1, hi=MAX_DURATION_S),
        id=f.frame_id,
    )


def _chat(f: Fields, max_chat_chars: int) -> Chat:
    # The raw text is bounded (not the cleaned one) so the rule fits a JSON Schema; cleaned like
    # every text input: NFC, no control characters, stripped.
    text = clean_text(f.text("text", min_len=1, max_len=max_chat_chars))
    if not text:
        raise FieldError("text: must not be blank")
    return Chat(text=text, id=f.frame_id)


def _cleaned(text: str | None) -> str | None:
    """A cleaned optional text; None when nothing printable is left (as if it were not given)."""
    return None if text is None else clean_text(text) or None


# Bounds of the queue settings a host may set (0 turns a limit off).
MAX_AUTOPLAY_AVOID = 100
MAX_QUEUED_PER_MEMBER = 1000
MAX_REPLAY_BLOCK_MIN = 24 * 60


def _queue_settings(f: Fields, _: int) -> QueueSettingsChange:
    frame = QueueSettingsChange(
        queue_mode=f.choice("queue_mode", QUEUE_MODES) if f.has("queue_mode") else None,
        repeat=f.choice("repeat", REPEAT_MODES) if f.has("repeat") else None,
        autoplay=f.boolean("autoplay") if f.has("autoplay") else None,
        autoplay_avoid_last=f.optional_integer("autoplay_avoid_last", lo=0, hi=MAX_AUTOPLAY_AVOID),
        who_may_add=f.choice("who_may_add", WHO_MAY_ADD) if f.has("who_may_add") else None,
        max_queued_per_member=f.optional_integer("max_queued_per_member", lo=0, hi=MAX_QUEUED_PER_MEMBER),
        max_track_s=f.optional_integer("max_track_s", lo=0, hi=MAX_DURATION_S),
        replay_block_min=f.optional_integer("replay_block_min", lo=0, hi=MAX_REPLAY_BLOCK_MIN),
        id=f.frame_id,
    )
    if not frame.changes():
        raise FieldError("queue_settings: name at least one setting")
    return frame


def _track_id(f: Fields, key: str) -> int:
    return f.integer(key, lo=1)


_PARSERS: dict[str, _Parser] = {
    "hello": _hello,
    "add": _add,
    "remove": lambda f, _: Remove(track_id=_track_id(f, "track_id"), id=f.frame_id),
    "move": lambda f, _: Move(
        track_id=_track_id(f, "track_id"), after_track_id=f.nullable_integer("after_track_id", lo=1), id=f.frame_id
    ),
    "skip": lambda f, _: Skip(expected_track_id=_track_id(f, "expected_track_id"), id=f.frame_id),
    "previous": lambda f, _: Previous(expected_track_id=f.nullable_integer("expected_track_id", lo=1), id=f.frame_id),
    "jump": lambda f, _: Jump(track_id=_track_id(f, "track_id"), id=f.frame_id),
    "play": lambda f, _: Play(id=f.frame_id),
    "pause": lambda f, _: Pause(id=f.frame_id),
    "seek": lambda f, _: Seek(position_ms=f.integer("position_ms", lo=0), id=f.frame_id),
    "vote_skip": lambda f, _: VoteSkip(track_id=_track_id(f, "track_id"), id=f.frame_id),
    "chat": _chat,
    "react": lambda f, _: React(emoji=f.text("emoji", min_len=1, max_len=MAX_EMOJI_CHARS), id=f.frame_id),
    "ping": lambda f, _: Ping(
        client_time=f.number("client_time"), rtt_ms=f.optional_integer("rtt_ms", lo=0, hi=MAX_RTT_MS), id=f.frame_id
    ),
    "listening_mode": lambda f, _: ListeningMode(mode=f.choice("mode", LISTENING_MODES), id=f.frame_id),
    "mark_speaker": lambda f, _: MarkSpeaker(id=f.frame_id),
    "unmark_speaker": lambda f, _: UnmarkSpeaker(
        device_key=f.pattern("device_key", DEVICE_KEY, "32 lowercase hex characters"), id=f.frame_id
    ),
    "follow": lambda f, _: Follow(following=f.boolean("following"), id=f.frame_id),
    "queue_settings": _queue_settings,
    "shuffle": lambda f, _: Shuffle(id=f.frame_id),
    "unshuffle": lambda f, _: Unshuffle(id=f.frame_id),
}
CLIENT_FRAME_TYPES: frozenset[str] = frozenset(_PARSERS)


# -- server frames -------------------------------------------------------------------------------


def _text(frame: dict[str, Any]) -> str:
    return orjson.dumps(frame).decode()


def _with_id(frame: dict[str, Any], frame_id: str | None) -> dict[str, Any]:
    if frame_id is not None:
        frame["id"] = frame_id
    return frame


NO_HOST = Hosting(None)  # a room read without its hosting (only while it is being deleted)


def snapshot(
    state: LiveState,
    *,
    epoch: str,
    seq: int,
    server_time: int,
    recovered: bool,
    members: Sequence[Member],
    member_count: int,
    you: Member,
    votes_needed: int,
    device_key: str | None = None,
    invite: dict[str, Any] | None = None,
    chat: Sequence[dict[str, Any]] = (),
    hosting: Hosting = NO_HOST,
) -> str:
    """The full room, first frame of a connection unless a resume succeeds.

    recovered is True only when the snapshot sits at the client's own resume point (nothing was
    missed); False tells a resuming client to drop its local state. device_key is this socket's
    device in the room (None when its hello had no device_id), to compare with ``speakers``.
    members lists at most SNAPSHOT_MEMBERS of the ``member_count`` members present, hosts first
    (the rest are paged over HTTP). invite is the room's valid invite (or None), chat its last
    messages, oldest first (``chat_line``), hosting who hosts it (``hosting.hosting_to_dict``).
    """
    header = {"type": "snapshot", "epoch": epoch, "seq": seq, "server_time": server_time, "recovered": recovered}
    room = _room(state, votes_needed)
    people = {
        "members": [member_to_dict(m) for m in members],
        "member_count": member_count,
        "you": member_to_dict(you),
        "device_key": device_key,
        "hosting": hosting_to_dict(hosting),
    }
    social = {"invite": invite, "chat": list(chat), "reactions": list(REACTIONS)}
    return _text({**header, **room, **people, **social})


def device_key(group_id: str, device_id: str) -> str:
    """A device's key in one room: stable, unlinkable across rooms, and not the id itself.

    Keys are what the room shares (the speakers list); the device id stays on the phone and in
    its own hello, so nobody can present another member's device as theirs.
    """
    return hashlib.sha256(f"{group_id}:{device_id}".encode()).hexdigest()[:32]


def _room(state: LiveState, votes_needed: int) -> dict[str, Any]:
    track = current_track(state)
    return {
        "group": {
            "id": state.group_id,
            "name": state.name,
            "is_public": state.is_public,
            "listening_mode": state.listening_mode,
        },
        "playlist": {
            "id": state.playlist_id,
            "version": state.version,
            "current_index": state.current_index,
            "tracks": [track_to_dict(t) for t in state.tracks],
        },
        "playback": playback_to_dict(state.playback),
        "votes": {"track_id": None if track is None else track.id, "votes": len(state.votes), "needed": votes_needed},
        "speakers": [speaker_to_dict(s) for s in state.speakers],
        "followers": sorted(state.followers),
        "queue_ended": queue_ended(state),
        "queue": queue_to_dict(state.queue),
    }


def resumed(epoch: str, seq: int, server_time: int) -> str:
    """Sent before an exact replay of the events after (epoch, seq)."""
    return _text({"type": "resumed", "epoch": epoch, "seq": seq, "server_time": server_time})


def ack(id: str | None, seq: int, *, duplicate: bool = False) -> str:
    """``duplicate``: the command id was answered before; this is that answer, nothing was applied now."""
    frame: dict[str, Any] = {"type": "ack", "seq": seq}
    if duplicate:
        frame["duplicate"] = True
    return _text(_with_id(frame, id))


def error(
    code: str, message: str, id: str | None = None, *, retry_after_ms: int | None = None, duplicate: bool = False
) -> str:
    frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if retry_after_ms is not None:
        frame["retry_after_ms"] = retry_after_ms
    if duplicate:
        frame["duplicate"] = True
    return _text(_with_id(frame, id))


def pong(client_time: float, server_time: int, id: str | None = None) -> str:
    return _text(_with_id({"type": "pong", "client_time": client_time, "server_time": server_time}, id))


def notice(code: str, message: str) -> str:
    """A message for this member alone (never an event: the others do not see it)."""
    return _text({"type": "notice", "code": code, "message": message})


def encode_event(body: Event, *, epoch: str, seq: int, ts: int) -> bytes:
    """The event frame, encoded once and sent as-is to every socket of the group."""
    # The framing goes last so that a body can never overwrite the event's (epoch, seq).
    return orjson.dumps({**body, "epoch": epoch, "seq": seq, "ts": ts})


# Event bodies the hub emits itself (the playlist and playback ones come from rooms.py).


def members_changed(joined: Sequence[Member], left: Sequence[str], count: int) -> Event:
    """Who arrived and who went since the last announcement, and how many are present now.

    One event for every change of a presence window (presence.py): a user in ``joined`` is
    present (add or replace them), one in ``left`` is not (drop them); ``count`` is the number of
    members present, which is all a client showing a bounded list knows of the rest.
    """
    return {
        "type": "members_changed",
        "joined": [member_to_dict(m) for m in joined],
        "left": list(left),
        "count": count,
    }


def member_removed(user_id: str) -> Event:
    """The member left or was removed; their sockets close with FORBIDDEN right after this event."""
    return {"type": "member_removed", "user_id": user_id}


def role_changed(user_id: str, role: str) -> Event:
    return {"type": "role_changed", "user_id": user_id, "role": role}


def sent_at(moment: datetime) -> str:
    """ISO 8601 UTC with milliseconds: ``2026-12-02T03:04:05.123Z``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def chat_line(user_id: str, name: str, text: str, at: datetime) -> dict[str, Any]:
    """A chat message as the snapshot's history lists it (the event adds its framing)."""
    return {"user_id": user_id, "name": name, "text": text, "sent_at": sent_at(at)}


def chat_event(user_id: str, name: str, text: str, at: datetime) -> Event:
    return {"type": "chat", **chat_line(user_id, name, text, at)}


def reaction(emoji: str) -> str | None:
    """The reaction ``emoji`` stands for (with or without U+FE0F), or None when it is not one."""
    return _REACTION_OF.get(emoji.replace(_VS16, ""))


def reaction_event(user_id: str, name: str, emoji: str, at: datetime) -> Event:
    return {"type": "reaction", "user_id": user_id, "name": name, "emoji": emoji, "sent_at": sent_at(at)}


def hosting_changed(hosting: Hosting, cause: str, previous_host_user_id: str | None) -> Event:
    """Who hosts the room, or how its failover is set, changed (``hosting.CAUSES``); the role
    changes that come with it are ``role_changed`` events just before this one."""
    return {
        "type": "hosting_changed",
        "hosting": hosting_to_dict(hosting),
        "cause": cause,
        "previous_host_user_id": previous_host_user_id,
    }


def invite_links_changed() -> Event:
    """A host created or revoked an invite link: hosts' pages read the list again (it is not sent)."""
    return {"type": "invite_links_changed"}


def invite_changed(invite: dict[str, Any] | None) -> Event:
    """The room's invite was created, rotated or revoked (None); members' invite cards follow it."""
    return {"type": "invite_changed", "invite": invite}


def group_deleted() -> Event:
    return {"type": "group_deleted"}
