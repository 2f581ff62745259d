from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given, settings, strategies as st
from jsonschema import Draft7Validator, ValidationError

from rooms_server import hosting, protocol, queue_transitions, rooms
from rooms_server.hosting import Hosting
from rooms_server.protocol import CloseCode, ProtocolError, parse_client_frame
from rooms_server.queue_rules import QueueSettings
from rooms_server.rooms import Member
from tests.asyncapi_frames import (
    CLIENT,
    OFFICIAL_SCHEMA_PATH,
    SERVER,
    load_document,
    message_names,
    payload_validator,
    validate_client_frame,
    validate_server_frame,
)
from tests.test_protocol import VALID_FRAMES, mutants
from tests.test_rooms import HOST, LEAD, NOW, make_state, make_track, remove

MESSAGES: dict[str, Any] = load_document()["components"]["messages"]


def official_validator() -> Draft7Validator:
    schema = json.loads(OFFICIAL_SCHEMA_PATH.read_text(encoding="utf-8"))
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema"
    return Draft7Validator(schema)


def test_asyncapi_vendored_schema_is_the_published_file() -> None:
    readme = (OFFICIAL_SCHEMA_PATH.parent / "README.md").read_text(encoding="utf-8")
    assert hashlib.sha256(OFFICIAL_SCHEMA_PATH.read_bytes()).hexdigest() in readme


def test_asyncapi_document_validates_against_the_official_schema() -> None:
    official_validator().validate(load_document())


def test_asyncapi_official_schema_refuses_2x_syntax() -> None:
    """The vendored schema is not vacuous: AsyncAPI 2.x `publish` is not a 3.0 action."""
    doc = copy.deepcopy(load_document())
    doc["operations"]["receiveSkip"]["action"] = "publish"
    with pytest.raises(ValidationError):
        official_validator().validate(doc)


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_asyncapi_payload_is_a_valid_json_schema(name: str) -> None:
    Draft7Validator.check_schema(MESSAGES[name]["payload"])


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_asyncapi_message_name_is_its_frame_type(name: str) -> None:
    assert MESSAGES[name]["name"] == MESSAGES[name]["payload"]["properties"]["type"]["const"]


def test_asyncapi_client_payloads_refuse_unknown_fields() -> None:
    for name in message_names(CLIENT).values():
        assert MESSAGES[name]["payload"]["additionalProperties"] is False


@pytest.mark.parametrize(
    ("name", "example"), [(n, e) for n, m in sorted(MESSAGES.items()) for e in m.get("examples", [])]
)
def test_asyncapi_examples_validate(name: str, example: dict[str, Any]) -> None:
    payload_validator(name).validate(example["payload"])


def test_asyncapi_client_types_are_the_parsed_types() -> None:
    assert set(message_names(CLIENT)) == protocol.CLIENT_FRAME_TYPES


def test_asyncapi_close_codes_are_documented_in_the_channel() -> None:
    description = load_document()["channels"]["room"]["description"]
    rows = dict(re.findall(r"^\| (\d{4}) \| (\w+) \|", description, flags=re.MULTILINE))
    assert rows == {str(code.value): code.name for code in CloseCode}


def test_asyncapi_error_codes_are_documented() -> None:
    description = MESSAGES["serverError"]["description"]
    for code in rooms.ERROR_CODES | protocol.ERROR_CODES | protocol.SOCKET_ERROR_CODES:
        assert f"`{code}`" in description


def test_asyncapi_spotify_player_codes_are_documented_for_errors_and_notices() -> None:
    from rooms_server.sources.spotify_player import HARMLESS, PLAYER_ERROR_CODES

    for code in PLAYER_ERROR_CODES - HARMLESS:
        assert f"`{code}`" in MESSAGES["serverError"]["description"]
        assert f"`{code}`" in MESSAGES["serverNotice"]["description"]


# -- server frames built by the code --------------------------------------------------------------


