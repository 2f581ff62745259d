from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from tests.helpers import Guest, error_code, make_group


def test_groups_scenario_create_find_join_promote(client: TestClient) -> None:
    """A new user creates a group, a second finds it in the public list, joins, and is promoted."""
    ann, bob = Guest(client, "Ann"), Guest(client, "Bob")
    group = make_group(client, ann, "Rooftop Party")
    assert group["your_role"] == "admin" and group["member_count"] == 1
    found = client.get("/api/groups", params={"q": "rooftop"}).json()
    assert [g["id"] for g in found["items"]] == [group["id"]]
    joined = client.post(f"/api/groups/{group['id']}/join", headers=bob.headers)
    assert joined.status_code == 200 and joined.json()["your_role"] == "member"
    promoted = client.patch(f"/api/groups/{group['id']}/members/{bob.id}", json={"role": "admin"}, headers=ann.headers)
    assert promoted.status_code == 200 and promoted.json()["role"] == "admin"
    members = client.get(f"/api/groups/{group['id']}/members", headers=bob.headers).json()["items"]
    assert [(m["name"], m["role"]) for m in members] == [("Ann", "admin"), ("Bob", "admin")]


def test_groups_create_makes_an_empty_playlist(client: TestClient) -> None:
    ann = Guest(client, "Ann")
    group = make_group(client, ann, "G")
    playlist = client.get(f"/api/groups/{group['id']}/playlist", headers=ann.headers).json()
    assert playlist["tracks"] == [] and playlist["current_track_index"] == 0 and playlist["group_id"] == group["id"]


def test_groups_duplicate_name_conflicts(client: TestClient) -> None:
    ann = Guest(client, "Ann")
    make_group(client, ann, "Same")
    response = client.post("/api/groups", json={"name": "Same"}, headers=ann.headers)
    assert response.status_code == 409 and error_code(response) == "group_name_taken"


def test_groups_rename_to_taken_name_conflicts(client: TestClient) -> None:
    ann = Guest(client, "Ann")
    make_group(client, ann, "One")
    two = make_group(client, ann, "Two")
    response = client.patch(f"/api/groups/{two['id']}", json={"name": "One"}, headers=ann.headers)
    assert response.status_code == 409 and error_code(response) == "group_name_taken"


def test_groups_admin_renames_and_makes_private(client: TestClient) -> None:
    ann = Guest(client, "Ann")
    group = make_group(client, ann, "Old")
    response = client.patch(f"/api/groups/{group['id']}", json={"name": "New", "is_public": False}, headers=ann.headers)
    assert response.status_code == 200
    assert (response.json()["name"], response.json()["is_public"]) == ("New", False)
    assert client.get("/api/groups").json()["items"] == []


def test_groups_member_cannot_rename_or_delete(client: TestClient) -> None:
    ann, bob = Guest(client, "Ann"), Guest(client, "Bob")
    group = make_group(client, ann, "G")
    client.post(f"/api/groups/{group['id']}/join", headers=bob.headers)
    response = client.patch(f"/api/groups/{group['id']}", json={"name": "Mine"}, headers=bob.headers)
    assert response.status_code == 403 and error_code(response) == "forbidden"
    assert client.delete(f"/api/groups/{group['id']}", headers=bob.headers).status_code == 403


def test_groups_private_group_is_invisible_to_non_members(client: TestClient) -> None:
    ann, eve = Guest(client, "Ann"), Guest(client, "Eve")
    group = make_group(client, ann, "Secret", is_public=False)
    gid = group["id"]
    for method, path in [
        ("GET", f"/api/groups/{gid}"),
        ("POST", f"/api/groups/{gid}/join"),
        ("GET", f"/api/groups/{gid}/members"),
        ("GET", f"/api/groups/{gid}/playlist"),
        ("PATCH", f"/api/groups/{gid}"),
        ("DELETE", f"/api/groups/{gid}"),
    ]:
        response = client.request(method, path, headers=eve.headers, json={} if method == "PATCH" else None)
        assert response.status_code == 404, (method, path)
        assert error_code(response) == "group_not_found"
    assert client.get("/api/groups", params={"q": "Secret"}).json()["total"] == 0


