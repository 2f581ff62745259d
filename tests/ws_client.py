"""A test client for the room socket: every frame it sends or receives is checked against the
AsyncAPI document, and it keeps the room state the way a phone would (snapshot, then events)."""

from __future__ import annotations

import itertools
from typing import Any

import orjson
from starlette.testclient import TestClient, WebSocketTestSession

from tests.asyncapi_frames import validate_client_frame, validate_server_frame
from tests.helpers import Guest


def fields_match(frame: dict[str, Any], match: dict[str, Any]) -> bool:
    """Each field equals its wanted value; a list field (``members_changed``'s ``joined`` and
    ``left``) matches when it holds the wanted user id, as a member or as an id."""
    return all(_field_matches(frame.get(key), wanted) for key, wanted in match.items())


def _field_matches(value: Any, wanted: Any) -> bool:
    if isinstance(value, list) and not isinstance(wanted, list):
        return any(item == wanted or (isinstance(item, dict) and item.get("user_id") == wanted) for item in value)
    return bool(value == wanted)


OPEN: list[Phone] = []  # closed by the fixture even when a test fails midway
_ids = itertools.count(1)


class Phone:
    def __init__(
        self,
        client: TestClient,
        guest: Guest,
        group_id: str,
        *,
        resume: dict[str, Any] | None = None,
        device_id: str | None = None,
    ):
        self.guest = guest
        self._cm = client.websocket_connect(f"/ws/groups/{group_id}", headers={"origin": "http://testserver"})
        self.ws: WebSocketTestSession = self._cm.__enter__()
        self.closed = False
        OPEN.append(self)
        hello: dict[str, Any] = {"type": "hello", "token": guest.token}
        if resume is not None:
            hello["resume"] = resume
        if device_id is not None:
            hello["device_id"] = device_id
        self.send(hello)
        self.first = self.receive()
        self.events: list[dict[str, Any]] = []
        self.backlog: list[dict[str, Any]] = []  # received, not yet claimed by until()
        self.epoch: str = self.first["epoch"]
        self.seq: int = self.first["seq"]

    def send(self, frame: dict[str, Any]) -> None:
        validate_client_frame(frame)
        self.ws.send_text(orjson.dumps(frame).decode())

    def receive(self) -> dict[str, Any]:
        frame: dict[str, Any] = validate_server_frame(self.ws.receive_text())
        if "epoch" in frame and "seq" in frame and frame["type"] not in ("snapshot", "resumed"):
            assert frame["epoch"] == self.epoch, "an event from another epoch"
            assert frame["seq"] == self.seq + 1, f"gap or duplicate: had {self.seq}, got {frame['seq']}"
            self.seq = frame["seq"]
            self.events.append(frame)
        return frame

    def until(self, kind: str, **match: Any) -> dict[str, Any]:
        """The first unclaimed frame of this type (and these fields), reading more as needed."""

        def fits(frame: dict[str, Any]) -> bool:
            return frame["type"] == kind and fields_match(frame, match)

        for index, frame in enumerate(self.backlog):
            if fits(frame):
                del self.backlog[: index + 1]
                return frame
        self.backlog.clear()
        for _ in range(200):
            frame = self.receive()
            if fits(frame):
                return frame
        raise AssertionError(f"no {kind} {match}")

    def command(self, frame: dict[str, Any]) -> dict[str, Any]:
        """Send a command and read until its ack or error (events on the way are kept)."""
        frame = {**frame, "id": frame.get("id", f"c{next(_ids)}-{frame['type']}")}
        self.send(frame)
        for _ in range(200):
            reply = self.receive()
            if reply["type"] in ("ack", "error") and reply.get("id") == frame["id"]:
                return reply
            self.backlog.append(reply)
        raise AssertionError(f"no reply to {frame}")

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._cm.__exit__(None, None, None)


def close_all() -> None:
    while OPEN:
        phone = OPEN.pop()
        try:
            phone.close()
        except Exception:  # a socket the server already closed
            pass


def add(phone: Phone, title: str, duration: int = 180) -> dict[str, Any]:
    reply = phone.command(
        {
            "type": "add",
            "service": "youtube",
            "url": f"https://youtu.be/{title:0>11}"[:40],
            "title": title,
            "duration": duration,
        }
    )
    assert reply["type"] == "ack", reply
    return reply
