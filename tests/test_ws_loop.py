"""The command worker of a room socket never dies silently (issue 15, the deaf host).

Under a 2000-listener flood a host's socket stopped answering its commands while it stayed open:
a worker that ends without closing leaves every later command unanswered. Whatever ends the worker
from inside (a bug's exception, a CancelledError nobody asked for) closes the socket with 4000
("reconnect and resume"), and the phone that reconnects finds the room working.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

import rooms_server.web.ws_loop
from rooms_server.client import Client
from rooms_server.protocol import CloseCode
from rooms_server.web.ws import _receive_unless_shut
from tests.helpers import Guest
from tests.ws_client import Phone, close_all

Room = tuple[TestClient, Guest, Guest, str]


@pytest.fixture(autouse=True)
def _close_phones() -> Any:
    yield
    close_all()


def _fail_next_command(monkeypatch: pytest.MonkeyPatch, error: BaseException) -> None:
    """The next command raises ``error`` from inside its execution; the ones after it run normally."""
    execute = rooms_server.web.ws_loop.Commands.execute
    failed = False

    async def failing_once(self: Any, frame: Any) -> int:
        nonlocal failed
        if not failed:
            failed = True
            raise error
        return await execute(self, frame)

    monkeypatch.setattr(rooms_server.web.ws_loop.Commands, "execute", failing_once)


def _close_code_after(phone: Phone, frame: dict[str, Any]) -> int:
    phone.send({**frame, "id": "doomed"})
    with pytest.raises(WebSocketDisconnect) as closed:
        for _ in range(50):
            reply = phone.receive()
            assert reply.get("id") != "doomed", f"the failed command was answered: {reply}"
    return closed.value.code


@pytest.mark.parametrize(
    "error",
    [asyncio.CancelledError(), RuntimeError("a bug")],
    ids=["stray-cancellation", "exception"],
)
def test_ws_loop_worker_failure_closes_with_server_error(
    room: Room, monkeypatch: pytest.MonkeyPatch, error: BaseException
) -> None:
    client, ann, _bob, gid = room
    host = Phone(client, ann, gid)
    _fail_next_command(monkeypatch, error)

    code = _close_code_after(host, {"type": "chat", "text": "lost"})

    assert code == CloseCode.SERVER_ERROR == 4000
    again = Phone(client, ann, gid, resume={"epoch": host.epoch, "seq": host.seq})
    assert again.first["type"] in ("resumed", "snapshot")
    assert again.command({"type": "chat", "text": "back"})["type"] == "ack"


def test_ws_loop_stray_cancellation_is_logged(
    room: Room, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    client, ann, _bob, gid = room
    host = Phone(client, ann, gid)
    _fail_next_command(monkeypatch, asyncio.CancelledError())

    _close_code_after(host, {"type": "chat", "text": "hello"})

    assert any("cancelled from inside" in record.getMessage() for record in caplog.records)


def _coroutines(client: TestClient) -> list[str]:
    """What every task of the server's loop is running (its coroutine's qualified name)."""

    async def names() -> list[str]:
        return sorted(task.get_coro().__qualname__ for task in asyncio.all_tasks())  # type: ignore[union-attr]

    assert client.portal is not None
    return client.portal.call(names)


def test_ws_loop_an_idle_socket_holds_no_task_of_its_own(room: Room) -> None:
    """An idle socket waits on its one receive: no command worker parked on a queue, no helper tasks
    racing the receive against the shut (each cost ~1-3 KB per socket, docs/BENCHMARKS.md)."""
    client, ann, bob, gid = room
    before = _coroutines(client)
    host, listener = Phone(client, ann, gid), Phone(client, bob, gid)
    assert host.command({"type": "chat", "text": "hi"})["type"] == "ack"  # a worker ran, and ended
    listener.until("chat", text="hi")
    host.send({"type": "ping", "client_time": 1})
    host.until("pong")

    # The room's presence window (presence.py) is the room's, not a socket's, and ends after 200 ms.
    added = [name for name in _coroutines(client) if name != "Presence._hold_window"]
    for name in before:
        added.remove(name)
    assert added == ["TaskHandle._run_coro"] * 2  # each socket's handler (the test client's task), nothing else


class _SilentSocket:
    """A socket whose client never sends: its receive waits forever."""

    async def receive(self) -> dict[str, Any]:
        await asyncio.get_running_loop().create_future()
        raise AssertionError("unreachable")


async def _never_sends(text: str) -> None:
    return None


async def _closes(code: int, reason: str) -> None:
    return None


def _conn() -> Client:
    return Client(
        id="c", group_id="g", user_id="u", name="U", role="member", send=_never_sends, close=_closes, queue_size=4
    )


async def test_ws_loop_a_shut_ends_the_pending_receive() -> None:
    conn = _conn()
    receiving = asyncio.create_task(_receive_unless_shut(_SilentSocket(), conn))  # type: ignore[arg-type]
    await asyncio.sleep(0)
    assert conn.on_shut is not None  # the one wait, and nothing else
    conn.shut_nowait(CloseCode.SLOW_CONSUMER, "send queue full")
    assert await asyncio.wait_for(receiving, 5) is None
    assert conn.on_shut is None and receiving.cancelling() == 0
    await conn.aclose()


async def test_ws_loop_another_cancellation_of_the_receive_goes_on() -> None:
    conn = _conn()
    receiving = asyncio.create_task(_receive_unless_shut(_SilentSocket(), conn))  # type: ignore[arg-type]
    await asyncio.sleep(0)
    receiving.cancel()  # the server stopping, say
    conn.shut_nowait(CloseCode.SLOW_CONSUMER, "send queue full")  # even with a shut at the same moment
    with pytest.raises(asyncio.CancelledError):
        await receiving
    await conn.aclose()
