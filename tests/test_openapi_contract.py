"""The OpenAPI document says exactly what the server accepts.

For every operation that takes a body, bodies are built from the served document itself: the
minimal valid one (required fields only, at their lower bounds), the maximal one (every field at
its upper bound), then one step past each bound, a blank text, an unknown field, a body that is not
JSON and one that is too large. Valid bodies must be accepted (2xx), every other one refused with
exactly the status the document lists. A few values whose validity a schema cannot say (a link
must be a link of the service) come from ``SEMANTIC`` and are padded to the bounds. Then: every
error code the server can raise is in ``Error.code``, and every operation lists the answers any
operation may give.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from rooms_server import rooms
from rooms_server.app import create_app
from rooms_server.sources.base import ERROR_CODES as SOURCE_ERROR_CODES
from tests.fake_services import (
    VIDEO_ID,
    FakeYouTube,
    fake_youtube as fake_youtube,
)
from tests.helpers import Guest, make_group
from tests.source_helpers import app_settings, source_settings, sqlite_copy

ROOT = Path(__file__).resolve().parent.parent
# (schema, property) -> a valid value the schema cannot describe; strings are padded to maxLength.
SEMANTIC: dict[tuple[str, str], str] = {
    ("NewTrack", "service"): "youtube",  # the service the fake answers for
    ("NewTrack", "url"): f"https://www.youtube.com/watch?v={VIDEO_ID}",
    ("Handover", "user_id"): "{user_id}",  # Bob, a member of the room (Target.url fills it in)
    ("Leave", "handover_to"): "{user_id}",
}
# Operations that change who hosts the room: each request gets a room of its own (Ann hosts, Bob is in).
FRESH_ROOM = {"/api/groups/{group_id}/host", "/api/groups/{group_id}/leave"}
PADDING = {("NewTrack", "url"): "&si="}  # how a link grows to its maxLength and stays the same link


class Target:
    """Where an operation is sent, as whom: a room of Ann's that Bob joined."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.ann, self.bob = Guest(client, "Ann"), Guest(client, "Bob")
        self.gid = make_group(client, self.ann, "Contract")["id"]
        assert client.post(f"/api/groups/{self.gid}/join", headers=self.bob.headers).status_code == 200

    def invite_token(self) -> str:
        """The room's current invite (other operations rotate or revoke it), with no use limit: each
        request joins a new guest."""
        invite = self.client.post(f"/api/groups/{self.gid}/invite", json={}, headers=self.ann.headers)
        token: str = invite.json()["token"]
        return token

    def url(self, path: str) -> str:
        if path in FRESH_ROOM:
            self.gid = make_group(self.client, self.ann, f"Contract {uuid.uuid4().hex[:8]}")["id"]
            assert self.client.post(f"/api/groups/{self.gid}/join", headers=self.bob.headers).status_code == 200
        values = {"group_id": self.gid, "user_id": self.bob.id, "service": "spotify"}
        if "{token}" in path:
            values["token"] = self.invite_token()
        return re.sub(r"{(\w+)}", lambda m: values[m.group(1)], path)

    def fill(self, body: Any) -> Any:
        """A body with the member named where a semantic value says ``{user_id}``."""
        if not isinstance(body, dict):
            return body
        return {k: self.bob.id if v == "{user_id}" else v for k, v in body.items()}


@pytest.fixture
def contract(fake_youtube: FakeYouTube, tmp_path: Path, migrated_sqlite_template: Path) -> Iterator[Target]:
    fake_youtube.add_video(title="Video", duration="PT3M33S")
    settings = app_settings(sqlite_copy(migrated_sqlite_template, tmp_path), source_settings(youtube=fake_youtube))
    with TestClient(create_app(settings)) as client:
        yield Target(client)


def document(client: TestClient) -> dict[str, Any]:
    doc: dict[str, Any] = client.get("/openapi.json").json()
    return doc


