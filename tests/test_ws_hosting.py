"""Who hosts a room, end to end in one process (both engines): invite links with roles and limits,
handing over, leaving as host, the failover settings, and failover itself on an injected clock.

The host watch's own loop is stopped; each test calls ``tick`` with the time it chose, so nothing
here waits on the machine's speed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from rooms_server.host_watch import HostWatch
from tests.helpers import Guest, error_code, make_group
from tests.ws_client import Phone

Room = tuple[TestClient, Guest, Guest, str]
T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


class WatchClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def manual_watch(client: TestClient) -> tuple[HostWatch, WatchClock]:
    watch: HostWatch = client.app_state["host_watch"]
    assert client.portal is not None
    client.portal.call(watch.stop)
    fake = WatchClock()
    watch.now = fake
    return watch, fake


def tick(client: TestClient, watch: HostWatch) -> None:
    assert client.portal is not None
    client.portal.call(watch.tick)


def hosting_of(client: TestClient, guest: Guest, gid: str) -> dict[str, Any]:
    phone = Phone(client, guest, gid)
    try:
        return dict(phone.first["hosting"])
    finally:
        phone.close()


def link(client: TestClient, host: Guest, gid: str, **body: Any) -> dict[str, Any]:
    response = client.post(f"/api/groups/{gid}/invites", json=body, headers=host.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def join(client: TestClient, guest: Guest, token: str) -> Any:
    return client.post(f"/api/invites/{token}/join", headers=guest.headers)


# -- invite links ---------------------------------------------------------------------------------


def test_ws_hosting_invite_link_role_limit_list_and_revoke(room: Room) -> None:
    client, ann, _, gid = room
    host_phone = Phone(client, ann, gid)
    made = link(client, ann, gid, role="listener", max_uses=2, label="Back row", lifetime_s=3600)
    assert (made["role"], made["max_uses"], made["uses"], made["label"]) == ("listener", 2, 0, "Back row")
    assert made["url"] == f"http://testserver/join/{made['token']}"
    host_phone.until("invite_links_changed")
    preview = client.get(f"/api/invites/{made['token']}").json()
    assert (preview["role"], preview["uses_left"], preview["code"]) == ("listener", 2, None)
    cy, dee, eve = Guest(client, "Cy"), Guest(client, "Dee"), Guest(client, "Eve")
    assert join(client, cy, made["token"]).json()["your_role"] == "listener"
    assert join(client, cy, made["token"]).status_code == 200  # again: harmless, counts no use
    assert join(client, dee, made["token"]).json()["your_role"] == "listener"
    used_up = join(client, eve, made["token"])
    assert used_up.status_code == 410 and error_code(used_up) == "invite_used_up"
    assert error_code(client.get(f"/api/invites/{made['token']}")) == "invite_used_up"
    listed = client.get(f"/api/groups/{gid}/invites", headers=ann.headers).json()["items"]
    assert [(item["id"], item["uses"]) for item in listed] == [(made["id"], 2)]
    assert client.delete(f"/api/groups/{gid}/invites/{made['id']}", headers=ann.headers).status_code == 204
    host_phone.until("invite_links_changed")
    assert error_code(join(client, eve, made["token"])) == "invite_not_found"
    again = client.delete(f"/api/groups/{gid}/invites/{made['id']}", headers=ann.headers)
    assert again.status_code == 404 and error_code(again) == "invite_link_not_found"
    assert client.get(f"/api/groups/{gid}/invites", headers=ann.headers).json()["items"] == []


def test_ws_hosting_a_co_host_link_raises_a_members_role_live(room: Room) -> None:
    client, ann, bob, gid = room  # Bob joined as a member
    bob_phone = Phone(client, bob, gid)
    made = link(client, ann, gid, role="admin", max_uses=1)
    assert join(client, bob, made["token"]).json()["your_role"] == "admin"
    assert bob_phone.until("role_changed", user_id=bob.id)["role"] == "admin"
    assert bob_phone.command({"type": "pause"})["type"] == "ack"  # a host's command, on the same socket
    members = client.get(f"/api/groups/{gid}/members", headers=ann.headers).json()["items"]
    assert {m["user_id"]: m["role"] for m in members} == {ann.id: "admin", bob.id: "admin"}
    lower = link(client, ann, gid, role="listener")
    assert join(client, bob, lower["token"]).json()["your_role"] == "admin"  # a link never lowers a role
    assert client.get(f"/api/groups/{gid}/invites", headers=ann.headers).json()["items"][0]["uses"] == 0


def test_ws_hosting_the_qr_invite_carries_a_role_and_a_limit(room: Room) -> None:
    client, ann, _, gid = room
    created = client.post(f"/api/groups/{gid}/invite", json={"role": "listener", "max_uses": 1}, headers=ann.headers)
    assert created.status_code == 201 and (created.json()["role"], created.json()["max_uses"]) == ("listener", 1)
    co_host_qr = client.post(f"/api/groups/{gid}/invite", json={"role": "admin"}, headers=ann.headers)
    assert co_host_qr.status_code == 422  # the QR is shown to everyone: listener or member only
    cy, dee = Guest(client, "Cy"), Guest(client, "Dee")
    token = created.json()["token"]
    assert join(client, cy, token).json()["your_role"] == "listener"
    assert error_code(join(client, dee, token)) == "invite_used_up"
    assert client.get(f"/api/codes/{created.json()['code']}").status_code == 404  # a used-up code leads nowhere
    cy_phone = Phone(client, cy, gid)
    assert cy_phone.first["invite"]["uses"] == 1 and cy_phone.first["you"]["role"] == "listener"


# -- handing over, leaving --------------------------------------------------------------------------


def test_ws_hosting_hand_over_promotes_and_announces(room: Room) -> None:
    client, ann, bob, gid = room
    bob_phone = Phone(client, bob, gid)
    assert bob_phone.first["hosting"]["host_user_id"] == ann.id
    refused = client.post(f"/api/groups/{gid}/host", json={"user_id": bob.id}, headers=bob.headers)
    assert refused.status_code == 403
    answer = client.post(f"/api/groups/{gid}/host", json={"user_id": bob.id}, headers=ann.headers)
    assert answer.status_code == 200 and answer.json()["host_user_id"] == bob.id
    assert bob_phone.until("role_changed", user_id=bob.id)["role"] == "admin"
    changed = bob_phone.until("hosting_changed")
    assert (changed["cause"], changed["previous_host_user_id"]) == ("handover", ann.id)
    assert changed["hosting"]["host_user_id"] == bob.id
    # Ann is a co-host now: host rights, but the room is Bob's to hand over.
    again = client.post(f"/api/groups/{gid}/host", json={"user_id": ann.id}, headers=ann.headers)
    assert again.status_code == 403
    nobody = client.post(f"/api/groups/{gid}/host", json={"user_id": "f" * 32}, headers=bob.headers)
    assert nobody.status_code == 404 and error_code(nobody) == "member_not_found"


def test_ws_hosting_leaving_host_hands_over_to_whom_they_name(room: Room) -> None:
    client, ann, bob, gid = room
    cy = Guest(client, "Cy")
    client.post(f"/api/groups/{gid}/join", headers=cy.headers)
    cy_phone = Phone(client, cy, gid)
    ann_phone = Phone(client, ann, gid)
    assert client.post(f"/api/groups/{gid}/leave", json={"handover_to": cy.id}, headers=ann.headers).status_code == 204
    assert cy_phone.until("role_changed", user_id=cy.id)["role"] == "admin"
    changed = cy_phone.until("hosting_changed")
    assert (changed["cause"], changed["hosting"]["host_user_id"], changed["previous_host_user_id"]) == (
        "left",
        cy.id,
        ann.id,
    )
    cy_phone.until("member_removed", user_id=ann.id)
    ann_phone.until("member_removed", user_id=ann.id)
    members = client.get(f"/api/groups/{gid}/members", headers=cy.headers).json()["items"]
    assert {m["user_id"]: m["role"] for m in members} == {bob.id: "member", cy.id: "admin"}


def test_ws_hosting_leaving_host_without_a_name_goes_to_the_first_co_host(room: Room) -> None:
    client, ann, bob, gid = room
    cy = Guest(client, "Cy")
    client.post(f"/api/groups/{gid}/join", headers=cy.headers)
    client.patch(f"/api/groups/{gid}/members/{cy.id}", json={"role": "admin"}, headers=ann.headers)
    assert client.post(f"/api/groups/{gid}/leave", headers=ann.headers).status_code == 204
    assert hosting_of(client, bob, gid)["host_user_id"] == cy.id  # the co-host, though Bob joined first
    stranger = client.post(f"/api/groups/{gid}/leave", json={"handover_to": "e" * 32}, headers=cy.headers)
    assert stranger.status_code == 404 and error_code(stranger) == "member_not_found"


def test_ws_hosting_settings_are_validated_stored_and_announced(room: Room) -> None:
    client, ann, bob, gid = room
    bob_phone = Phone(client, bob, gid)
    body = {"grace_s": 30, "failover_to_members": False, "on_return": "keep"}
    answer = client.patch(f"/api/groups/{gid}/hosting", json=body, headers=ann.headers)
    assert answer.status_code == 200 and answer.json() == {**body, "host_user_id": ann.id, "away_host_user_id": None}
    changed = bob_phone.until("hosting_changed")
    assert changed["cause"] == "settings" and changed["hosting"] == answer.json()
    assert client.patch(f"/api/groups/{gid}/hosting", json=body, headers=bob.headers).status_code == 403
    for bad in ({"grace_s": -1}, {"grace_s": 3601}, {"on_return": "maybe"}, {"failover_to_members": "yes"}):
        assert client.patch(f"/api/groups/{gid}/hosting", json=bad, headers=ann.headers).status_code == 422
    assert hosting_of(client, bob, gid) == answer.json()


# -- failover ----------------------------------------------------------------------------------------


def test_ws_hosting_no_failover_when_the_host_only_reconnects(room: Room) -> None:
    client, ann, bob, gid = room
    watch, now = manual_watch(client)
    bob_phone = Phone(client, bob, gid)
    ann_phone = Phone(client, ann, gid)
    ann_phone.close()
    bob_phone.until("members_changed", left=ann.id)
    tick(client, watch)  # the grace period starts
    now.advance(119)
    ann_phone = Phone(client, ann, gid)  # back within it
    bob_phone.until("members_changed", joined=ann.id)
    tick(client, watch)  # ends it
    now.advance(1000)
    tick(client, watch)
    assert hosting_of(client, bob, gid)["host_user_id"] == ann.id
    assert [e["type"] for e in bob_phone.events if e["type"] in ("hosting_changed", "role_changed")] == []


def test_ws_hosting_failover_to_the_first_member_then_hand_back(room: Room) -> None:
    client, ann, bob, gid = room
    watch, now = manual_watch(client)
    cy = Guest(client, "Cy")  # joined after Bob: Bob is the senior member
    client.post(f"/api/groups/{gid}/join", headers=cy.headers)
    cy_phone, bob_phone = Phone(client, cy, gid), Phone(client, bob, gid)
    Phone(client, ann, gid).close()
    bob_phone.until("members_changed", left=ann.id)
    tick(client, watch)
    now.advance(119.9)
    tick(client, watch)
    assert hosting_of(client, bob, gid)["host_user_id"] == ann.id  # not yet
    now.advance(0.1)
    tick(client, watch)
    tick(client, watch)  # a second decision finds nothing to do
    assert bob_phone.until("role_changed", user_id=bob.id)["role"] == "admin"
    failover = bob_phone.until("hosting_changed")
    assert (failover["cause"], failover["previous_host_user_id"]) == ("failover", ann.id)
    assert failover["hosting"]["host_user_id"] == bob.id and failover["hosting"]["away_host_user_id"] == ann.id
    assert bob_phone.command({"type": "pause"})["type"] == "ack"  # Bob has host rights at once
    cy_phone.until("hosting_changed", cause="failover")
    # Ann comes back: the room is handed back (the default), Bob is a member again.
    ann_phone = Phone(client, ann, gid)
    assert ann_phone.first["hosting"]["away_host_user_id"] == ann.id
    tick(client, watch)
    assert bob_phone.until("role_changed", user_id=bob.id)["role"] == "member"
    back = bob_phone.until("hosting_changed")
    assert back["cause"] == "handback" and back["hosting"]["host_user_id"] == ann.id
    assert back["hosting"]["away_host_user_id"] is None
    cy_phone.until("hosting_changed", cause="handback")
    assert [e["cause"] for e in cy_phone.events if e["type"] == "hosting_changed"] == ["failover", "handback"]
    reply = bob_phone.command({"type": "pause"})
    assert (reply["type"], reply.get("code")) == ("error", "forbidden")


def test_ws_hosting_failover_prefers_a_co_host_and_keep_keeps_it(room: Room) -> None:
    client, ann, bob, gid = room
    watch, now = manual_watch(client)
    cy = Guest(client, "Cy")
    client.post(f"/api/groups/{gid}/join", headers=cy.headers)
    client.patch(f"/api/groups/{gid}/members/{cy.id}", json={"role": "admin"}, headers=ann.headers)
    client.patch(f"/api/groups/{gid}/hosting", json={"grace_s": 10, "on_return": "keep"}, headers=ann.headers)
    bob_phone, _ = Phone(client, bob, gid), Phone(client, cy, gid)
    tick(client, watch)  # Ann has no socket open: the grace period starts now
    now.advance(10)
    tick(client, watch)
    failover = bob_phone.until("hosting_changed", cause="failover")
    assert failover["hosting"]["host_user_id"] == cy.id
    Phone(client, ann, gid)
    tick(client, watch)
    returned = bob_phone.until("hosting_changed", cause="returned")
    assert returned["hosting"]["host_user_id"] == cy.id and returned["hosting"]["away_host_user_id"] is None
    roles = client.get(f"/api/groups/{gid}/members", headers=cy.headers).json()["items"]
    assert {m["user_id"]: m["role"] for m in roles} == {ann.id: "admin", bob.id: "member", cy.id: "admin"}


@pytest.mark.parametrize("ws_client", ["memory"], indirect=True)
def test_ws_hosting_listeners_never_take_over(ws_client: TestClient) -> None:
    client = ws_client
    ann, dee = Guest(client, "Ann"), Guest(client, "Dee")
    gid = make_group(client, ann, "Quiet room")["id"]
    watch, now = manual_watch(client)
    join(client, dee, link(client, ann, gid, role="listener")["token"])
    Phone(client, dee, gid)
    tick(client, watch)
    now.advance(10_000)
    tick(client, watch)
    assert hosting_of(client, dee, gid)["host_user_id"] == ann.id
