from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given, settings, strategies as st

from rooms_server import protocol
from rooms_server.protocol import (
    MAX_FRAME_BYTES,
    MAX_SAFE_INT,
    Add,
    Chat,
    CloseCode,
    Follow,
    Hello,
    Jump,
    ListeningMode,
    MarkSpeaker,
    Move,
    Pause,
    Ping,
    Play,
    Previous,
    ProtocolError,
    React,
    Remove,
    Resume,
    Seek,
    Skip,
    UnmarkSpeaker,
    VoteSkip,
    parse_client_frame,
)
from rooms_server.rooms import Member, Speaker
from tests.test_rooms import NOW, make_state


def parse(frame: Any, **limits: int) -> protocol.ClientFrame:
    text = frame if isinstance(frame, str | bytes) else orjson.dumps(frame)
    return parse_client_frame(text, max_bytes=limits.pop("max_bytes", MAX_FRAME_BYTES), **limits)


def refused(frame: Any, **limits: int) -> ProtocolError:
    with pytest.raises(ProtocolError) as exc:
        parse(frame, **limits)
    return exc.value


VALID_FRAMES: list[tuple[dict[str, Any], protocol.ClientFrame]] = [
    ({"type": "hello"}, Hello()),
    (
        {"type": "hello", "id": "h1", "token": "t" * 512, "resume": {"epoch": "e" * 64, "seq": 0}},
        Hello(token="t" * 512, resume=Resume(epoch="e" * 64, seq=0), id="h1"),
    ),
    ({"type": "add", "service": "spotify", "url": "spotify:track:x"}, Add(service="spotify", url="spotify:track:x")),
    (
        {"type": "add", "id": "a", "service": "youtube", "url": "u" * 2048, "title": "Ünïcode ☃", "duration": 86400},
        Add(service="youtube", url="u" * 2048, title="Ünïcode ☃", duration=86400, id="a"),
    ),
    ({"type": "remove", "track_id": 1}, Remove(track_id=1)),
    ({"type": "move", "track_id": 2, "after_track_id": None}, Move(track_id=2, after_track_id=None)),
    ({"type": "move", "track_id": 2, "after_track_id": MAX_SAFE_INT}, Move(track_id=2, after_track_id=MAX_SAFE_INT)),
    ({"type": "skip", "expected_track_id": 12, "id": "x" * 64}, Skip(expected_track_id=12, id="x" * 64)),
    ({"type": "previous", "expected_track_id": None}, Previous(expected_track_id=None)),
    ({"type": "previous", "expected_track_id": 3}, Previous(expected_track_id=3)),
    ({"type": "jump", "track_id": 4}, Jump(track_id=4)),
    ({"type": "play"}, Play()),
    ({"type": "pause", "id": "p"}, Pause(id="p")),
    ({"type": "seek", "position_ms": 0}, Seek(position_ms=0)),
    ({"type": "vote_skip", "track_id": 5}, VoteSkip(track_id=5)),
    ({"type": "chat", "text": "  hi there \n"}, Chat(text="hi there")),
    ({"type": "chat", "text": "x" * 500}, Chat(text="x" * 500)),
    ({"type": "react", "emoji": "👍🏽"}, React(emoji="👍🏽")),
    ({"type": "ping", "client_time": 1.5}, Ping(client_time=1.5)),
    ({"type": "ping", "client_time": -3, "id": "t"}, Ping(client_time=-3, id="t")),
    ({"type": "ping", "client_time": 12.25, "rtt_ms": 180}, Ping(client_time=12.25, rtt_ms=180)),
    ({"type": "ping", "client_time": 0, "rtt_ms": 60_000}, Ping(client_time=0, rtt_ms=60_000)),
    ({"type": "hello", "device_id": "d" * 16}, Hello(device_id="d" * 16)),
    ({"type": "hello", "device_id": "Az09_-" * 10 + "xyzw"}, Hello(device_id="Az09_-" * 10 + "xyzw")),
    ({"type": "listening_mode", "mode": "speaker"}, ListeningMode(mode="speaker")),
    ({"type": "listening_mode", "mode": "everyone", "id": "m"}, ListeningMode(mode="everyone", id="m")),
    ({"type": "mark_speaker"}, MarkSpeaker()),
    (
        {"type": "unmark_speaker", "device_key": "0123456789abcdef" * 2},
        UnmarkSpeaker(device_key="0123456789abcdef" * 2),
    ),
    ({"type": "follow", "following": True}, Follow(following=True)),
    ({"type": "follow", "following": False, "id": "f"}, Follow(following=False, id="f")),
    ({"type": "queue_settings", "repeat": "all"}, protocol.QueueSettingsChange(repeat="all")),
    (
        {
            "type": "queue_settings",
            "id": "q",
            "queue_mode": "fair_turns",
            "repeat": "one",
            "autoplay": True,
            "autoplay_avoid_last": 0,
            "who_may_add": "hosts",
            "max_queued_per_member": 0,
            "max_track_s": 86_400,
            "replay_block_min": 1440,
        },
        protocol.QueueSettingsChange(
            queue_mode="fair_turns",
            repeat="one",
            autoplay=True,
            autoplay_avoid_last=0,
            who_may_add="hosts",
            max_queued_per_member=0,
            max_track_s=86_400,
            replay_block_min=1440,
            id="q",
        ),
    ),
    ({"type": "shuffle"}, protocol.Shuffle()),
    ({"type": "unshuffle", "id": "u"}, protocol.Unshuffle(id="u")),
]


