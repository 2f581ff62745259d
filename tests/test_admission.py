"""Admission (web/admission.py): a few requests at a time, the rest in order, none while its
client is still sending; and the room socket's turn from its hello to its first frame."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from starlette.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocketDisconnect

from rooms_server.web.admission import Admission, AdmissionMiddleware, Overloaded
from tests.helpers import Guest
from tests.ws_client import Phone

Room = tuple[TestClient, Guest, Guest, str]


class Held:
    """An ASGI app whose requests stay in it until the test lets each one go, in order."""

    def __init__(self) -> None:
        self.inside: list[str] = []
        self.bodies: list[bytes] = []
        self.gates: list[asyncio.Event] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        gate = asyncio.Event()
        self.gates.append(gate)
        self.inside.append(scope["path"])
        self.bodies.append(body)
        await gate.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def http_scope(path: str, admission: Admission) -> Scope:
    return {"type": "http", "path": path, "method": "POST", "headers": [], "state": {"admission": admission}}


async def call(app: AdmissionMiddleware, path: str, admission: Admission, chunks: list[bytes]) -> list[Message]:
    sent: list[Message] = []
    pending = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]

    async def receive() -> Message:
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(http_scope(path, admission), receive, send)
    return sent


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_admission_works_on_the_limit_at_once_and_lets_the_rest_in_in_order() -> None:
    held = Held()
    admission = Admission(limit=2, wait_s=60)
    app = AdmissionMiddleware(held, max_body_bytes=1024)
    calls = [asyncio.ensure_future(call(app, f"/api/{n}", admission, [b"a", b"b"])) for n in range(5)]
    await settle()
    assert held.inside == ["/api/0", "/api/1"] and held.bodies == [b"ab", b"ab"]  # the body is replayed whole
    held.gates[0].set()
    await settle()
    assert held.inside == ["/api/0", "/api/1", "/api/2"]
    for gate in held.gates[1:]:
        gate.set()
    await settle()
    for gate in held.gates:
        gate.set()
    results = await asyncio.gather(*calls)
    assert held.inside == [f"/api/{n}" for n in range(5)]
    assert all(sent[0]["status"] == 200 for sent in results)


async def test_admission_health_and_static_are_never_queued() -> None:
    held = Held()
    admission = Admission(limit=1, wait_s=60)
    app = AdmissionMiddleware(held, max_body_bytes=1024)
    first = asyncio.ensure_future(call(app, "/api/busy", admission, [b""]))
    others = [asyncio.ensure_future(call(app, path, admission, [b""])) for path in ("/healthz", "/static/app.css")]
    await settle()
    assert held.inside == ["/api/busy", "/healthz", "/static/app.css"]
    for gate in held.gates:
        gate.set()
    await asyncio.gather(first, *others)


async def test_admission_no_turn_in_time_is_503_unavailable_with_retry_after() -> None:
    held = Held()
    admission = Admission(limit=1, wait_s=0.05)
    app = AdmissionMiddleware(held, max_body_bytes=1024)
    first = asyncio.ensure_future(call(app, "/api/busy", admission, [b""]))
    await settle()
    sent = await call(app, "/api/late", admission, [b""])
    assert sent[0]["status"] == 503 and (b"retry-after", b"2") in sent[0]["headers"]
    assert orjson.loads(sent[1]["body"])["error"]["code"] == "unavailable"
    assert held.inside == ["/api/busy"]
    held.gates[0].set()
    await first
    later = asyncio.ensure_future(call(app, "/api/next", admission, [b""]))  # the turn is free again
    await settle()
    held.gates[1].set()
    assert (await later)[0]["status"] == 200


async def test_admission_release_is_idempotent_and_overloaded_when_none_is_free() -> None:
    admission = Admission(limit=1, wait_s=0.01)
    release = await admission.enter()
    with pytest.raises(Overloaded):
        await admission.enter()
    release()
    release()  # a second release gives nothing back twice
    again = await admission.enter()
    with pytest.raises(Overloaded):
        await admission.enter()
    again()


def test_admission_a_socket_waits_for_its_turn_after_its_hello_and_gives_it_back_at_its_first_frame(room: Room) -> None:
    client, ann, bob, gid = room
    admission: Admission = client.app_state["admission"]
    assert client.portal is not None
    held_turns = [client.portal.call(admission.enter) for _ in range(admission.limit)]
    admission.wait_s = 0.2
    with client.websocket_connect(f"/ws/groups/{gid}", headers={"origin": "http://testserver"}) as ws:
        ws.send_text(orjson.dumps({"type": "hello", "token": ann.token}).decode())
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
    assert closed.value.code == 4013  # no turn: reconnect with backoff
    client.portal.call(held_turns.pop())  # one turn free again
    phones = [Phone(client, ann, gid), Phone(client, bob, gid)]  # each gave its turn back at its first frame
    assert all(p.first["type"] == "snapshot" for p in phones)
    for release in held_turns:
        client.portal.call(release)
    for phone in phones:
        phone.close()


async def test_admission_a_request_still_sending_its_body_holds_no_turn() -> None:
    held = Held()
    admission = Admission(limit=1, wait_s=60)
    app = AdmissionMiddleware(held, max_body_bytes=1024)
    rest_of_body: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
    chunks = [{"type": "http.request", "body": b"slow", "more_body": True}]

    async def receive() -> Message:
        return chunks.pop(0) if chunks else await rest_of_body

    async def send(_message: Message) -> None:
        pass

    slow = asyncio.ensure_future(app(http_scope("/api/slow", admission), receive, send))
    fast = asyncio.ensure_future(call(app, "/api/fast", admission, [b"x"]))
    await settle()
    assert held.inside == ["/api/fast"]
    held.gates[0].set()
    await fast
    rest_of_body.set_result({"type": "http.request", "body": b"ly", "more_body": False})
    await settle()
    assert held.inside == ["/api/fast", "/api/slow"] and held.bodies[1] == b"slowly"
    held.gates[1].set()
    await slow
