from __future__ import annotations

import hashlib

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine
from starlette.testclient import TestClient

from tests.helpers import Guest, error_code, make_group


def test_users_create_returns_token_and_identity(client: TestClient) -> None:
    response = client.post("/api/users", json={"name": "  Ann  "})
    assert response.status_code == 201
    body = response.json()
    assert body["user"]["name"] == "Ann"
    assert len(body["user"]["id"]) == 32
    assert len(body["token"]) >= 40
    assert body["expires_at"].endswith("Z")


def test_me_lists_the_callers_groups_with_roles(client: TestClient) -> None:
    ann, bob = Guest(client, "Ann"), Guest(client, "Bob")
    group = make_group(client, ann, "Friday")
    client.post(f"/api/groups/{group['id']}/join", headers=bob.headers)
    me = client.get("/api/me", headers=bob.headers).json()
    assert me == {
        "id": bob.id,
        "name": "Bob",
        "groups": [{"id": group["id"], "name": "Friday", "is_public": True, "role": "member"}],
    }
    assert client.get("/api/me", headers=ann.headers).json()["groups"][0]["role"] == "admin"


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Bearer nope", "Basic abc", "bearer " + "x" * 600],
)
def test_me_refuses_missing_or_bad_tokens(client: TestClient, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = client.get("/api/me", headers=headers)
    assert response.status_code == 401
    assert error_code(response) == "unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"


def test_logout_revokes_the_token(client: TestClient) -> None:
    ann = Guest(client, "Ann")
    assert client.delete("/api/session", headers=ann.headers).status_code == 204
    assert client.get("/api/me", headers=ann.headers).status_code == 401


def test_token_stored_only_as_sha256(client: TestClient, database_url: str) -> None:
    ann = Guest(client, "Ann")

    async def stored_hashes() -> list[str]:
        engine = create_async_engine(database_url)
        async with engine.connect() as conn:
            rows = (await conn.execute(sa.text("SELECT token_hash FROM auth_sessions"))).scalars().all()
        await engine.dispose()
        return list(rows)

    hashes = client.portal.call(stored_hashes) if client.portal else []
    assert hashes == [hashlib.sha256(ann.token.encode()).hexdigest()]


def test_token_expires(client: TestClient, database_url: str) -> None:
    ann = Guest(client, "Ann")

    async def expire_all() -> None:
        engine = create_async_engine(database_url)
        async with engine.begin() as conn:
            await conn.execute(sa.text("UPDATE auth_sessions SET expires_at = '2000-01-01 00:00:00'"))
        await engine.dispose()

    assert client.portal is not None
    client.portal.call(expire_all)
    assert client.get("/api/me", headers=ann.headers).status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": 5}, "name"),
        ({"name": "x" * 256}, "name"),
        ({"name": "Ann", "admin": True}, "admin"),
    ],
)
def test_users_create_validates_the_body(client: TestClient, body: dict[str, object], field: str) -> None:
    response = client.post("/api/users", json=body)
    assert response.status_code == 422
    assert error_code(response) == "validation_error"
    assert field in response.json()["error"]["details"]


def test_users_create_rejects_bad_json(client: TestClient) -> None:
    for raw in (b"{", b"[1, 2]", b"\xff\xfe"):
        response = client.post("/api/users", content=raw, headers={"content-type": "application/json"})
        assert response.status_code == 400
        assert error_code(response) == "invalid_json"


def test_users_create_refuses_oversized_body(client: TestClient) -> None:
    response = client.post("/api/users", content=b'{"name": "' + b"x" * 70_000 + b'"}')
    assert response.status_code == 413
    assert error_code(response) == "body_too_large"


def test_users_create_refuses_oversized_chunked_body(client: TestClient) -> None:
    def chunks():  # no Content-Length: the limit must hold while reading
        for _ in range(20):
            yield b"x" * 8192

    response = client.post("/api/users", content=chunks())
    assert response.status_code == 413