@pytest.mark.parametrize(("frame", "expected"), VALID_FRAMES)
def test_parse_client_frame_reads_every_frame_type(frame: dict[str, Any], expected: protocol.ClientFrame) -> None:
    parsed = parse(frame)
    assert parsed == expected
    assert parsed.type == frame["type"]


def test_parse_client_frame_covers_every_client_type() -> None:
    assert {frame["type"] for frame, _ in VALID_FRAMES} == protocol.CLIENT_FRAME_TYPES


def test_parse_client_frame_accepts_str_and_bytes() -> None:
    assert parse('{"type":"play"}') == parse(b'{"type":"play"}') == Play()


# -- size -------------------------------------------------------------------------------------------


def test_parse_client_frame_refuses_frames_over_the_byte_limit() -> None:
    frame = orjson.dumps({"type": "chat", "text": "x" * 100})
    assert parse(frame, max_bytes=len(frame)) == Chat(text="x" * 100)
    assert refused(frame, max_bytes=len(frame) - 1).code == "frame_too_large"
    assert refused(frame.decode(), max_bytes=len(frame) - 1).code == "frame_too_large"


def test_parse_client_frame_counts_utf8_bytes_not_characters() -> None:
    text = orjson.dumps({"type": "chat", "text": "€" * 30}).decode()  # 3 bytes per character
    assert len(text) < 100 < len(text.encode())
    assert refused(text, max_bytes=100).code == "frame_too_large"


def test_parse_client_frame_refuses_a_huge_frame_without_parsing_it() -> None:
    assert refused("[" * 10_000_000).code == "frame_too_large"


# -- JSON syntax ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "",
        "{",
        "{'type': 'play'}",
        '{"type":"seek","position_ms":NaN}',
        '{"type":"seek","position_ms":Infinity}',
        '{"type":"seek","position_ms":-Infinity}',
        '{"type":"seek","position_ms":1e400}',
        '{"type":"seek","position_ms":' + "9" * 5000 + "}",
        "[" * 100_000 + "]" * 100_000,
        '{"type":"chat","text":"\\ud800"}',
        '{"type":"chat","text":"\ud800"}',
        b'{"type":"chat","text":"\xff\xfe"}',
        '{"type":"play"} trailing',
    ],
)
def test_parse_client_frame_invalid_json_is_bad_json(text: str | bytes) -> None:
    assert refused(text, max_bytes=10**6).code == "bad_json"


@pytest.mark.parametrize("value", [None, 12, bytearray(b"{}"), ["x"]])
def test_parse_client_frame_non_text_input_is_bad_json(value: Any) -> None:
    with pytest.raises(ProtocolError) as exc:
        parse_client_frame(value, max_bytes=100)
    assert exc.value.code == "bad_json"