def room_events() -> list[dict[str, Any]]:
    """Event bodies from every transition, including the edge cases (ended queue, cleared votes)."""
    changes = [
        rooms.add_track(make_state(()), make_track(9), max_queue=5, by=HOST),
        rooms.add_track(make_state((), position_ms=5), make_track(9), max_queue=5, by=HOST),
        remove(make_state(current=1, votes=frozenset({"u1"})), 2),
        remove(make_state(current=2), 1),
        remove(make_state(current=2, playing=True), 3),
        rooms.move_track(make_state((1, 2, 3), current=1), 3, None),
        rooms.move_track(make_state((1, 2, 3), current=1), 1, 3),
        rooms.skip(make_state(playing=True, votes=frozenset({"a"})), 1, now_ms=NOW, lead_ms=LEAD),
        rooms.previous(make_state(current=3), None, now_ms=NOW, lead_ms=LEAD),
        rooms.jump(make_state(), 3, now_ms=NOW, lead_ms=LEAD),
        rooms.play(make_state(), now_ms=NOW, lead_ms=LEAD),
        rooms.pause(make_state(playing=True), now_ms=NOW + 10, lead_ms=0),
        rooms.pause(make_state(playing=True), now_ms=NOW + 10, lead_ms=LEAD),
        rooms.seek(make_state(playing=True), 1000, now_ms=NOW, lead_ms=LEAD),
        rooms.set_listening_mode(make_state(), "speaker"),
        rooms.mark_speaker(make_state(), rooms.Speaker("a" * 32, "u1", "Ann")),
        rooms.set_follow(make_state(), "u1", True),
        rooms.set_follow(replace(make_state(), followers=frozenset({"u1"})), "u1", False, notice="0123abcd"),
        rooms.seek(make_state(), 1000, now_ms=NOW, lead_ms=LEAD),
        rooms.vote_skip(make_state(), "u1", 1, present_users=5, ratio=0.5, now_ms=NOW, lead_ms=LEAD),
        rooms.advance_if_ended(make_state(current=2, playing=True), now_ms=NOW + 10**6, lead_ms=LEAD),
        rooms.update_group(make_state(), name="New name", is_public=True),
        rooms.vote_skip(make_state(current=2), "u1", 3, present_users=1, ratio=0.5, now_ms=NOW, lead_ms=LEAD),
        rooms.skip(make_state(current=2, playing=True), 3, now_ms=NOW, lead_ms=LEAD),
        rooms.add_track(make_state((1,), current=1), make_track(9), max_queue=5, by=HOST),
        queue_transitions.set_queue_settings(make_state(), {"repeat": "all", "autoplay": True}),
        queue_transitions.shuffle(make_state((1, 2, 3, 4), current=0), seed=1),
        queue_transitions.unshuffle(make_state((1, 4, 3, 2), current=0)),
        queue_transitions.autoplay(
            make_state((1,), current=1), make_track(9), playing=True, now_ms=NOW, lead_ms=LEAD, max_tracks=500
        ),
        rooms.advance_if_ended(
            replace(make_state(playing=True), queue=QueueSettings(repeat="one")), now_ms=NOW + 10**6, lead_ms=LEAD
        ),
    ]
    member = Member(user_id="u1", name="Ann", role="member")
    hub_bodies = [
        protocol.members_changed([member], ["u2"], 7),
        protocol.members_changed([], ["u1"], 0),
        protocol.member_removed("u2"),
        protocol.role_changed("u1", "admin"),
        protocol.chat_event("u1", "Ann", "hello", SENT),
        *(protocol.reaction_event("u1", "Ann", emoji, SENT) for emoji in protocol.REACTIONS),
        protocol.invite_changed(INVITE),
        protocol.invite_changed(None),
        protocol.invite_links_changed(),
        *(protocol.hosting_changed(HOSTING, cause, "u1") for cause in hosting.CAUSES),
        protocol.hosting_changed(Hosting(None, grace_s=0, on_return="keep"), "settings", None),
        protocol.group_deleted(),
    ]
    return [event for change in changes for event in change.events] + hub_bodies


SENT = datetime(2026, 12, 2, 3, 4, 5, 123000, tzinfo=UTC)
INVITE = {
    "url": "http://h/join/" + "a" * 32,
    "token": "a" * 32,
    "code": "K7MP3Q",
    "expired_at": "2026-12-09T00:00:00Z",
    "role": "listener",
    "max_uses": 10,
    "uses": 3,
}
HOSTING = Hosting("u2", away_host_user_id="u1", stand_in_role="member")