def test_groups_delete_removes_everything_of_the_group(client: TestClient) -> None:
    ann, bob = Guest(client, "Ann"), Guest(client, "Bob")
    group = make_group(client, ann, "Doomed")
    client.post(f"/api/groups/{group['id']}/join", headers=bob.headers)
    assert client.delete(f"/api/groups/{group['id']}", headers=ann.headers).status_code == 204
    assert client.get(f"/api/groups/{group['id']}", headers=ann.headers).status_code == 404
    assert client.get("/api/me", headers=bob.headers).json()["groups"] == []
    assert make_group(client, ann, "Doomed")["name"] == "Doomed"  # the name is free again


def test_groups_join_twice_is_harmless(client: TestClient) -> None:
    ann, bob = Guest(client, "Ann"), Guest(client, "Bob")
    group = make_group(client, ann, "G")
    for _ in range(2):
        assert client.post(f"/api/groups/{group['id']}/join", headers=bob.headers).json()["member_count"] == 2
    assert client.post(f"/api/groups/{group['id']}/join", headers=ann.headers).json()["your_role"] == "admin"


def test_groups_host_leaves_by_handing_over_and_is_never_demoted(client: TestClient) -> None:
    ann, bob = Guest(client, "Ann"), Guest(client, "Bob")
    gid = make_group(client, ann, "G")["id"]
    alone = client.post(f"/api/groups/{gid}/leave", headers=ann.headers)
    assert alone.status_code == 409 and error_code(alone) == "last_admin"  # nobody to hand over to
    client.post(f"/api/groups/{gid}/join", headers=bob.headers)
    demoted = client.patch(f"/api/groups/{gid}/members/{ann.id}", json={"role": "member"}, headers=ann.headers)
    assert demoted.status_code == 409 and error_code(demoted) == "is_host"
    # Leaving is no dead end: the room goes to Bob, the only other member, who becomes its admin.
    assert client.post(f"/api/groups/{gid}/leave", headers=ann.headers).status_code == 204
    group = client.get(f"/api/groups/{gid}", headers=bob.headers).json()
    assert (group["member_count"], group["your_role"]) == (1, "admin")


def test_groups_member_leaves(client: TestClient) -> None:
    ann, bob = Guest(client, "Ann"), Guest(client, "Bob")
    gid = make_group(client, ann, "G")["id"]
    client.post(f"/api/groups/{gid}/join", headers=bob.headers)
    assert client.post(f"/api/groups/{gid}/leave", headers=bob.headers).status_code == 204
    response = client.post(f"/api/groups/{gid}/leave", headers=bob.headers)
    assert response.status_code == 404 and error_code(response) == "membership_not_found"


def test_members_removing_a_non_member_is_404(client: TestClient) -> None:
    ann, bob = Guest(client, "Ann"), Guest(client, "Bob")
    gid = make_group(client, ann, "G", is_public=False)["id"]
    assert client.delete(f"/api/groups/{gid}/members/{bob.id}", headers=ann.headers).status_code == 404
    # private: Bob cannot join by himself
    assert client.post(f"/api/groups/{gid}/join", headers=bob.headers).status_code == 404


def test_members_member_cannot_promote_or_remove(client: TestClient) -> None:
    ann, bob, cat = Guest(client, "Ann"), Guest(client, "Bob"), Guest(client, "Cat")
    gid = make_group(client, ann, "G")["id"]
    for guest in (bob, cat):
        client.post(f"/api/groups/{gid}/join", headers=guest.headers)
    promote = client.patch(f"/api/groups/{gid}/members/{bob.id}", json={"role": "admin"}, headers=bob.headers)
    assert promote.status_code == 403
    assert client.delete(f"/api/groups/{gid}/members/{cat.id}", headers=bob.headers).status_code == 403
    assert client.delete(f"/api/groups/{gid}/members/{cat.id}", headers=ann.headers).status_code == 204
    assert client.get("/api/me", headers=cat.headers).json()["groups"] == []


