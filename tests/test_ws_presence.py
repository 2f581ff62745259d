"""Presence in windows (presence.py) and the bounded snapshot list, through the room socket.

The window's timer is replaced by one the test opens and closes (``HeldWindows``), so what a
window gathers never depends on how fast the machine joins phones.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.testclient import TestClient

from rooms_server.presence import Presence
from tests.helpers import Guest
from tests.ws_client import Phone

Room = tuple[TestClient, Guest, Guest, str]


class HeldWindows:
    """Presence's sleep: each window stays open until the test ends it with ``end_window``."""

    def __init__(self) -> None:
        self.open: list[asyncio.Event] = []

    async def sleep(self, _seconds: float) -> None:
        ended = asyncio.Event()
        self.open.append(ended)
        await ended.wait()

    def end_window(self) -> None:
        self.open.pop(0).set()


def hold_windows(client: TestClient) -> HeldWindows:
    held = HeldWindows()
    presence: Presence = client.app_state["presence"]
    presence._sleep = held.sleep
    return held


def call(client: TestClient, function: Any) -> None:
    assert client.portal is not None
    client.portal.call(function)


def wait_until_absent(client: TestClient, gid: str, user_id: str) -> None:
    """Until the engine no longer counts the user present (their socket's departure runs in a task)."""
    presence: Presence = client.app_state["presence"]

    async def gone() -> None:
        for _ in range(1000):  # at most 10 s
            if user_id not in await presence.engine.presence.users(gid):
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"{user_id} still present")

    call(client, gone)


def joined_ids(frame: dict[str, Any]) -> set[str]:
    return {member["user_id"] for member in frame["joined"]}


def guests_in(client: TestClient, gid: str, *names: str) -> list[Guest]:
    guests = [Guest(client, name) for name in names]
    for guest in guests:
        assert client.post(f"/api/groups/{gid}/join", headers=guest.headers).status_code == 200
    return guests


def test_ws_presence_joins_in_one_window_arrive_as_one_event(room: Room) -> None:
    client, ann, bob, gid = room
    held = hold_windows(client)
    a = Phone(client, ann, gid)  # a quiet room: Ann's own arrival went out at once, and opened a window
    carol, dan = guests_in(client, gid, "Carol", "Dan")
    others = [Phone(client, guest, gid) for guest in (bob, carol, dan)]
    a.command({"type": "chat", "text": "marker"})
    a.until("chat", text="marker")
    assert not [e for e in a.events if e["type"] == "members_changed"], "the window is still open"

    call(client, held.end_window)
    change = a.until("members_changed")
    assert joined_ids(change) == {bob.id, carol.id, dan.id} and change["left"] == []
    assert change["count"] == 4
    assert {m["user_id"] for m in others[2].first["members"]} == {ann.id, bob.id, carol.id, dan.id}
    for phone in [a, *others]:
        phone.close()


def test_ws_presence_a_reload_in_a_window_stays_present(room: Room) -> None:
    """Bob's socket closes and another opens within one window: he is announced present, not
    gone, so nobody sees him leave and come back."""
    client, ann, bob, gid = room
    held = hold_windows(client)
    a = Phone(client, ann, gid)
    Phone(client, bob, gid).close()  # inside Ann's window: Bob's arrival and departure both wait
    b = Phone(client, bob, gid)
    call(client, held.end_window)
    change = a.until("members_changed")
    assert joined_ids(change) == {bob.id} and change["left"] == [] and change["count"] == 2
    b.close()


def test_ws_presence_someone_who_came_and_went_in_a_window_is_announced_gone(room: Room) -> None:
    """Carol's snapshot listed Bob; Bob leaves inside the window, so the window must say he has
    gone (not nothing), or Carol would show him forever."""
    client, ann, bob, gid = room
    held = hold_windows(client)
    a = Phone(client, ann, gid)
    b = Phone(client, bob, gid)
    (carol,) = guests_in(client, gid, "Carol")
    c = Phone(client, carol, gid)
    assert bob.id in {m["user_id"] for m in c.first["members"]}
    b.close()
    wait_until_absent(client, gid, bob.id)
    call(client, held.end_window)
    change = c.until("members_changed")
    assert change["left"] == [bob.id] and joined_ids(change) == {carol.id} and change["count"] == 2
    a.close()
    c.close()