@pytest.mark.parametrize("text", ["[1,2,3]", "null", '"x"', "1", "true", "[]"])
def test_parse_client_frame_non_object_is_bad_frame(text: str) -> None:
    assert refused(text).code == "bad_frame"


def test_parse_client_frame_duplicate_keys_keep_the_last_one() -> None:
    assert parse('{"type":"skip","type":"play"}') == Play()


# -- schema ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "frame",
    [
        {},
        {"type": None},
        {"type": 7},
        {"type": ["play"]},
        {"type": "remove"},
        {"type": "remove", "track_id": True},
        {"type": "remove", "track_id": False},
        {"type": "remove", "track_id": 1.0},
        {"type": "remove", "track_id": "1"},
        {"type": "remove", "track_id": 0},
        {"type": "remove", "track_id": -1},
        {"type": "remove", "track_id": MAX_SAFE_INT + 1},
        {"type": "remove", "track_id": None},
        {"type": "remove", "track_id": 1, "role": "admin"},
        {"type": "move", "track_id": 1},
        {"type": "move", "track_id": 1, "after_track_id": 0},
        {"type": "skip", "expected_track_id": None},
        {"type": "skip"},
        {"type": "previous"},
        {"type": "previous", "expected_track_id": "3"},
        {"type": "play", "force": True},
        {"type": "seek", "position_ms": -1},
        {"type": "seek", "position_ms": "abc"},
        {"type": "seek", "position_ms": True},
        {"type": "seek", "position_ms": 10.5},
        {"type": "add", "service": "soundcloud", "url": "x"},
        {"type": "add", "service": "youtube"},
        {"type": "add", "service": "youtube", "url": ""},
        {"type": "add", "service": "youtube", "url": "u" * 2049},
        {"type": "add", "service": "youtube", "url": "x", "title": ""},
        {"type": "add", "service": "youtube", "url": "x", "title": "t" * 513},
        {"type": "add", "service": "youtube", "url": "x", "title": "a\x00b"},
        {"type": "add", "service": "youtube", "url": "x", "duration": 0},
        {"type": "add", "service": "youtube", "url": "x", "duration": 86401},
        {"type": "add", "service": "youtube", "url": "x", "duration": None},
        {"type": "add", "service": "YouTube", "url": "x"},
        {"type": "chat", "text": ""},
        {"type": "chat", "text": " \t\n\u3000 "},
        {"type": "chat", "text": "x" * 501},
        {"type": "chat", "text": "nul\x00"},
        {"type": "chat", "text": 5},
        {"type": "react", "emoji": ""},
        {"type": "react", "emoji": "x" * 17},
        {"type": "ping"},
        {"type": "ping", "client_time": "now"},
        {"type": "ping", "client_time": True},
        {"type": "ping", "client_time": None},
        {"type": "hello", "token": ""},
        {"type": "hello", "token": "t" * 513},
        {"type": "hello", "token": None},
        {"type": "play", "id": ""},
        {"type": "play", "id": "x" * 65},
        {"type": "play", "id": 5},
        {"type": "play", "id": None},
    ],
)
def test_parse_client_frame_schema_violations_are_bad_frame(frame: dict[str, Any]) -> None:
    error = refused(frame)
    assert error.code == "bad_frame"
    assert error.message


@pytest.mark.parametrize(
    "resume",
    [
        None,
        [],
        "e:3",
        {"epoch": "e"},
        {"epoch": "e", "seq": -1},
        {"epoch": "", "seq": 1},
        {"epoch": "e" * 65, "seq": 1},
        {"epoch": "e", "seq": 1, "extra": 1},
        {"epoch": "e", "seq": 1.5},
    ],
)
def test_parse_client_frame_malformed_resume_point_is_no_resume_point(resume: Any) -> None:
    """Not the client's fault worth a close: the server answers with a snapshot (recovered: false)."""
    assert parse({"type": "hello", "token": "t", "resume": resume}) == Hello(token="t", resume=None)


def test_parse_client_frame_names_the_offending_field() -> None:
    assert "position_ms" in refused({"type": "seek", "position_ms": -1}).message
    assert "'role'" in refused({"type": "remove", "track_id": 1, "role": "admin"}).message


