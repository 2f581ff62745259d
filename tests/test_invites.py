"""Invites over HTTP, on SQLite and PostgreSQL: create/rotate, revoke, expiry, join, QR images, cleanup."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.testclient import TestClient

from rooms_server import invites
from rooms_server.config import Settings
from rooms_server.db import invites as invite_queries
from rooms_server.db.models import GroupQR, utcnow
from tests.helpers import Guest, error_code, make_group
from tests.test_invites_qr import decode_png

T = TypeVar("T")
MAX_TTL = Settings().invite_max_ttl_s


def in_db(client: TestClient, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async def run() -> T:
        async with client.app_state["db"].write() as session:
            return await work(session)

    assert client.portal is not None
    return client.portal.call(run)


def expire_all(client: TestClient) -> None:
    async def work(session: AsyncSession) -> None:
        await session.execute(sa.update(GroupQR).values(expired_at=datetime(2000, 1, 1, tzinfo=UTC)))

    in_db(client, work)


def invite(client: TestClient, admin: Guest, group_id: str, **body: object) -> dict[str, Any]:
    response = client.post(f"/api/groups/{group_id}/invite", json=body, headers=admin.headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def test_invite_create_returns_url_token_and_expiry(client: TestClient) -> None:
    ann = Guest(client, "Ann")
    group = make_group(client, ann, "G", is_public=False)
    response = client.post(f"/api/groups/{group['id']}/invite", headers=ann.headers)  # no body at all
    assert response.status_code == 201 and response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"url", "token", "code", "expired_at", "role", "max_uses", "uses"}
    assert invites.is_token(body["token"]) and (body["role"], body["max_uses"], body["uses"]) == ("member", None, 0)
    assert invites.normalize_code(body["code"]) == body["code"]
    assert body["url"] == f"http://testserver/join/{body['token']}"
    expired_at = datetime.fromisoformat(body["expired_at"])
    assert abs(expired_at - (utcnow() + timedelta(days=7))) < timedelta(minutes=1)
    assert client.get(f"/api/groups/{group['id']}/invite", headers=ann.headers).json() == body
    short = invite(client, ann, group["id"], lifetime_s=60)
    assert abs(datetime.fromisoformat(short["expired_at"]) - utcnow() - timedelta(seconds=60)) < timedelta(seconds=30)


def test_invite_rotation_kills_the_old_token(client: TestClient) -> None:
    ann, bob = Guest(client, "Ann"), Guest(client, "Bob")
    group = make_group(client, ann, "G", is_public=False)
    old, new = invite(client, ann, group["id"]), invite(client, ann, group["id"])
    assert old["token"] != new["token"] and old["url"] != new["url"]
    assert error_code(client.get(f"/api/invites/{old['token']}")) == "invite_not_found"
    refused = client.post(f"/api/invites/{old['token']}/join", headers=bob.headers)
    assert refused.status_code == 404 and error_code(refused) == "invite_not_found"
    assert client.get(f"/api/groups/{group['id']}/invite", headers=ann.headers).json()["token"] == new["token"]
    assert client.post(f"/api/invites/{new['token']}/join", headers=bob.headers).status_code == 200


def test_invite_revoke_refuses_it_everywhere(client: TestClient) -> None:
    ann, bob = Guest(client, "Ann"), Guest(client, "Bob")
    gid = make_group(client, ann, "G")["id"]
    token = invite(client, ann, gid)["token"]
    assert client.delete(f"/api/groups/{gid}/invite", headers=ann.headers).status_code == 204
    assert client.delete(f"/api/groups/{gid}/invite", headers=ann.headers).status_code == 204  # harmless twice
    for response in [
        client.get(f"/api/groups/{gid}/invite", headers=ann.headers),
        client.get(f"/api/groups/{gid}/invite/qr.png", headers=ann.headers),
        client.get(f"/api/groups/{gid}/invite/qr.svg", headers=ann.headers),
        client.get(f"/api/invites/{token}"),
        client.post(f"/api/invites/{token}/join", headers=bob.headers),
    ]:
        assert response.status_code == 404 and error_code(response) == "invite_not_found"


def test_invite_expired_is_gone(client: TestClient) -> None:
    ann, bob = Guest(client, "Ann"), Guest(client, "Bob")
    gid = make_group(client, ann, "G", is_public=False)["id"]
    token = invite(client, ann, gid)["token"]
    expire_all(client)
    for response in [
        client.get(f"/api/invites/{token}"),
        client.post(f"/api/invites/{token}/join", headers=bob.headers),
    ]:
        assert response.status_code == 410 and error_code(response) == "invite_expired"
    assert error_code(client.get(f"/api/groups/{gid}/invite", headers=ann.headers)) == "invite_not_found"
    assert client.get(f"/api/groups/{gid}/invite/qr.png", headers=ann.headers).status_code == 404
    assert client.get(f"/api/groups/{gid}", headers=bob.headers).status_code == 404  # still not a member


def test_invite_preview_needs_no_auth_and_shows_the_group(client: TestClient) -> None:
    ann = Guest(client, "Ann")
    group = make_group(client, ann, "Secret", is_public=False)
    created = invite(client, ann, group["id"])
    preview = client.get(f"/api/invites/{created['token']}")
    assert preview.status_code == 200
    assert preview.json() == {
        "group": {"id": group["id"], "name": "Secret", "is_public": False},
        "code": created["code"],
        "expired_at": created["expired_at"],
        "role": "member",
        "uses_left": None,
    }


@pytest.mark.parametrize("token", ["nope", "A" * 32, "0" * 32, "x" * 1000])
def test_invite_unknown_or_malformed_token_is_not_found(client: TestClient, token: str) -> None:
    bob = Guest(client, "Bob")
    assert error_code(client.get(f"/api/invites/{token}")) == "invite_not_found"
    assert error_code(client.post(f"/api/invites/{token}/join", headers=bob.headers)) == "invite_not_found"


def test_invite_join_private_group_twice_keeps_the_role(client: TestClient) -> None:
    ann, bob = Guest(client, "Ann"), Guest(client, "Bob")
    gid = make_group(client, ann, "G", is_public=False)["id"]
    token = invite(client, ann, gid)["token"]
    assert client.post(f"/api/invites/{token}/join").status_code == 401
    for _ in range(2):
        joined = client.post(f"/api/invites/{token}/join", headers=bob.headers)
        assert joined.status_code == 200
        assert joined.json() == {
            "id": gid,
            "name": "G",
            "is_public": False,
            "listening_mode": "everyone",
            "your_role": "member",
            "member_count": 2,
        }
    assert client.post(f"/api/invites/{token}/join", headers=ann.headers).json()["your_role"] == "admin"
    assert client.get(f"/api/groups/{gid}/playlist", headers=bob.headers).status_code == 200


def test_invite_join_as_a_new_guest_in_one_request(client: TestClient) -> None:
    """No token, a name: the guest is created and joins in one transaction; 201 with their token."""
    ann = Guest(client, "Ann")
    gid = make_group(client, ann, "G", is_public=False)["id"]
    token = client.post(f"/api/groups/{gid}/invite", json={"role": "listener"}, headers=ann.headers).json()["token"]
    joined = client.post(f"/api/invites/{token}/join", json={"name": "  Cleo "})
    assert joined.status_code == 201 and joined.headers["cache-control"] == "no-store"
    body = joined.json()
    assert body["user"]["name"] == "Cleo" and body["expires_at"].endswith("Z")
    assert body["group"] == {
        "id": gid,
        "name": "G",
        "is_public": False,
        "listening_mode": "everyone",
        "your_role": "listener",
        "member_count": 2,
    }
    headers = {"Authorization": f"Bearer {body['token']}"}
    me = client.get("/api/me", headers=headers).json()
    assert me["id"] == body["user"]["id"] and [g["id"] for g in me["groups"]] == [gid]
    assert client.get(f"/api/groups/{gid}/invite", headers=ann.headers).json()["uses"] == 1
    assert client.post(f"/api/invites/{token}/join", json={"name": ""}).status_code == 422
    assert client.post(f"/api/invites/{token}/join", json={"name": "Dee", "role": "admin"}).status_code == 422


def test_invite_join_as_a_new_guest_keeps_nothing_when_the_invite_refuses(client: TestClient) -> None:
    ann = Guest(client, "Ann")
    gid = make_group(client, ann, "G")["id"]
    token = client.post(f"/api/groups/{gid}/invite", json={"max_uses": 1}, headers=ann.headers).json()["token"]
    assert client.post(f"/api/invites/{token}/join", json={"name": "First"}).status_code == 201
    refused = client.post(f"/api/invites/{token}/join", json={"name": "Second"})
    assert refused.status_code == 410 and error_code(refused) == "invite_used_up"
    assert client.post("/api/invites/0123456789abcdef0123456789abcdef/join", json={"name": "Third"}).status_code == 404

    async def names(session: AsyncSession) -> list[str]:
        return list((await session.execute(sa.text("SELECT name FROM users ORDER BY name"))).scalars())

    assert in_db(client, names) == ["Ann", "First"]  # the refused guests were never kept


def test_invite_removed_member_may_rejoin_until_rotated(client: TestClient) -> None:
    ann, bob = Guest(client, "Ann"), Guest(client, "Bob")
    gid = make_group(client, ann, "G", is_public=False)["id"]
    token = invite(client, ann, gid)["token"]
    client.post(f"/api/invites/{token}/join", headers=bob.headers)
    assert client.delete(f"/api/groups/{gid}/members/{bob.id}", headers=ann.headers).status_code == 204
    assert client.post(f"/api/invites/{token}/join", headers=bob.headers).status_code == 200  # not a ban
    client.delete(f"/api/groups/{gid}/members/{bob.id}", headers=ann.headers)
    invite(client, ann, gid)  # to keep Bob out, the admin rotates
    assert client.post(f"/api/invites/{token}/join", headers=bob.headers).status_code == 404


@pytest.mark.parametrize("lifetime", [59, 0, -1, MAX_TTL + 1, "600", 600.5, True, None])
def test_invite_lifetime_out_of_bounds_is_invalid(client: TestClient, lifetime: object) -> None:
    ann = Guest(client, "Ann")
    gid = make_group(client, ann, "G")["id"]
    response = client.post(f"/api/groups/{gid}/invite", json={"lifetime_s": lifetime}, headers=ann.headers)
    assert response.status_code == 422 and "lifetime_s" in response.json()["error"]["details"]
    assert invite(client, ann, gid, lifetime_s=MAX_TTL)["token"]
    extra = client.post(f"/api/groups/{gid}/invite", json={"ttl": 60}, headers=ann.headers)
    assert extra.status_code == 422 and "ttl" in extra.json()["error"]["details"]


@pytest.mark.parametrize("size", ["0", "21", "-1", "abc", "1.5"])
def test_invite_qr_size_out_of_bounds_is_invalid(client: TestClient, size: str) -> None:
    ann = Guest(client, "Ann")
    gid = make_group(client, ann, "G")["id"]
    invite(client, ann, gid)
    for kind in ("png", "svg"):
        response = client.get(f"/api/groups/{gid}/invite/qr.{kind}", params={"size": size}, headers=ann.headers)
        assert response.status_code == 422 and error_code(response) == "validation_error"


def test_invite_qr_images_carry_the_invite_url(client: TestClient) -> None:
    ann, bob = Guest(client, "Ann"), Guest(client, "Bob")
    gid = make_group(client, ann, "G")["id"]
    url = invite(client, ann, gid)["url"]
    client.post(f"/api/groups/{gid}/join", headers=bob.headers)
    png_response = client.get(f"/api/groups/{gid}/invite/qr.png", params={"size": 3}, headers=bob.headers)
    assert png_response.headers["content-type"] == "image/png"
    assert png_response.headers["cache-control"] == "no-store"
    assert [b.text for b in decode_png(png_response.content)] == [url]
    svg_response = client.get(f"/api/groups/{gid}/invite/qr.svg", headers=bob.headers)
    assert svg_response.headers["content-type"].startswith("image/svg+xml")
    assert svg_response.headers["cache-control"] == "no-store"
    assert svg_response.text == invites.qr_svg(url, invites.QR_DEFAULT_SIZE)


def test_invite_member_reads_but_cannot_create_rotate_or_revoke(client: TestClient) -> None:
    ann, bob = Guest(client, "Ann"), Guest(client, "Bob")
    gid = make_group(client, ann, "G")["id"]
    token = invite(client, ann, gid)["token"]
    client.post(f"/api/groups/{gid}/join", headers=bob.headers)
    for response in [
        client.post(f"/api/groups/{gid}/invite", headers=bob.headers),
        client.delete(f"/api/groups/{gid}/invite", headers=bob.headers),
    ]:
        assert response.status_code == 403 and error_code(response) == "forbidden"
    assert client.get(f"/api/groups/{gid}/invite", headers=bob.headers).json()["token"] == token


def test_invite_hidden_from_non_members(client: TestClient) -> None:
    ann, eve = Guest(client, "Ann"), Guest(client, "Eve")
    private = make_group(client, ann, "Private", is_public=False)["id"]
    public = make_group(client, ann, "Public")["id"]
    invite(client, ann, private)
    invite(client, ann, public)
    for method, path in [
        ("GET", f"/api/groups/{private}/invite"),
        ("GET", f"/api/groups/{private}/invite/qr.png"),
        ("GET", f"/api/groups/{private}/invite/qr.svg"),
        ("POST", f"/api/groups/{private}/invite"),
        ("DELETE", f"/api/groups/{private}/invite"),
    ]:
        response = client.request(method, path, headers=eve.headers)
        assert response.status_code == 404 and error_code(response) == "group_not_found", (method, path)
    for suffix in ("", "/qr.png", "/qr.svg"):  # a public group is visible, its invite is for members
        assert client.get(f"/api/groups/{public}/invite{suffix}", headers=eve.headers).status_code == 403


def test_invite_goes_with_its_group(client: TestClient) -> None:
    ann = Guest(client, "Ann")
    gid = make_group(client, ann, "G")["id"]
    token = invite(client, ann, gid)["token"]
    assert client.delete(f"/api/groups/{gid}", headers=ann.headers).status_code == 204
    assert error_code(client.get(f"/api/invites/{token}")) == "invite_not_found"


def test_delete_expired_invites_deletes_only_expired_rows(client: TestClient) -> None:
    ann = Guest(client, "Ann")
    short = invite(client, ann, make_group(client, ann, "A")["id"], lifetime_s=60)
    long = invite(client, ann, make_group(client, ann, "B")["id"], lifetime_s=3600)

    def purge(now: datetime) -> int:
        return in_db(client, lambda session: invite_queries.delete_expired_invites(session, now))

    assert purge(datetime.fromisoformat(short["expired_at"])) == 0  # expired_at < now, strictly
    assert purge(utcnow() + timedelta(seconds=120)) == 1
    assert in_db(client, _tokens) == [long["token"]]


async def _tokens(session: AsyncSession) -> list[str]:
    return list((await session.execute(sa.select(GroupQR.id))).scalars())


# -- short join codes ---------------------------------------------------------------------------------


def test_invite_code_has_six_characters_without_look_alikes() -> None:
    codes = {invites.new_code() for _ in range(2000)}
    assert len(codes) == 2000  # 31^6 codes: a repeat among 2000 has odds of about 2 in a million
    assert all(len(code) == 6 and set(code) <= set(invites.CODE_ALPHABET) for code in codes)
    assert not set("01OIL") & set(invites.CODE_ALPHABET) and len(invites.CODE_ALPHABET) == 31


@pytest.mark.parametrize(
    ("typed", "code"),
    [("K7MP3Q", "K7MP3Q"), ("k7mp3q", "K7MP3Q"), ("k7m-p3q", "K7MP3Q"), (" K7M P3Q ", "K7MP3Q"), ("K7MP3", None)],
)
def test_invite_code_ignores_case_spaces_and_dashes(typed: str, code: str | None) -> None:
    assert invites.normalize_code(typed) == code


@pytest.mark.parametrize("typed", ["K7MP3O", "K7MP31", "K7MP3QQ", "", "K7MP3Ä", "../../x"])
def test_invite_code_malformed_is_none(typed: str) -> None:
    assert invites.normalize_code(typed) is None


def test_invite_code_leads_to_the_token_and_the_join(client: TestClient) -> None:
    ann, bob = Guest(client, "Ann"), Guest(client, "Bob")
    gid = make_group(client, ann, "Coded", is_public=False)["id"]
    created = invite(client, ann, gid)
    code = created["code"]
    typed = f"{code[:3].lower()}-{code[3:].lower()}"
    found = client.get(f"/api/codes/{typed}")
    assert found.status_code == 200 and found.headers["cache-control"] == "no-store"
    assert found.json() == {
        "group": {"id": gid, "name": "Coded", "is_public": False},
        "code": code,
        "expired_at": created["expired_at"],
        "role": "member",
        "uses_left": None,
        "token": created["token"],
    }
    assert client.post(f"/api/invites/{found.json()['token']}/join", headers=bob.headers).status_code == 200


def test_invite_code_lives_and_dies_with_the_invite(client: TestClient) -> None:
    ann = Guest(client, "Ann")
    gid = make_group(client, ann, "G", is_public=False)["id"]
    first = invite(client, ann, gid)
    second = invite(client, ann, gid)
    assert second["code"] != first["code"]  # a rotation makes a new code (same code: 1 in 887 M)
    gone = client.get(f"/api/codes/{first['code']}")
    assert gone.status_code == 404 and error_code(gone) == "invalid_code"
    assert client.get(f"/api/codes/{second['code']}").status_code == 200
    assert client.delete(f"/api/groups/{gid}/invite", headers=ann.headers).status_code == 204
    assert error_code(client.get(f"/api/codes/{second['code']}")) == "invalid_code"
    third = invite(client, ann, gid)
    expire_all(client)
    assert error_code(client.get(f"/api/codes/{third['code']}")) == "invalid_code"


@pytest.mark.parametrize("typed", ["ZZZZZZ", "nope", "0" * 6, "x" * 300])
def test_invite_code_unknown_or_malformed_is_invalid_code(client: TestClient, typed: str) -> None:
    response = client.get(f"/api/codes/{typed}")
    assert response.status_code == 404 and error_code(response) == "invalid_code"


def test_invite_code_taken_by_another_row_is_not_handed_out_again(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Codes are unique among stored rows, expired ones included: a taken code is drawn again."""
    ann = Guest(client, "Ann")
    one, two = (make_group(client, ann, name, is_public=False)["id"] for name in ("One", "Two"))
    draws = iter(["AAAAAA", "AAAAAA", "BBBBBB"])
    monkeypatch.setattr(invites, "new_code", lambda: next(draws))
    assert invite(client, ann, one)["code"] == "AAAAAA"
    assert invite(client, ann, two)["code"] == "BBBBBB"


def test_invite_code_column_refuses_a_duplicate(client: TestClient) -> None:
    ann = Guest(client, "Ann")
    one, two = (make_group(client, ann, name, is_public=False)["id"] for name in ("One", "Two"))
    code = invite(client, ann, one)["code"]

    async def duplicate(session: AsyncSession) -> None:
        await session.execute(sa.update(GroupQR).where(GroupQR.group_id == two).values(code=code))

    invite(client, ann, two)
    with pytest.raises(sa.exc.IntegrityError):
        in_db(client, duplicate)
