"""Pasting a link adds the track the service describes, over the socket and over HTTP (against the fakes).

Every frame is checked against docs/asyncapi.yaml by tests/ws_client.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis
from starlette.testclient import TestClient

from rooms_server.app import create_app
from rooms_server.config import SourceSettings
from rooms_server.sources.base import ERROR_CODES
from tests.fake_services import (
    TRACK_ID,
    VIDEO_ID,
    FakeSpotify,
    FakeYouTube,
    error,
    fake_spotify as fake_spotify,
    fake_youtube as fake_youtube,
)
from tests.helpers import Guest, error_code, make_group
from tests.services import REDIS_URL, require
from tests.source_helpers import app_settings, source_settings, sqlite_copy
from tests.ws_client import Phone, close_all

SPOTIFY_LINK = f"https://open.spotify.com/intl-de/track/{TRACK_ID}?si=0123456789abcdef"
YOUTUBE_LINK = f"https://music.youtube.com/watch?v={VIDEO_ID}&list=RDAMVM{VIDEO_ID}"
Room = tuple[TestClient, Guest, str]


@contextmanager
def open_room(sources: SourceSettings, tmp_path: Path, template: Path, **overrides: Any) -> Iterator[Room]:
    settings = app_settings(sqlite_copy(template, tmp_path), sources, **overrides)
    with TestClient(create_app(settings)) as client:
        try:
            ann = Guest(client, "Ann")
            yield client, ann, make_group(client, ann, "Room")["id"]
        finally:
            close_all()


@pytest.fixture
def room(
    fake_spotify: FakeSpotify, fake_youtube: FakeYouTube, tmp_path: Path, migrated_sqlite_template: Path
) -> Iterator[Room]:
    fake_spotify.add_track(name="Blue Monday", duration_ms=448_000)
    fake_youtube.add_video(title="Never Gonna Give You Up", duration="PT3M33S")
    with open_room(source_settings(fake_spotify, fake_youtube), tmp_path, migrated_sqlite_template) as opened:
        yield opened


def add(phone: Phone, service: str, url: str, **extra: Any) -> dict[str, Any]:
    return phone.command({"type": "add", "service": service, "url": url, **extra})


def test_sources_add_over_the_socket_resolves_both_services(room: Room) -> None:
    client, ann, gid = room
    phone = Phone(client, ann, gid)
    assert add(phone, "spotify", SPOTIFY_LINK)["type"] == "ack"
    track = phone.until("track_added")["track"]
    assert (track["title"], track["duration_s"]) == ("Blue Monday – Artist", 448)
    assert track["url"] == f"https://open.spotify.com/track/{TRACK_ID}"
    assert track["artwork_url"] == f"https://i.scdn.co/image/300-{TRACK_ID}"
    # The client's own title and duration are ignored when the server can resolve.
    assert add(phone, "youtube", YOUTUBE_LINK, title="Wrong", duration=1)["type"] == "ack"
    track = phone.until("track_added")["track"]
    assert (track["title"], track["duration_s"]) == ("Never Gonna Give You Up", 213)
    assert track["url"] == f"https://www.youtube.com/watch?v={VIDEO_ID}"
    assert track["artwork_url"] == f"https://i.ytimg.com/vi/{VIDEO_ID}/high.jpg"
    playlist = client.get(f"/api/groups/{gid}/playlist", headers=ann.headers).json()
    assert [(t["title"], t["duration"]) for t in playlist["tracks"]] == [
        ("Blue Monday – Artist", 448),
        ("Never Gonna Give You Up", 213),
    ]
    assert [t["artwork_url"] for t in playlist["tracks"]] == [
        f"https://i.scdn.co/image/300-{TRACK_ID}",
        f"https://i.ytimg.com/vi/{VIDEO_ID}/high.jpg",
    ]
    rejoined = Phone(client, ann, gid).first["playlist"]["tracks"]  # rebuilt or not, the snapshot has them
    assert [t["artwork_url"] for t in rejoined] == [t["artwork_url"] for t in playlist["tracks"]]


def test_sources_add_failures_have_their_own_codes(
    room: Room, fake_spotify: FakeSpotify, fake_youtube: FakeYouTube
) -> None:
    client, ann, gid = room
    phone = Phone(client, ann, gid)
    fake_youtube.add_video("aaaaaaaaaaa", embeddable=False)
    fake_youtube.add_video("bbbbbbbbbbb", live="live", duration="P0D")
    cases = [
        ("spotify", f"https://open.spotify.com.evil.com/track/{TRACK_ID}", "invalid_link"),
        ("spotify", f"https://open.spotify.com/album/{TRACK_ID}", "unsupported_link"),
        ("youtube", "https://www.youtube.com/playlist?list=PL0123456789", "unsupported_link"),
        ("spotify", "spotify:track:0000000000000000000000", "unknown_media"),
        ("youtube", "https://youtu.be/ccccccccccc", "unknown_media"),
        ("youtube", "https://youtu.be/aaaaaaaaaaa", "video_not_embeddable"),
        ("youtube", "https://youtu.be/bbbbbbbbbbb", "live_stream"),
    ]
    for service, url, code in cases:
        reply = add(phone, service, url)
        assert (reply["type"], reply.get("code")) == ("error", code), (url, reply)
    fake_spotify.forced = [(429, {"Retry-After": "42"}, {"error": {"status": 429, "message": "slow"}})]
    limited = add(phone, "spotify", "spotify:track:1111111111111111111111")
    assert limited["code"] == "provider_rate_limited" and "retry in 42 s" in limited["message"]
    fake_youtube.forced = [error(403, "quota", "quotaExceeded")]
    assert add(phone, "youtube", "https://youtu.be/ddddddddddd")["code"] == "provider_quota_exceeded"
    assert client.get(f"/api/groups/{gid}/playlist", headers=ann.headers).json()["tracks"] == []


def test_sources_add_over_http(room: Room, fake_spotify: FakeSpotify) -> None:
    client, ann, gid = room
    phone = Phone(client, ann, gid)
    added = client.post(
        f"/api/groups/{gid}/tracks", json={"service": "spotify", "url": SPOTIFY_LINK}, headers=ann.headers
    )
    assert added.status_code == 201, added.text
    assert phone.until("track_added")["track"]["title"] == "Blue Monday – Artist"
    bad = client.post(
        f"/api/groups/{gid}/tracks", json={"service": "youtube", "url": "https://vimeo.com/1"}, headers=ann.headers
    )
    assert bad.status_code == 422 and error_code(bad) == "invalid_link"
    fake_spotify.forced = [(429, {"Retry-After": "7"}, {"error": {"status": 429, "message": "slow"}})]
    body = {"service": "spotify", "url": "spotify:track:1111111111111111111111"}
    limited = client.post(f"/api/groups/{gid}/tracks", json=body, headers=ann.headers)
    assert limited.status_code == 429 and limited.headers["retry-after"] == "7"
    assert error_code(limited) == "provider_rate_limited"


def test_sources_add_without_any_credentials_takes_the_clients_metadata(
    tmp_path: Path, migrated_sqlite_template: Path
) -> None:
    with open_room(source_settings(), tmp_path, migrated_sqlite_template) as (client, ann, gid):
        phone = Phone(client, ann, gid)
        assert add(phone, "youtube", YOUTUBE_LINK)["code"] == "metadata_required"
        assert add(phone, "youtube", "https://example.com/x", title="Song", duration=200)["code"] == "invalid_link"
        assert add(phone, "youtube", YOUTUBE_LINK, title="My title", duration=200)["type"] == "ack"
        track = phone.until("track_added")["track"]
        assert (track["title"], track["duration_s"]) == ("My title", 200)
        assert track["url"] == f"https://www.youtube.com/watch?v={VIDEO_ID}"
        assert track["artwork_url"] == f"https://i.ytimg.com/vi/{VIDEO_ID}/hqdefault.jpg"  # known from the id
        body = {"service": "spotify", "url": SPOTIFY_LINK}
        missing = client.post(f"/api/groups/{gid}/tracks", json=body, headers=ann.headers)
        assert missing.status_code == 422 and error_code(missing) == "metadata_required"


def test_sources_add_with_only_the_users_token(
    fake_spotify: FakeSpotify, tmp_path: Path, migrated_sqlite_template: Path
) -> None:
    """No app credentials on the server: a user who handed in a token still gets resolved tracks."""
    fake_spotify.add_track()
    sources = source_settings(fake_spotify, spotify_client_id="", spotify_client_secret="")
    with open_room(sources, tmp_path, migrated_sqlite_template) as (client, ann, gid):
        token = fake_spotify.issue("user")
        client.put("/api/me/services/spotify", json={"access_token": token, "expires_in": 3600}, headers=ann.headers)
        phone = Phone(client, ann, gid)
        assert add(phone, "spotify", SPOTIFY_LINK)["type"] == "ack"
        assert phone.until("track_added")["track"]["title"] == "Song – Artist"
        assert fake_spotify.api_calls()[0].bearer == token
        fake_spotify.valid_tokens.discard(token)  # expired, and no refresh token: reconnect
        assert add(phone, "spotify", "spotify:track:1111111111111111111111")["code"] == "reconnect_required"


@pytest.mark.redis
def test_sources_metadata_is_cached_in_redis(
    fake_spotify: FakeSpotify, tmp_path: Path, migrated_sqlite_template: Path
) -> None:
    require("Redis", REDIS_URL)
    fake_spotify.add_track()
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    sources = source_settings(fake_spotify)
    overrides = {"engine_url": REDIS_URL, "redis_prefix": prefix}
    r = redis.Redis.from_url(REDIS_URL)
    try:
        with open_room(sources, tmp_path, migrated_sqlite_template, **overrides) as (client, ann, gid):
            assert add(Phone(client, ann, gid), "spotify", SPOTIFY_LINK)["type"] == "ack"
            key = f"{prefix}cache:meta:v2:spotify:{TRACK_ID}"
            assert r.exists(key) and 0 < r.ttl(key) <= sources.metadata_cache_ttl_s
    finally:
        keys = list(r.scan_iter(f"{prefix}*"))
        if keys:
            r.delete(*keys)
        r.close()


def test_sources_error_codes_are_documented() -> None:
    root = Path(__file__).resolve().parents[1]
    asyncapi, sources = (root / "docs" / "asyncapi.yaml").read_text(), (root / "docs" / "SOURCES.md").read_text()
    for code in ERROR_CODES:
        assert f"`{code}`" in asyncapi and f"`{code}`" in sources, code
