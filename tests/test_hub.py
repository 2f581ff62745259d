"""rooms_server.hub.Hub: fan-out, its own reactions and the reactors, in-process with fake clients."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import orjson
import pytest

from rooms_server import hub as hub_module
from rooms_server.client import Client, ClientState, text_frame
from rooms_server.hub import Hub, revoked_signal


class Wire:
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.sent: list[str] = []
        self.closes: list[int] = []
        self.writable = True

    async def send(self, text: str) -> None:
        self.sent.append(text)

    async def close(self, code: int, reason: str) -> None:
        self.closes.append(code)

    def write(self, frame: bytes) -> bool:
        if self.writable:
            self.written.append(frame)
        return self.writable


def joined(hub: Hub, user_id: str, *, group_id: str = "g", queue_size: int = 4) -> tuple[Client, Wire]:
    wire = Wire()
    c = Client(
        id=f"{user_id}-{len(hub.connections(group_id))}",
        group_id=group_id,
        user_id=user_id,
        name=user_id,
        role="member",
        send=wire.send,
        close=wire.close,
        queue_size=queue_size,
        token_hash=f"token-{user_id}",
        write=wire.write,
    )
    hub.add(c)
    c.start("e", 0)
    return c, wire


def event(seq: int, kind: str, **fields: Any) -> tuple[str, int, bytes]:
    return "e", seq, orjson.dumps({"type": kind, "epoch": "e", "seq": seq, **fields})


async def closed(*clients: Client) -> None:
    for c in clients:
        await c.wait_closed()


def test_hub_registry_first_and_last() -> None:
    hub = Hub()
    a, _ = joined(hub, "a")
    assert hub.groups["g"] == {a}
    b, _ = joined(hub, "b")
    assert hub.user_connections("a") == 1 and hub.socket_count() == 2 and hub.fast_path_count() == 2
    assert not hub.remove(a) and hub.remove(b) and "g" not in hub.groups


def test_hub_counts_a_users_sockets_across_groups_as_they_come_and_go() -> None:
    hub = Hub()
    first, _ = joined(hub, "a")
    second, _ = joined(hub, "a", group_id="h")
    joined(hub, "b")
    hub.add(first)  # registering a socket twice counts it once
    assert hub.user_connections("a") == 2 and hub.user_connections("b") == 1
    assert not hub.remove(first) and not hub.remove(first)  # nor does forgetting it twice
    assert hub.user_connections("a") == 1
    assert hub.remove(second) and hub.user_connections("a") == 0 and hub.user_connections("nobody") == 0


def test_hub_fans_out_the_same_frame_bytes_to_every_socket() -> None:
    hub = Hub()
    (_, wa), (_, wb) = joined(hub, "a"), joined(hub, "b")
    epoch, seq, data = event(1, "chat", text="hi")
    hub.on_event("g", epoch, seq, data)
    assert wa.written == wb.written == [text_frame(data)]
    assert hub.metrics.frames_delivered.labels("event")._value.get() == 2


def test_hub_ignores_groups_it_does_not_hold() -> None:
    hub = Hub()
    seen: list[str] = []
    hub.react(lambda group_id, ev: seen.append(group_id))
    hub.on_event("other", *event(1, "chat"))
    assert seen == []


def test_hub_decodes_each_event_once_and_calls_every_reactor(monkeypatch: pytest.MonkeyPatch) -> None:
    hub = Hub()
    for name in "abc":
        joined(hub, name)
    seen: list[tuple[str, Mapping[str, Any]]] = []
    hub.react(lambda group_id, ev: seen.append((group_id, ev)))
    hub.react(lambda group_id, ev: seen.append((group_id, ev)))
    decodes: list[bytes] = []
    real = orjson.loads

    def counting(data: bytes) -> Any:
        decodes.append(data)
        return real(data)

    monkeypatch.setattr(hub_module.orjson, "loads", counting)
    hub.on_event("g", *event(1, "index_changed", index=2))
    assert len(decodes) == 1
    assert [(g, ev["type"]) for g, ev in seen] == [("g", "index_changed")] * 2
    assert seen[0][1] is seen[1][1]


def test_hub_a_failing_reactor_does_not_stop_the_others() -> None:
    hub = Hub()
    joined(hub, "a")
    seen: list[str] = []

    def broken(group_id: str, ev: Mapping[str, Any]) -> None:
        raise RuntimeError("boom")

    hub.react(broken)
    hub.react(lambda group_id, ev: seen.append(str(ev["type"])))
    hub.on_event("g", *event(1, "chat"))
    assert seen == ["chat"]


def test_hub_role_changed_updates_the_users_sockets() -> None:
    hub = Hub()
    (a, _), (b, _) = joined(hub, "a"), joined(hub, "b")
    hub.on_event("g", *event(1, "role_changed", user_id="a", role="host"))
    assert (a.role, b.role) == ("host", "member")


async def test_hub_member_removed_closes_after_the_event_is_written() -> None:
    hub = Hub()
    (a, wa), (b, wb) = joined(hub, "a"), joined(hub, "b")
    epoch, seq, data = event(1, "member_removed", user_id="a")
    hub.on_event("g", epoch, seq, data)
    await closed(a)
    assert wa.written == [text_frame(data)] and wa.closes == [4503]
    assert not b.closed and wb.written == [text_frame(data)]


async def test_hub_group_deleted_closes_every_socket_after_its_queue() -> None:
    hub = Hub()
    (a, wa), (b, wb) = joined(hub, "a"), joined(hub, "b")
    wb.writable = False  # b's event waits in its queue: the close follows it
    epoch, seq, data = event(1, "group_deleted")
    hub.on_event("g", epoch, seq, data)
    await closed(a, b)
    assert wa.closes == wb.closes == [4505]
    assert wb.sent == [data.decode()]


async def test_hub_slow_consumer_is_closed_with_4008() -> None:
    hub = Hub()
    (a, wa), (b, _) = joined(hub, "a", queue_size=1), joined(hub, "b")
    wa.writable = False
    wa_send = asyncio.Event()

    async def stuck(text: str) -> None:
        await wa_send.wait()

    a.send = stuck
    hub.on_event("g", *event(1, "chat"))
    hub.on_event("g", *event(2, "chat"))  # a's queue of 1 is full
    assert a.closed and not b.closed
    await closed(a)
    assert wa.closes == [4008] and a.close_code == 4008
    hub.on_event("g", *event(3, "chat"))  # a closed socket is skipped
    await a.aclose()


async def test_hub_reset_closes_the_groups_sockets_with_4010() -> None:
    hub = Hub()
    (a, wa), (b, _) = joined(hub, "a"), joined(hub, "b", group_id="h")
    hub.on_reset("g")
    await closed(a)
    assert wa.closes == [4010] and not b.closed and a.state is ClientState.CLOSED


async def test_hub_revoked_signal_closes_that_tokens_sockets() -> None:
    hub = Hub()
    (a, wa), (b, _) = joined(hub, "a"), joined(hub, "b", group_id="h")
    hub.on_signal(revoked_signal("token-a"))
    hub.on_signal(b"not json")
    await closed(a)
    assert wa.closes == [4501] and not b.closed


async def test_hub_close_all_shuts_every_socket() -> None:
    hub = Hub()
    (_, wa), (_, wb) = joined(hub, "a"), joined(hub, "b", group_id="h")
    await hub.close_all(1001, "server shutting down")
    assert wa.closes == wb.closes == [1001]