def test_parse_client_frame_unknown_type_is_unknown_type() -> None:
    for frame_type in ("dance", "snapshot", "track_added", "PLAY", ""):
        assert refused({"type": frame_type}).code == "unknown_type"


def test_parse_client_frame_errors_echo_a_valid_client_id() -> None:
    assert refused({"type": "dance", "id": "c9"}).id == "c9"
    assert refused({"type": "seek", "id": "c9", "position_ms": -1}).id == "c9"
    assert refused({"type": "seek", "id": 9, "position_ms": 1}).id is None
    assert refused("{").id is None


def test_parse_client_frame_chat_limit_is_configurable() -> None:
    frame = {"type": "chat", "text": "x" * 20}
    assert parse(frame, max_chat_chars=20) == Chat(text="x" * 20)
    assert refused(frame, max_chat_chars=19).code == "bad_frame"


# -- fuzz -----------------------------------------------------------------------------------------

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
FIELD_NAMES = st.sampled_from(
    ["type", "id", "track_id", "after_track_id", "expected_track_id", "position_ms", "service", "url", "title"]
    + ["duration", "text", "emoji", "client_time", "token", "resume", "epoch", "seq"]
    + ["rtt_ms", "device_id", "mode", "device_key", "following"]
)


def mutants() -> st.SearchStrategy[dict[str, Any]]:
    """Valid frames with one field replaced, added or removed: the inputs that reach field checks."""

    def mutate(frame: dict[str, Any], key: str, value: Any, drop: bool) -> dict[str, Any]:
        frame = dict(frame)
        if drop:
            frame.pop(key, None)
        else:
            frame[key] = value
        return frame

    frames = st.sampled_from([frame for frame, _ in VALID_FRAMES])
    return st.builds(mutate, frames, FIELD_NAMES, JSON, st.booleans())


def parse_or_refuse(text: str | bytes, **limits: int) -> None:
    try:
        parse_client_frame(text, max_bytes=limits.get("max_bytes", MAX_FRAME_BYTES))
    except ProtocolError as exc:
        assert exc.code in protocol.ERROR_CODES
        assert exc.id is None or isinstance(exc.id, str)


@settings(max_examples=500, deadline=None)
@given(st.text() | st.binary())
def test_parse_client_frame_never_raises_anything_but_protocol_error_on_any_text(text: str | bytes) -> None:
    parse_or_refuse(text, max_bytes=200)


@settings(max_examples=500, deadline=None)
@given(JSON)
def test_parse_client_frame_never_raises_anything_but_protocol_error_on_any_json(value: Any) -> None:
    parse_or_refuse(orjson.dumps(value))


@settings(max_examples=1000, deadline=None)
@given(mutants())
def test_parse_client_frame_never_raises_anything_but_protocol_error_on_mutants(frame: dict[str, Any]) -> None:
    parse_or_refuse(orjson.dumps(frame))


# -- server frames ----------------------------------------------------------------------------------


def test_encode_event_frames_the_body_with_epoch_seq_ts() -> None:
    data = protocol.encode_event({"type": "track_removed", "track_id": 3}, epoch="e1", seq=42, ts=1000)
    assert isinstance(data, bytes)
    assert orjson.loads(data) == {"type": "track_removed", "track_id": 3, "epoch": "e1", "seq": 42, "ts": 1000}
    assert data.startswith(b'{"type":"track_removed"')


def test_encode_event_body_cannot_override_the_framing() -> None:
    data = protocol.encode_event({"type": "chat", "seq": 1, "epoch": "x", "ts": 0}, epoch="e1", seq=42, ts=1000)
    assert orjson.loads(data) == {"type": "chat", "epoch": "e1", "seq": 42, "ts": 1000}