def listed(phone: Phone) -> list[tuple[str, str]]:
    return [(m["user_id"], m["role"]) for m in phone.first["members"]]


def test_ws_presence_kept_roster_follows_role_changes_and_removals(room: Room) -> None:
    """Snapshots pick from the roster this process keeps (roster.py) until the database moves its
    version: each change below shows in the next snapshot, hosts first."""
    client, ann, bob, gid = room
    presence: Presence = client.app_state["presence"]
    presence.list_max = 3
    carol, dan = guests_in(client, gid, "Carol", "Dan")
    phones = [Phone(client, guest, gid) for guest in (ann, bob, carol, dan)]
    assert gid in presence._rosters  # kept: the snapshots after the first picked from it

    def snapshot() -> list[tuple[str, str]]:
        phone = Phone(client, dan, gid)
        phone.close()
        return listed(phone)

    assert snapshot() == [(ann.id, "admin"), (bob.id, "member"), (carol.id, "member")]
    member = f"/api/groups/{gid}/members"
    assert client.patch(f"{member}/{bob.id}", json={"role": "listener"}, headers=ann.headers).status_code == 200
    assert snapshot() == [(ann.id, "admin"), (bob.id, "listener"), (carol.id, "member")]
    assert client.patch(f"{member}/{carol.id}", json={"role": "admin"}, headers=ann.headers).status_code == 200
    assert snapshot() == [(ann.id, "admin"), (carol.id, "admin"), (bob.id, "listener")]
    assert client.delete(f"{member}/{bob.id}", headers=ann.headers).status_code == 204
    assert snapshot() == [(ann.id, "admin"), (carol.id, "admin"), (dan.id, "member")]
    for phone in phones:
        phone.close()


def test_ws_presence_kept_roster_lists_a_member_who_joined_after_it(room: Room) -> None:
    client, ann, bob, gid = room
    presence: Presence = client.app_state["presence"]
    a, b = Phone(client, ann, gid), Phone(client, bob, gid)
    assert presence._rosters[gid].known == {ann.id, bob.id}
    (carol,) = guests_in(client, gid, "Carol")
    c = Phone(client, carol, gid)
    assert listed(c) == [(ann.id, "admin"), (bob.id, "member"), (carol.id, "member")]
    for phone in (a, b, c):
        phone.close()


def test_ws_presence_snapshot_lists_a_bounded_page_hosts_first(room: Room) -> None:
    """SNAPSHOT_MEMBERS=2 with four present: the snapshot lists the host and the first to join,
    counts all four, and the members API pages the rest (``present=true``)."""
    client, ann, bob, gid = room
    presence: Presence = client.app_state["presence"]
    presence.list_max = 2
    carol, dan = guests_in(client, gid, "Carol", "Dan")
    phones = [Phone(client, guest, gid) for guest in (bob, carol, dan)]
    late = Phone(client, ann, gid)
    assert [m["user_id"] for m in late.first["members"]] == [ann.id, bob.id]
    assert late.first["member_count"] == 4
    assert late.first["votes"]["needed"] == 2  # three present voters (the host skips directly)
    page = client.get(f"/api/groups/{gid}/members?present=true&limit=3", headers=ann.headers).json()
    assert [m["user_id"] for m in page["items"]] == [ann.id, bob.id, carol.id]
    assert page["total"] == 4 and page["next_offset"] == 3
    rest = client.get(f"/api/groups/{gid}/members?present=true&offset=3", headers=ann.headers).json()
    assert [m["user_id"] for m in rest["items"]] == [dan.id] and rest["next_offset"] is None
    phones[2].close()
    wait_until_absent(client, gid, dan.id)
    everyone = client.get(f"/api/groups/{gid}/members", headers=ann.headers).json()["items"]
    assert {m["user_id"]: m["present"] for m in everyone} == {ann.id: True, bob.id: True, carol.id: True, dan.id: False}
    bad = client.get(f"/api/groups/{gid}/members?present=yes", headers=ann.headers)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "validation_error"
    for phone in [*phones[:2], late]:
        phone.close()
