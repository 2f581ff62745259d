"""The access matrix: every HTTP endpoint of the app (its routes, iterated) tried against a private
group by each kind of caller, and every WebSocket command tried by a member and by an admin, with
ids of another group. Each must be refused with the documented status or error code.

Callers: anonymous (no token), ``outsider`` (a user who is admin of another group, not a member of
this one), ``member`` (role member here), ``listener`` (role listener here, joined through a
listener invite link). The private group's existence is not revealed to outsiders (404, as for an
unknown id); members and listeners get 403 for what only admins may do, listeners also for adding.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.routing import Route
from starlette.testclient import TestClient

from tests.helpers import Guest, make_group
from tests.ws_client import Phone, close_all

TRACK = {"service": "youtube", "url": "https://youtu.be/dQw4w9WgXcQ", "title": "Song", "duration": 200}
# Bodies valid for each write, so that the caller is the only reason for a refusal.
BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/api/users"): {"name": "Eve"},
    ("POST", "/api/groups"): {"name": "Eve's"},
    ("PATCH", "/api/groups/{group_id}"): {"name": "Taken over"},
    ("PATCH", "/api/groups/{group_id}/members/{user_id}"): {"role": "admin"},
    ("POST", "/api/groups/{group_id}/tracks"): TRACK,
    ("POST", "/api/groups/{group_id}/invite"): {},
    ("POST", "/api/groups/{group_id}/invites"): {"role": "admin"},
    ("PATCH", "/api/groups/{group_id}/hosting"): {"grace_s": 1},
    ("POST", "/api/groups/{group_id}/host"): {"user_id": "{user_id}"},
    ("PUT", "/api/me/services/{service}"): {"access_token": "t"},
}
# Reachable without a token (anything else is 401 for an anonymous caller).
PUBLIC = {
    ("POST", "/api/users"),
    ("GET", "/api/groups"),
    ("GET", "/api/invites/{token}"),
    ("GET", "/api/services/spotify/callback"),
    ("GET", "/api/codes/{code}"),
    ("GET", "/api/sources"),
    ("GET", "/api/server"),
}
# Routes of a group: what a member of it may do (anything else needs its admin).
MEMBER_MAY = {
    ("GET", "/api/groups/{group_id}"),
    ("GET", "/api/groups/{group_id}/members"),
    ("GET", "/api/groups/{group_id}/playlist"),
    ("GET", "/api/groups/{group_id}/history"),
    ("POST", "/api/groups/{group_id}/tracks"),
    ("GET", "/api/groups/{group_id}/invite"),
    ("GET", "/api/groups/{group_id}/invite/qr.png"),
    ("GET", "/api/groups/{group_id}/invite/qr.svg"),
    ("POST", "/api/groups/{group_id}/join"),
    ("POST", "/api/groups/{group_id}/leave"),
}
# A listener hears, votes and chats (commands); over HTTP they may do what a member may but add.
LISTENER_MAY = MEMBER_MAY - {("POST", "/api/groups/{group_id}/tracks")}


def api_routes(client: TestClient) -> list[tuple[str, str]]:
    routes = []
    for route in client.app.routes:  # type: ignore[attr-defined]
        if isinstance(route, Route) and route.path.startswith("/api/"):
            path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
            routes.extend((method, path) for method in sorted(route.methods or ()) if method != "HEAD")
    return routes


def call(client: TestClient, method: str, template: str, ids: dict[str, str], guest: Guest | None) -> int:
    path = template.format(**ids)
    headers = guest.headers if guest is not None else {}
    body = BODIES.get((method, template))
    if isinstance(body, dict):
        body = {k: v.format(**ids) if isinstance(v, str) else v for k, v in body.items()}
    response = client.request(method, path, json=body, headers=headers, follow_redirects=False)
    return response.status_code


def test_access_matrix_every_endpoint_refuses_anonymous_outsiders_and_members_correctly(client: TestClient) -> None:
    owner, member, outsider = Guest(client, "Owner"), Guest(client, "Member"), Guest(client, "Outsider")
    listener = Guest(client, "Listener")
    gid = make_group(client, owner, "Private", is_public=False)["id"]
    other_gid = make_group(client, outsider, "Outsider's")["id"]  # outsider is admin there
    invite = client.post(f"/api/groups/{gid}/invite", headers=owner.headers).json()["token"]
    assert client.post(f"/api/invites/{invite}/join", headers=member.headers).status_code == 200
    link = client.post(f"/api/groups/{gid}/invites", json={"role": "listener"}, headers=owner.headers).json()
    assert client.post(f"/api/invites/{link['token']}/join", headers=listener.headers).json()["your_role"] == "listener"
    ids = {"group_id": gid, "user_id": owner.id, "token": invite, "service": "spotify", "code": "ZZZZZZ"}
    ids["link_id"] = link["id"]
    routes = api_routes(client)
    assert len(routes) >= 28, routes
    wrong: list[str] = []
    checked: list[str] = []

    def expect(actor: str, guest: Guest | None, method: str, template: str, allowed: set[int]) -> None:
        status = call(client, method, template, ids, guest)
        checked.append(f"{actor} {method} {template}")
        if status not in allowed:
            wrong.append(f"{actor} {method} {template} -> {status}, expected {sorted(allowed)}")

    for method, template in routes:
        key = (method, template)
        if key not in PUBLIC:
            expect("anonymous", None, method, template, {401})
        if "{group_id}" not in template:
            continue
        # A private group's existence is not revealed to a non-member, whatever their role elsewhere.
        if key != ("POST", "/api/groups/{group_id}/leave"):
            expect("outsider", outsider, method, template, {404})
        if key not in LISTENER_MAY:
            expect("listener", listener, method, template, {403})
        if key not in MEMBER_MAY:
            expect("member", member, method, template, {403})
    # Another group's ids through the caller's own group: an admin of Q acting on a member of P.
    for method in ("PATCH", "DELETE"):
        path = "/api/groups/{group_id}/members/{user_id}"
        status = call(client, method, path, {"group_id": other_gid, "user_id": member.id}, outsider)
        if status != 404:
            wrong.append(f"outsider {method} their group's member {member.id} (of another group) -> {status}")
    assert wrong == []
    assert len(checked) >= 70, checked
    # Nothing changed: the owner is still the only admin, the name is the same, the member still in.
    group = client.get(f"/api/groups/{gid}", headers=owner.headers).json()
    assert group["name"] == "Private"
    roles = {
        m["user_id"]: m["role"] for m in client.get(f"/api/groups/{gid}/members", headers=owner.headers).json()["items"]
    }
    assert roles == {owner.id: "admin", member.id: "member", listener.id: "listener"}
    assert client.get(f"/api/groups/{gid}/invites", headers=owner.headers).json()["items"] == [{**link, "uses": 1}]
    assert client.get(f"/api/groups/{gid}/playlist", headers=owner.headers).json()["tracks"] == []


def test_access_matrix_every_command_by_member_listener_and_admin_with_another_groups_ids(client: TestClient) -> None:
    owner, member, listener = Guest(client, "Owner"), Guest(client, "Member"), Guest(client, "Listener")
    gid = make_group(client, owner, "Room")["id"]
    other = make_group(client, member, "Elsewhere")["id"]
    client.post(f"/api/groups/{gid}/join", headers=member.headers)
    link = client.post(f"/api/groups/{gid}/invites", json={"role": "listener"}, headers=owner.headers).json()
    client.post(f"/api/invites/{link['token']}/join", headers=listener.headers)
    foreign = client.post(f"/api/groups/{other}/tracks", json=TRACK, headers=member.headers)
    assert foreign.status_code == 201
    foreign_id = client.get(f"/api/groups/{other}/playlist", headers=member.headers).json()["tracks"][0]["id"]
    own = [client.post(f"/api/groups/{gid}/tracks", json=TRACK, headers=owner.headers) for _ in range(2)]
    assert {r.status_code for r in own} == {201}
    mine = [t["id"] for t in client.get(f"/api/groups/{gid}/playlist", headers=owner.headers).json()["tracks"]]
    try:
        admin_phone, member_phone = Phone(client, owner, gid), Phone(client, member, gid)
        listener_phone = Phone(client, listener, gid)
        host_only = {
            "skip": {"expected_track_id": mine[0]},
            "previous": {"expected_track_id": mine[0]},
            "jump": {"track_id": mine[1]},
            "play": {},
            "pause": {},
            "seek": {"position_ms": 1000},
            "move": {"track_id": mine[1], "after_track_id": None},
        }
        for kind, fields in host_only.items():
            for phone in (member_phone, listener_phone):
                reply = phone.command({"type": kind, **fields})
                assert (reply["type"], reply.get("code")) == ("error", "forbidden"), (kind, reply)
        # A listener adds and removes nothing, not even with the ids of a track they could name.
        for frame in ({"type": "add", **TRACK}, {"type": "remove", "track_id": mine[0]}):
            reply = listener_phone.command(frame)
            assert (reply["type"], reply.get("code")) == ("error", "listeners_cannot_add"), (frame, reply)
        http_add = client.post(f"/api/groups/{gid}/tracks", json=TRACK, headers=listener.headers)
        assert http_add.status_code == 403 and http_add.json()["error"]["code"] == "listeners_cannot_add"
        # Another group's track id, by an admin (and by the member where members may act at all).
        with_foreign = {
            "skip": {"expected_track_id": foreign_id},
            "jump": {"track_id": foreign_id},
            "move": {"track_id": foreign_id, "after_track_id": None},
            "remove": {"track_id": foreign_id},
            "vote_skip": {"track_id": foreign_id},
        }
        for kind, fields in with_foreign.items():
            reply = admin_phone.command({"type": kind, **fields})
            assert reply["type"] == "error" and reply["code"] in ("track_not_found", "stale_track"), (kind, reply)
        for kind in ("remove", "vote_skip"):
            reply = member_phone.command({"type": kind, **with_foreign[kind]})
            assert reply["type"] == "error" and reply["code"] in ("track_not_found", "stale_track"), (kind, reply)
        # A member removes only their own tracks.
        reply = member_phone.command({"type": "remove", "track_id": mine[1]})
        assert (reply["type"], reply.get("code")) == ("error", "forbidden"), reply
        # What members and listeners may do is accepted.
        for frame in ({"type": "chat", "text": "hi"}, {"type": "react", "emoji": "🎉"}):
            assert member_phone.command(frame)["type"] == "ack"
            assert listener_phone.command(frame)["type"] == "ack"
        assert listener_phone.command({"type": "vote_skip", "track_id": mine[0]})["type"] == "ack"
        # Nothing of the other group moved.
        assert client.get(f"/api/groups/{other}/playlist", headers=member.headers).json()["tracks"][0]["id"] == (
            foreign_id
        )
        assert [
            t["id"] for t in client.get(f"/api/groups/{gid}/playlist", headers=owner.headers).json()["tracks"]
        ] == mine
    finally:
        close_all()