def test_ack_error_pong_omit_a_missing_id() -> None:
    assert orjson.loads(protocol.ack(None, 5)) == {"type": "ack", "seq": 5}
    assert orjson.loads(protocol.ack("c1", 5)) == {"type": "ack", "seq": 5, "id": "c1"}
    assert orjson.loads(protocol.error("bad_frame", "nope")) == {
        "type": "error",
        "code": "bad_frame",
        "message": "nope",
    }
    assert orjson.loads(protocol.error("stale_track", "m", id="c2"))["id"] == "c2"
    assert orjson.loads(protocol.pong(1.5, 99)) == {"type": "pong", "client_time": 1.5, "server_time": 99}
    assert orjson.loads(protocol.pong(1, 99, id="p"))["id"] == "p"


def test_resumed_carries_the_resume_point() -> None:
    frame = orjson.loads(protocol.resumed("e1", 7, 123))
    assert frame == {"type": "resumed", "epoch": "e1", "seq": 7, "server_time": 123}


def test_snapshot_describes_the_whole_room() -> None:
    state = make_state(current=1, playing=True, votes=frozenset({"u1"}))
    you = Member(user_id="u1", name="Ann", role="admin")
    text = protocol.snapshot(
        state,
        epoch="e1",
        seq=3,
        server_time=10,
        recovered=False,
        members=[you],
        member_count=1,
        you=you,
        votes_needed=2,
    )
    frame = orjson.loads(text)
    assert frame["type"] == "snapshot"
    assert (frame["epoch"], frame["seq"], frame["server_time"], frame["recovered"]) == ("e1", 3, 10, False)
    assert frame["group"] == {"id": state.group_id, "name": "Friday", "is_public": False, "listening_mode": "everyone"}
    assert (frame["speakers"], frame["followers"], frame["device_key"]) == ([], [], None)
    assert frame["playlist"]["current_index"] == 1 and frame["playlist"]["version"] == state.version
    assert [t["id"] for t in frame["playlist"]["tracks"]] == [1, 2, 3]
    assert frame["playback"]["is_playing"] is True
    assert frame["votes"] == {"track_id": 2, "votes": 1, "needed": 2}
    assert frame["members"] == [frame["you"]] == [{"user_id": "u1", "name": "Ann", "role": "admin"}]


def test_snapshot_carries_mode_speakers_followers_and_the_sockets_device() -> None:
    state = replace(
        make_state(),
        listening_mode="speaker",
        speakers=(Speaker("a" * 32, "u1", "Ann"),),
        followers=frozenset({"u2", "u1"}),
    )
    you = Member(user_id="u1", name="Ann", role="admin")
    frame = orjson.loads(
        protocol.snapshot(
            state,
            epoch="e",
            seq=0,
            server_time=0,
            recovered=False,
            members=[you],
            member_count=1,
            you=you,
            votes_needed=1,
            device_key="b" * 32,
        )
    )
    assert frame["group"]["listening_mode"] == "speaker"
    assert frame["speakers"] == [{"device_key": "a" * 32, "user_id": "u1", "name": "Ann"}]
    assert frame["followers"] == ["u1", "u2"] and frame["device_key"] == "b" * 32


def test_device_key_is_per_room_and_hides_the_device_id() -> None:
    key = protocol.device_key("g1", "device-0123456789")
    assert len(key) == 32 and int(key, 16) >= 0
    assert key == protocol.device_key("g1", "device-0123456789")
    assert key != protocol.device_key("g2", "device-0123456789")  # not linkable across rooms
    assert "device" not in key


def test_hello_device_id_and_ping_rtt_are_bounded() -> None:
    for bad in ("short", "x" * 65, "has space in it!!", "ünïcødé-device-id"):
        assert refused({"type": "hello", "device_id": bad}).code == "bad_frame"
    for bad_rtt in (-1, 60_001, 1.5, True, "100"):
        assert refused({"type": "ping", "client_time": 1, "rtt_ms": bad_rtt}).code == "bad_frame"
    assert refused({"type": "listening_mode", "mode": "loud"}).code == "bad_frame"
    assert refused({"type": "follow", "following": 1}).code == "bad_frame"


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "queue_settings"},  # names no setting
        {"type": "queue_settings", "repeat": "twice"},
        {"type": "queue_settings", "queue_mode": "random"},
        {"type": "queue_settings", "autoplay": 1},
        {"type": "queue_settings", "who_may_add": "guests"},
        {"type": "queue_settings", "max_queued_per_member": -1},
        {"type": "queue_settings", "max_track_s": 86_401},
        {"type": "queue_settings", "replay_block_min": 1441},
        {"type": "queue_settings", "autoplay_avoid_last": 101},
        {"type": "queue_settings", "repeat": None},
        {"type": "queue_settings", "repeat": "all", "volume": 3},
        {"type": "shuffle", "seed": 4},
    ],
)
def test_parse_client_frame_refuses_bad_queue_frames(frame: dict[str, Any]) -> None:
    assert refused(frame).code == "bad_frame"
    assert refused({"type": "unmark_speaker", "device_key": "A" * 32}).code == "bad_frame"


