"""Hostile frames on a live socket: whatever arrives, the answer is an error frame (or an ack for a
frame that happens to be valid) and the socket keeps serving."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st
from starlette.testclient import TestClient

import rooms_server.web.ws_loop
from rooms_server.app import create_app
from rooms_server.config import Limits, Settings
from tests.asyncapi_frames import validate_server_frame
from tests.helpers import Guest, make_group
from tests.ws_client import Phone, close_all

TYPES = ["hello", "add", "remove", "move", "skip", "previous", "jump", "play", "pause", "seek", "vote_skip", "chat"]
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=50),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
frames = st.one_of(
    st.fixed_dictionaries({"type": st.sampled_from(TYPES)}, optional={"id": json_values, "track_id": json_values}).map(
        lambda d: orjson.dumps(d).decode()
    ),
    st.dictionaries(st.text(max_size=12), json_values, max_size=6).map(lambda d: orjson.dumps(d).decode()),
    st.text(max_size=200),
    st.sampled_from(
        [
            '{"type": "seek", "position_ms": ' + "9" * 400 + "}",
            "[" * 5000,
            '{"type": "chat", "text": "' + "x" * 20000 + '"}',
            "\ud800",
            "1e999",
            "NaN",
            "{}",
        ]
    ),
)


@pytest.fixture(scope="module")
def live_socket(tmp_path_factory: pytest.TempPathFactory, migrated_sqlite_template: Path) -> Iterator[Phone]:
    db = tmp_path_factory.mktemp("fuzz") / "rooms.db"
    shutil.copy(migrated_sqlite_template, db)
    limits = Limits(commands_per_second=1e6, command_burst=1_000_000, max_queue_tracks=10_000)
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{db}",
        secret_key="k",
        allowed_origins=("http://testserver",),
        migrate_on_start=False,
        limits=limits,
    )
    patch = pytest.MonkeyPatch()
    patch.setattr(rooms_server.web.ws_loop, "MAX_BAD_FRAMES", 10**9)  # fuzzing is abuse by design
    with TestClient(create_app(settings)) as client:
        ann = Guest(client, "Ann")
        gid = make_group(client, ann, "Fuzz")["id"]
        phone = Phone(client, ann, gid)
        try:
            yield phone
        finally:
            close_all()
    patch.undo()


def _reply(phone: Phone) -> dict[str, Any]:
    """The answer to the last frame: events it caused are skipped (they were validated on the way)."""
    for _ in range(20):
        frame: dict[str, Any] = validate_server_frame(phone.ws.receive_text())
        if frame["type"] in ("ack", "error", "pong"):
            return frame
    raise AssertionError("no answer")


@hsettings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=frames)
def test_ws_fuzz_every_frame_gets_an_answer_and_the_socket_lives(live_socket: Phone, raw: str) -> None:
    live_socket.ws.send_text(raw)
    reply = _reply(live_socket)
    assert reply["type"] in ("ack", "error")
    live_socket.ws.send_text('{"type": "ping", "client_time": 1}')
    assert _reply(live_socket)["type"] == "pong"