def body_operations(doc: dict[str, Any]) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(method, path, schema name, schema) of every operation with a request body."""
    found = []
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if "requestBody" in operation:
                ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                name = ref.rsplit("/", 1)[1]
                found.append((method, path, name, doc["components"]["schemas"][name]))
    return found


def text(length: int, schema: str, prop: str) -> str:
    """A valid text of exactly ``length`` characters (unique, so names never collide)."""
    base = SEMANTIC.get((schema, prop))
    if base is None:
        return (uuid.uuid4().hex * (length // 32 + 1))[:length]
    pad = PADDING.get((schema, prop), "")
    value = base if length <= len(base) else base + pad + "a" * (length - len(base) - len(pad))
    return value


def low(schema: str, prop: str, spec: dict[str, Any]) -> Any:
    if (schema, prop) in SEMANTIC and spec.get("type") == "string" and "enum" not in spec:
        return SEMANTIC[(schema, prop)]
    if (schema, prop) in SEMANTIC:
        return SEMANTIC[(schema, prop)]
    if "enum" in spec:
        return spec["enum"][0]
    kind = spec["type"]
    if kind == "string":
        return text(spec.get("minLength", 1), schema, prop)
    if kind == "integer":
        return spec.get("minimum", 0)
    assert kind == "boolean", spec
    return False


def high(schema: str, prop: str, spec: dict[str, Any]) -> Any:
    if SEMANTIC.get((schema, prop)) == "{user_id}":  # an id: exactly one value is valid
        return "{user_id}"
    if "enum" in spec:
        return SEMANTIC.get((schema, prop), spec["enum"][-1])
    kind = spec["type"]
    if kind == "string":
        return text(spec["maxLength"], schema, prop)
    if kind == "integer":
        return spec["maximum"]
    return True


def invalid_values(schema: str, prop: str, spec: dict[str, Any]) -> list[Any]:
    """One step past each bound the schema states, and a blank text where it says "not blank"."""
    if "enum" in spec:
        return ["not-one-of-them", 1]
    kind = spec["type"]
    if kind == "string":
        return [text(spec["maxLength"] + 1, schema, prop), " \n\t\u0007 ", 42]
    if kind == "integer":
        below = [spec["minimum"] - 1] if "minimum" in spec else []
        return [*below, spec["maximum"] + 1, True, 1.5, "1"]
    return ["true", 1]


def minimal(schema: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {p: low(schema, p, s) for p, s in spec["properties"].items() if p in spec.get("required", [])}


def maximal(schema: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {p: high(schema, p, s) for p, s in spec["properties"].items()}


def send(target: Target, method: str, path: str, body: Any, *, raw: bytes | None = None) -> Any:
    # Creating a guest, and joining as a new guest, is what a phone without a token does.
    headers = {} if path in ("/api/users", "/api/invites/{token}/join") else dict(target.ann.headers)
    if raw is not None:
        return target.client.request(
            method, target.url(path), content=raw, headers={**headers, "content-type": "application/json"}
        )
    return target.client.request(method, target.url(path), json=target.fill(body), headers=headers)


def test_openapi_contract_every_body_schema_accepts_and_refuses_exactly_what_the_server_does(
    contract: Target,
) -> None:
    doc = document(contract.client)
    operations = body_operations(doc)
    assert {name for _, _, name, _ in operations} >= {
        "NewUser",
        "NewGroup",
        "GroupChange",
        "RoleChange",
        "NewTrack",
        "NewInvite",
        "ServiceToken",
    }
    problems: list[str] = []
    for method, path, name, spec in operations:
        assert spec.get("additionalProperties") is False, f"{name} must be closed"
        responses = doc["paths"][path][method]["responses"]
        for label, body in (("minimal", minimal(name, spec)), ("maximal", maximal(name, spec))):
            answer = send(contract, method, path, body)
            if not 200 <= answer.status_code < 300:
                problems.append(f"{method} {path} {label} {name}: {answer.status_code} {answer.text[:300]}")
        base = minimal(name, spec)
        refusals: list[tuple[str, Any]] = [("unknown field", {**base, "zz_unknown": 1})]
        for prop, prop_spec in spec["properties"].items():
            refusals += [
                (f"{prop}={value!r:.40}", {**base, prop: value}) for value in invalid_values(name, prop, prop_spec)
            ]
        for prop in spec.get("required", []):
            refusals.append((f"without {prop}", {k: v for k, v in base.items() if k != prop}))
        for label, body in refusals:
            answer = send(contract, method, path, body)
            if answer.status_code != 422 or "422" not in responses:
                problems.append(f"{method} {path} {label}: {answer.status_code} (documented 422)")
        for label, raw, status in (("not JSON", b"{", 400), ("too large", b" " * (64 * 1024 + 1), 413)):
            answer = send(contract, method, path, None, raw=raw)
            if answer.status_code != status or str(status) not in responses:
                problems.append(f"{method} {path} {label}: {answer.status_code} (documented {status})")
    assert problems == []


def test_openapi_contract_every_operation_lists_the_answers_of_every_operation(contract: Target) -> None:
    doc = document(contract.client)
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            statuses = set(operation["responses"])
            assert "503" in statuses, (method, path)
            if "security" in operation:
                assert "401" in statuses, (method, path)
            if "requestBody" in operation:
                assert {"400", "413", "422"} <= statuses, (method, path)


def test_openapi_contract_every_error_code_the_server_raises_is_listed(contract: Target) -> None:
    """A scan of the endpoints' code for the codes they raise, plus the link/provider and room codes
    (an add can fail with any of them): all are in the document's ``Error.code`` enum."""
    listed = set(
        document(contract.client)["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"]
    )
    source = "\n".join(p.read_text() for p in (ROOT / "rooms_server").rglob("*.py"))
    raised = set(re.findall(r'(?:conflict|bad_request|ApiError\(\d+,)\s*\(?\s*"([a-z_]+)"', source))
    raised |= {f"{what}_not_found" for what in re.findall(r'not_found\("([a-z_]+)"\)', source)}
    raised |= set(re.findall(r'"code": "([a-z_]+)"', source))
    raised |= {"unauthorized", "forbidden", "validation_error", "rate_limited", "not_found", "method_not_allowed"}
    assert raised - listed == set()
    assert SOURCE_ERROR_CODES | rooms.ERROR_CODES | {"conflict"} <= listed


def test_openapi_contract_search_beyond_its_max_length_is_refused(contract: Target) -> None:
    spec = next(p for p in document(contract.client)["paths"]["/api/groups"]["get"]["parameters"] if p["name"] == "q")
    limit = spec["schema"]["maxLength"]
    assert contract.client.get("/api/groups", params={"q": "x" * limit}).status_code == 200
    too_long = contract.client.get("/api/groups", params={"q": "x" * (limit + 1)})
    assert too_long.status_code == 422 and too_long.json()["error"]["code"] == "validation_error"