def test_notice_is_not_an_event() -> None:
    assert orjson.loads(protocol.notice("spotify_no_device", "open Spotify")) == {
        "type": "notice",
        "code": "spotify_no_device",
        "message": "open Spotify",
    }


def test_snapshot_of_an_ended_queue_has_no_vote_track() -> None:
    you = Member(user_id="u1", name="Ann", role="member")
    frame = orjson.loads(
        protocol.snapshot(
            make_state(current=3),
            epoch="e",
            seq=0,
            server_time=0,
            recovered=True,
            members=[],
            member_count=0,
            you=you,
            votes_needed=1,
        )
    )
    assert frame["votes"]["track_id"] is None


def test_event_body_builders_have_their_type() -> None:
    member = Member(user_id="u1", name="Ann", role="member")
    assert protocol.members_changed([member], ["u2"], 5) == {
        "type": "members_changed",
        "joined": [{"user_id": "u1", "name": "Ann", "role": "member"}],
        "left": ["u2"],
        "count": 5,
    }
    assert protocol.role_changed("u1", "admin") == {"type": "role_changed", "user_id": "u1", "role": "admin"}
    at = datetime(2026, 12, 2, 3, 4, 5, 123456, tzinfo=UTC)
    assert protocol.chat_event("u1", "Ann", "hi", at) == {
        "type": "chat",
        "user_id": "u1",
        "name": "Ann",
        "text": "hi",
        "sent_at": "2026-12-02T03:04:05.123Z",
    }
    assert protocol.reaction_event("u1", "Ann", "🎉", at)["sent_at"] == "2026-12-02T03:04:05.123Z"
    assert protocol.invite_changed(None) == {"type": "invite_changed", "invite": None}
    assert protocol.group_deleted() == {"type": "group_deleted"}


# -- close codes --------------------------------------------------------------------------------------


def test_close_code_reconnect_rule_follows_the_range() -> None:
    for code in CloseCode:
        assert 4000 <= code <= 4999
        assert code.reconnect == (code < 4500)


def test_close_code_terminal_and_transient_examples() -> None:
    assert CloseCode.SLOW_CONSUMER.reconnect and CloseCode.SHUTDOWN.reconnect and CloseCode.TOO_MANY_COMMANDS.reconnect
    assert not CloseCode.UNAUTHORIZED.reconnect
    assert not CloseCode.GROUP_DELETED.reconnect
    assert not CloseCode.TOO_MANY_BAD_FRAMES.reconnect


def test_reaction_accepts_the_set_with_or_without_the_presentation_selector() -> None:
    assert protocol.REACTIONS == ("🔥", "❤️", "😂", "👏", "🎉", "😮", "💃", "👍")
    assert all(protocol.reaction(emoji) == emoji for emoji in protocol.REACTIONS)
    assert protocol.reaction("\u2764") == "❤️"  # a keyboard's plain heart
    assert protocol.reaction("💩") is None and protocol.reaction("🔥🔥") is None and protocol.reaction("x") is None


def test_snapshot_carries_the_reactions_and_queue_state() -> None:
    frame = orjson.loads(
        protocol.snapshot(
            make_state(current=3),
            epoch="e",
            seq=1,
            server_time=NOW,
            recovered=False,
            members=[],
            member_count=0,
            you=Member("u1", "Ann", "admin"),
            votes_needed=1,
        )
    )
    assert frame["reactions"] == list(protocol.REACTIONS)
    assert frame["queue_ended"] is True and frame["invite"] is None and frame["chat"] == []
