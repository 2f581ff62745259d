"""The music-service endpoints: hand in, list, disconnect, Spotify login and callback, search."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.testclient import TestClient

from rooms_server.app import create_app
from rooms_server.web.services import sign_state, verify_state
from tests.fake_services import (
    CLIENT_ID,
    FakeSpotify,
    FakeYouTube,
    fake_spotify as fake_spotify,
    fake_youtube as fake_youtube,
)
from tests.helpers import Guest, error_code
from tests.source_helpers import app_settings, source_settings, sqlite_copy


@pytest.fixture
def client(
    fake_spotify: FakeSpotify, fake_youtube: FakeYouTube, tmp_path: Path, migrated_sqlite_template: Path
) -> Iterator[TestClient]:
    settings = app_settings(
        sqlite_copy(migrated_sqlite_template, tmp_path), source_settings(fake_spotify, fake_youtube)
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def start_login(client: TestClient, guest: Guest) -> str:
    response = client.get("/api/services/spotify/login", headers=guest.headers, follow_redirects=False)
    assert response.status_code == 302, response.text
    return parse_qs(urlsplit(response.headers["location"]).query)["state"][0]


def test_services_hand_in_list_and_disconnect(client: TestClient) -> None:
    ann = Guest(client, "Ann")
    assert client.get("/api/me/services", headers=ann.headers).json() == {"items": []}
    body = {"access_token": "ya29.s3cr3t", "refresh_token": "1//s3cr3t", "expires_in": 3600}
    stored = client.put("/api/me/services/youtube", json=body, headers=ann.headers)
    assert stored.status_code == 200 and stored.json()["service"] == "youtube" and "s3cr3t" not in stored.text
    listing = client.get("/api/me/services", headers=ann.headers)
    assert [set(item) for item in listing.json()["items"]] == [{"service", "expires_at"}]
    assert listing.json()["items"][0]["expires_at"].endswith("Z") and "s3cr3t" not in listing.text
    assert client.delete("/api/me/services/youtube", headers=ann.headers).status_code == 204
    assert error_code(client.delete("/api/me/services/youtube", headers=ann.headers)) == "credential_not_found"
    assert client.get("/api/me/services", headers=ann.headers).json() == {"items": []}


def test_services_refuse_bad_input(client: TestClient) -> None:
    ann = Guest(client, "Ann")
    assert client.get("/api/me/services").status_code == 401
    assert error_code(client.put("/api/me/services/deezer", json={"access_token": "x"}, headers=ann.headers)) == (
        "service_not_found"
    )
    for body in ({}, {"access_token": ""}, {"access_token": "x", "expires_in": 0}, {"access_token": "x", "extra": 1}):
        response = client.put("/api/me/services/spotify", json=body, headers=ann.headers)
        assert response.status_code == 422 and error_code(response) == "validation_error"


def test_services_spotify_login_and_callback(client: TestClient, fake_spotify: FakeSpotify, tmp_path: Path) -> None:
    ann = Guest(client, "Ann")
    response = client.get("/api/services/spotify/login", headers=ann.headers, follow_redirects=False)
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}" == fake_spotify.accounts.url and location.path == "/authorize"
    query = parse_qs(location.query)
    assert query["client_id"] == [CLIENT_ID] and query["response_type"] == ["code"]
    assert query["redirect_uri"] == ["http://testserver/api/services/spotify/callback"]
    assert "httponly" in response.headers["set-cookie"].lower()
    fake_spotify.codes.add("code-1")
    done = client.get("/api/services/spotify/callback", params={"code": "code-1", "state": query["state"][0]})
    assert done.status_code == 200 and "connected" in done.text
    items = client.get("/api/me/services", headers=ann.headers).json()["items"]
    assert [item["service"] for item in items] == ["spotify"] and items[0]["expires_at"]
    exchange = fake_spotify.token_calls("authorization_code")[0]
    assert exchange.form["redirect_uri"] == "http://testserver/api/services/spotify/callback"
    # The raw row: ciphertexts only, neither the access token nor the refresh token in clear.
    access = next(iter(fake_spotify.valid_tokens))
    refresh = next(iter(fake_spotify.refresh_tokens))
    with sqlite3.connect(tmp_path / "rooms.db") as raw:
        row = raw.execute("SELECT service, token, refresh_token, expiry FROM user_credentials").fetchone()
    assert row[0] == "spotify" and row[1].startswith("gAAAAA") and row[2].startswith("gAAAAA") and row[3]
    assert access not in repr(row) and refresh not in repr(row)


def test_services_login_answers_json_for_pages(client: TestClient) -> None:
    ann = Guest(client, "Ann")
    response = client.get("/api/services/spotify/login", headers={**ann.headers, "Accept": "application/json"})
    assert response.status_code == 200 and "/authorize?" in response.json()["authorize_url"]


def test_services_callback_refusals(client: TestClient, fake_spotify: FakeSpotify) -> None:
    ann, eve = Guest(client, "Ann"), Guest(client, "Eve")
    state = start_login(client, ann)
    fake_spotify.codes.add("code-1")
    callback = "/api/services/spotify/callback"
    assert error_code(client.get(callback, params={"error": "access_denied", "state": state})) == "oauth_denied"
    assert error_code(client.get(callback, params={"code": "code-1", "state": state[:-2] + "xx"})) == "invalid_state"
    assert error_code(client.get(callback, params={"state": state})) == "invalid_state"
    eves_state = start_login(client, eve)  # this browser's cookie is now Eve's nonce
    assert error_code(client.get(callback, params={"code": "code-1", "state": state})) == "invalid_state"
    client.cookies.clear()
    assert error_code(client.get(callback, params={"code": "code-1", "state": eves_state})) == "invalid_state"
    start_login(client, eve)
    assert client.get(callback, params={"code": "code-1", "state": start_login(client, eve)}).status_code == 200
    failed = client.get(callback, params={"code": "used-code", "state": start_login(client, eve)})
    assert failed.status_code == 409 and error_code(failed) == "reconnect_required"


def test_services_state_is_signed_and_expires() -> None:
    state = sign_state("k", "u" * 32, "nonce")
    assert verify_state("k", state, "nonce") == "u" * 32
    assert verify_state("other", state, "nonce") is None
    assert verify_state("k", state, "other") is None
    assert verify_state("k", state, None) is None
    assert verify_state("k", sign_state("k", "u" * 32, "nonce", now=0), "nonce") is None
    assert verify_state("k", "garbage", "nonce") is None


def test_services_spotify_search(client: TestClient, fake_spotify: FakeSpotify) -> None:
    ann = Guest(client, "Ann")
    fake_spotify.add_track(name="Blue Monday")
    found = client.get("/api/services/spotify/search", params={"q": "blue"}, headers=ann.headers)
    assert found.status_code == 200
    assert found.json()["items"] == [
        {
            "service": "spotify",
            "id": "4uLU6hMCjMI75M1A2tKUQC",
            "title": "Blue Monday",
            "artist": "Artist",
            "duration": 214,
            "duration_ms": 214_000,
            "url": "https://open.spotify.com/track/4uLU6hMCjMI75M1A2tKUQC",
            "artwork_url": "https://i.scdn.co/image/300-4uLU6hMCjMI75M1A2tKUQC",
        }
    ]
    assert client.get("/api/services/spotify/search", params={"q": " "}, headers=ann.headers).status_code == 422
    fake_spotify.forced = [(429, {"Retry-After": "30"}, {"error": {"status": 429, "message": "slow"}})]
    limited = client.get("/api/services/spotify/search", params={"q": "new"}, headers=ann.headers)
    assert limited.status_code == 429 and limited.headers["retry-after"] == "30"
    assert limited.json()["error"]["details"] == {"retry_after": 30}


def test_services_spotify_not_configured(tmp_path: Path, migrated_sqlite_template: Path) -> None:
    settings = app_settings(sqlite_copy(migrated_sqlite_template, tmp_path), source_settings())
    with TestClient(create_app(settings)) as plain:
        ann = Guest(plain, "Ann")
        assert error_code(plain.get("/api/services/spotify/login", headers=ann.headers)) == "service_not_configured"
        search = plain.get("/api/services/spotify/search", params={"q": "x"}, headers=ann.headers)
        assert search.status_code == 409 and error_code(search) == "service_not_configured"