def server_frames() -> list[str | bytes]:
    you = Member(user_id="u1", name="Ann", role="admin")
    others = [you, Member(user_id="u2", name="Bo", role="member")]
    snapshots = [
        protocol.snapshot(
            state,
            epoch="e1",
            seq=seq,
            server_time=NOW,
            recovered=seq == 0,
            members=others,
            member_count=len(others),
            you=you,
            votes_needed=2,
        )
        for seq, state in enumerate(
            [make_state(()), make_state(current=3), make_state(playing=True, votes=frozenset({"u2"}))]
        )
    ]
    busy = replace(
        rooms.seek(
            rooms.pause(make_state(playing=True), now_ms=NOW, lead_ms=LEAD).state, 5, now_ms=NOW, lead_ms=LEAD
        ).state,
        listening_mode="speaker",
        speakers=(rooms.Speaker("a" * 32, "u1", "Ann"),),
        followers=frozenset({"u2"}),
    )
    snapshots.append(
        protocol.snapshot(
            busy,
            epoch="e1",
            seq=9,
            server_time=NOW,
            recovered=True,
            members=others,
            member_count=len(others),
            you=you,
            votes_needed=1,
            device_key="a" * 32,
            invite=INVITE,
            chat=[protocol.chat_line("u2", "Bo", "hi", SENT)],
            hosting=HOSTING,
        )
    )
    replies = [
        protocol.resumed("e1", 5, NOW),
        protocol.ack("c1", 6),
        protocol.ack(None, 0),
        protocol.error("stale_track", "track 1 is no longer the current track", id="c2"),
        protocol.error("bad_json", "invalid JSON"),
        protocol.pong(1.25, NOW, id="p"),
        protocol.pong(17, NOW),
        protocol.notice("spotify_no_device", "Play on my Spotify is off: open Spotify on a device first."),
    ]
    events = [protocol.encode_event(body, epoch="e1", seq=n, ts=NOW) for n, body in enumerate(room_events(), 1)]
    return snapshots + replies + events


@pytest.mark.parametrize("frame", server_frames())
def test_asyncapi_every_built_server_frame_validates(frame: str | bytes) -> None:
    validate_server_frame(frame)


def test_asyncapi_every_server_message_is_built_by_the_code() -> None:
    built = {orjson.loads(frame)["type"] for frame in server_frames()}
    assert built == set(message_names(SERVER))


def test_asyncapi_server_frame_with_an_extra_field_is_refused() -> None:
    frame = orjson.loads(protocol.ack("c1", 1))
    frame["surprise"] = 1
    with pytest.raises(ValidationError):
        validate_server_frame(frame)


def test_asyncapi_unknown_frame_types_are_refused_in_both_directions() -> None:
    with pytest.raises(ValidationError):
        validate_client_frame({"type": "snapshot"})
    with pytest.raises(ValidationError):
        validate_server_frame({"type": "skip", "expected_track_id": 1})
    with pytest.raises(ValidationError):
        validate_server_frame("[1]")


# -- client frames: the schema and the parser agree ----------------------------------------------


def parse_dict(frame: Any) -> dict[str, Any]:
    parsed = parse_client_frame(orjson.dumps(frame), max_bytes=protocol.MAX_FRAME_BYTES)
    out = {"type": frame["type"]}
    for field in type(parsed).__dataclass_fields__:
        value = getattr(parsed, field)
        if isinstance(value, protocol.Resume):
            value = {"epoch": value.epoch, "seq": value.seq}
        if value is not None or field in frame:
            out[field] = value
    return out


@pytest.mark.parametrize("frame", [frame for frame, _ in VALID_FRAMES])
def test_asyncapi_valid_client_frames_validate_and_parse_to_the_same_fields(frame: dict[str, Any]) -> None:
    validate_client_frame(frame)
    expected = dict(frame)
    if frame["type"] == "chat":
        expected["text"] = frame["text"].strip()
    assert parse_dict(frame) == expected


def schema_accepts(frame: Any) -> bool:
    try:
        validate_client_frame(frame)
    except ValidationError:
        return False
    return True


def parser_accepts(frame: Any) -> bool:
    try:
        parse_client_frame(orjson.dumps(frame), max_bytes=protocol.MAX_FRAME_BYTES)
    except ProtocolError:
        return False
    return True


def has_integral_float(value: Any) -> bool:
    # The one documented difference: JSON Schema draft 7 counts 1.0 as an integer, the server does not.
    if isinstance(value, float):
        return value.is_integer()
    if isinstance(value, dict):
        return any(has_integral_float(v) for v in value.values())
    if isinstance(value, list):
        return any(has_integral_float(v) for v in value)
    return False


@settings(max_examples=1500, deadline=None)
@given(mutants())
def test_asyncapi_schema_and_parser_accept_the_same_client_frames(frame: dict[str, Any]) -> None:
    if not has_integral_float(frame):
        assert schema_accepts(frame) == parser_accepts(frame), frame


@given(st.sampled_from(["seek", "remove"]), st.floats(allow_nan=False, allow_infinity=False))
def test_asyncapi_integral_floats_are_the_known_difference(frame_type: str, value: float) -> None:
    key = "position_ms" if frame_type == "seek" else "track_id"
    assert not parser_accepts({"type": frame_type, key: value})