def test_members_the_host_cannot_be_removed(client: TestClient) -> None:
    ann, bob = Guest(client, "Ann"), Guest(client, "Bob")
    gid = make_group(client, ann, "G")["id"]
    client.post(f"/api/groups/{gid}/join", headers=bob.headers)
    client.patch(f"/api/groups/{gid}/members/{bob.id}", json={"role": "admin"}, headers=ann.headers)
    for caller in (ann, bob):  # not by themselves, not by a co-host
        response = client.delete(f"/api/groups/{gid}/members/{ann.id}", headers=caller.headers)
        assert response.status_code == 409 and error_code(response) == "is_host"


def test_members_role_must_be_known(client: TestClient) -> None:
    ann = Guest(client, "Ann")
    gid = make_group(client, ann, "G")["id"]
    response = client.patch(f"/api/groups/{gid}/members/{ann.id}", json={"role": "owner"}, headers=ann.headers)
    assert response.status_code == 422 and "role" in response.json()["error"]["details"]


def test_groups_list_is_paginated_and_searchable(client: TestClient) -> None:
    ann = Guest(client, "Ann")
    for n in range(5):
        make_group(client, ann, f"Room {n}")
    make_group(client, ann, "Hidden room", is_public=False)
    make_group(client, ann, "100%_literal")
    page = client.get("/api/groups", params={"q": "room", "limit": 2, "offset": 2}).json()
    assert page["total"] == 5 and page["limit"] == 2 and page["offset"] == 2
    assert [g["name"] for g in page["items"]] == ["Room 2", "Room 3"]
    # LIKE wildcards in the search are literal
    assert [g["name"] for g in client.get("/api/groups", params={"q": "%_"}).json()["items"]] == ["100%_literal"]


@pytest.mark.parametrize("params", [{"limit": "0"}, {"limit": "101"}, {"offset": "-1"}, {"limit": "ten"}])
def test_groups_list_validates_paging(client: TestClient, params: dict[str, str]) -> None:
    response = client.get("/api/groups", params=params)
    assert response.status_code == 422 and error_code(response) == "validation_error"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "x" * 1001},
        {"name": "ok", "is_public": "yes"},
        {"name": ["a"]},
        {"name": "ok", "x": 1},
    ],
)
def test_groups_create_validates_the_body(client: TestClient, body: dict[str, object]) -> None:
    ann = Guest(client, "Ann")
    response = client.post("/api/groups", json=body, headers=ann.headers)
    assert response.status_code == 422 and error_code(response) == "validation_error"


def test_groups_unknown_group_is_404(client: TestClient) -> None:
    ann = Guest(client, "Ann")
    response = client.get("/api/groups/" + "0" * 32, headers=ann.headers)
    assert response.status_code == 404 and error_code(response) == "group_not_found"


def test_groups_require_a_token(client: TestClient) -> None:
    assert client.post("/api/groups", json={"name": "G"}).status_code == 401


def test_app_unknown_route_is_json_404(client: TestClient) -> None:
    response = client.get("/nope")
    assert response.status_code == 404 and error_code(response) == "not_found"
    response = client.put("/api/groups")
    assert response.status_code == 405 and error_code(response) == "method_not_allowed"


def test_groups_create_with_a_listening_mode(client: TestClient) -> None:
    ann = Guest(client, "Ann")
    created = client.post("/api/groups", json={"name": "Loud", "listening_mode": "speaker"}, headers=ann.headers)
    assert created.status_code == 201 and created.json()["listening_mode"] == "speaker"
    assert client.get(f"/api/groups/{created.json()['id']}", headers=ann.headers).json()["listening_mode"] == "speaker"
    plain = client.post("/api/groups", json={"name": "Plain"}, headers=ann.headers).json()
    assert plain["listening_mode"] == "everyone" and plain["your_role"] == "admin"
    bad = client.post("/api/groups", json={"name": "Bad", "listening_mode": "loud"}, headers=ann.headers)
    assert bad.status_code == 422 and "listening_mode" in bad.json()["error"]["details"]
