"""Spotify through spotipy against the local fakes: tokens, refresh, rate limits, errors, cache."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from rooms_server.credentials import Credential
from rooms_server.sources import SourceError
from tests.fake_services import TRACK_ID, FakeSpotify, fake_spotify as fake_spotify
from tests.source_helpers import Rig, rig, source_settings, sqlite_copy

LINK = f"https://open.spotify.com/track/{TRACK_ID}?si=abc"
OTHER = "0VjIjW4GlUZAMYd2vXMi3b"


@pytest.fixture
async def spot(fake_spotify: FakeSpotify, tmp_path: Path, migrated_sqlite_template: Path) -> AsyncIterator[Rig]:
    fake_spotify.add_track()
    fake_spotify.add_track(OTHER, name="Other", duration_ms=1_000)
    async with rig(sqlite_copy(migrated_sqlite_template, tmp_path), source_settings(fake_spotify)) as r:
        yield r


async def connect_user(r: Rig, fake: FakeSpotify, *, expires_in: int = 3600, refresh: bool = True) -> str:
    token = fake.issue("user")
    refresh_token = "refresh-known" if refresh else None
    fake.refresh_tokens.add("refresh-known")
    expiry = datetime.now(UTC) + timedelta(seconds=expires_in)
    await r.sources.store.save(r.user_id, "spotify", Credential(token, refresh_token, expiry))
    return token


async def refused(r: Rig, link: str = LINK, user_id: str | None = None) -> SourceError:
    with pytest.raises(SourceError) as caught:
        await r.sources.resolve("spotify", link, user_id)
    return caught.value


async def test_spotify_resolves_with_the_app_token(spot: Rig, fake_spotify: FakeSpotify) -> None:
    track = await spot.sources.resolve("spotify", LINK, None)
    assert (track.title, track.duration_s) == ("Song – Artist", 214)
    assert track.url == f"https://open.spotify.com/track/{TRACK_ID}"
    assert len(fake_spotify.token_calls("client_credentials")) == 1
    assert fake_spotify.api_calls()[0].bearer == "app-1"


async def test_spotify_caches_metadata_and_the_app_token(spot: Rig, fake_spotify: FakeSpotify) -> None:
    await spot.sources.resolve("spotify", LINK, None)
    await spot.sources.resolve("spotify", f"spotify:track:{TRACK_ID}", None)
    assert (await spot.sources.resolve("spotify", f"spotify:track:{OTHER}", None)).duration_s == 1
    assert len(fake_spotify.api_calls()) == 2  # the second paste of the first track came from the cache
    assert len(fake_spotify.token_calls()) == 1


async def test_spotify_prefers_the_users_own_token(spot: Rig, fake_spotify: FakeSpotify) -> None:
    token = await connect_user(spot, fake_spotify)
    await spot.sources.resolve("spotify", LINK, spot.user_id)
    assert fake_spotify.api_calls()[0].bearer == token
    assert fake_spotify.token_calls() == []


async def test_spotify_refreshes_an_expiring_token_before_the_call(spot: Rig, fake_spotify: FakeSpotify) -> None:
    old = await connect_user(spot, fake_spotify, expires_in=30)  # within the refresh margin
    await spot.sources.resolve("spotify", LINK, spot.user_id)
    stored = await spot.sources.store.load(spot.user_id, "spotify")
    assert stored is not None and stored.access_token != old and stored.refresh_token == "refresh-known"
    assert stored.expires_at is not None and stored.expires_at > datetime.now(UTC) + timedelta(minutes=50)
    assert [c.bearer for c in fake_spotify.api_calls()] == [stored.access_token]


async def test_spotify_401_refreshes_and_retries_once(spot: Rig, fake_spotify: FakeSpotify) -> None:
    expired = await connect_user(spot, fake_spotify)
    fake_spotify.valid_tokens.discard(expired)  # revoked early: the API answers 401
    track = await spot.sources.resolve("spotify", LINK, spot.user_id)
    assert track.title == "Song – Artist"
    bearers = [c.bearer for c in fake_spotify.api_calls()]
    assert bearers[0] == expired and bearers[1] != expired and len(bearers) == 2
    assert len(fake_spotify.token_calls("refresh_token")) == 1


async def test_spotify_401_after_refresh_asks_to_reconnect(spot: Rig, fake_spotify: FakeSpotify) -> None:
    await connect_user(spot, fake_spotify)
    fake_spotify.forced = [(401, {}, {"error": {"status": 401, "message": "no"}})] * 2
    error = await refused(spot, user_id=spot.user_id)
    assert error.code == "reconnect_required"
    assert len(fake_spotify.api_calls()) == 2


async def test_spotify_rotated_refresh_token_is_kept(spot: Rig, fake_spotify: FakeSpotify) -> None:
    fake_spotify.rotate_refresh = True
    await connect_user(spot, fake_spotify, expires_in=0)
    await spot.sources.resolve("spotify", LINK, spot.user_id)
    stored = await spot.sources.store.load(spot.user_id, "spotify")
    assert stored is not None and stored.refresh_token not in (None, "refresh-known")


async def test_spotify_revoked_refresh_token_disconnects(spot: Rig, fake_spotify: FakeSpotify) -> None:
    await connect_user(spot, fake_spotify, expires_in=0)
    fake_spotify.refresh_tokens.clear()  # invalid_grant
    assert (await refused(spot, user_id=spot.user_id)).code == "reconnect_required"
    assert await spot.sources.store.load(spot.user_id, "spotify") is None
    assert (await spot.sources.resolve("spotify", LINK, spot.user_id)).title  # the app token takes over


async def test_spotify_refreshes_once_for_concurrent_calls(spot: Rig, fake_spotify: FakeSpotify) -> None:
    await connect_user(spot, fake_spotify, expires_in=0)
    links = [LINK, f"spotify:track:{OTHER}"]
    await asyncio.gather(*(spot.sources.resolve("spotify", link, spot.user_id) for link in links))
    assert len(fake_spotify.token_calls("refresh_token")) == 1


async def test_spotify_429_fails_at_once_with_retry_after(spot: Rig, fake_spotify: FakeSpotify) -> None:
    fake_spotify.forced = [(429, {"Retry-After": "120"}, {"error": {"status": 429, "message": "slow"}})]
    error = await refused(spot)
    assert error.code == "provider_rate_limited" and error.retry_after == 120
    assert len(fake_spotify.api_calls()) == 1  # failed at once: neither retried nor slept on Retry-After
    blocked = await refused(spot, f"spotify:track:{OTHER}")  # everyone waits: no call is made
    assert blocked.code == "provider_rate_limited" and 0 < (blocked.retry_after or 0) <= 121
    assert len(fake_spotify.api_calls()) == 1


async def test_spotify_unknown_track_is_remembered(spot: Rig, fake_spotify: FakeSpotify) -> None:
    missing = "https://open.spotify.com/track/0000000000000000000000"
    assert (await refused(spot, missing)).code == "unknown_media"
    assert (await refused(spot, missing)).code == "unknown_media"
    assert len(fake_spotify.api_calls()) == 1


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (500, "provider_unavailable"),
        (503, "provider_unavailable"),
        (403, "provider_auth_failed"),
        (418, "provider_error"),
    ],
)
async def test_spotify_provider_errors_have_codes(spot: Rig, fake_spotify: FakeSpotify, status: int, code: str) -> None:
    fake_spotify.forced = [(status, {"Retry-After": "3600"}, {"error": {"status": status, "message": "x"}})]
    assert (await refused(spot)).code == code
    assert len(fake_spotify.api_calls()) == 1  # no retry, not even on a 503 with Retry-After


async def test_spotify_slow_api_times_out(spot: Rig, fake_spotify: FakeSpotify) -> None:
    await spot.sources.resolve("spotify", f"spotify:track:{OTHER}", None)  # the app token first
    spot.sources.spotify.settings = source_settings(fake_spotify, timeout_s=0.2)
    fake_spotify.api.delay_s = 1.0
    # The fake answers after 1 s with the track: only the 0.2 s timeout makes this unavailable.
    assert (await refused(spot)).code == "provider_unavailable"


async def test_spotify_wrong_app_credentials(spot: Rig, fake_spotify: FakeSpotify) -> None:
    spot.sources.spotify.accounts.settings = source_settings(fake_spotify, spotify_client_secret="wrong")
    assert (await refused(spot)).code == "provider_auth_failed"


async def test_spotify_accounts_rate_limit(spot: Rig, fake_spotify: FakeSpotify) -> None:
    fake_spotify.forced_token = [(429, {"Retry-After": "9"}, {"error": "rate_limited"})]
    error = await refused(spot)
    assert error.code == "provider_rate_limited" and error.retry_after == 9


async def test_spotify_search_with_the_app_token(spot: Rig, fake_spotify: FakeSpotify) -> None:
    found = await spot.sources.search_spotify("oth", 5, spot.user_id)
    assert [(t.title, t.url) for t in found] == [("Other – Artist", f"https://open.spotify.com/track/{OTHER}")]
    await spot.sources.search_spotify("OTH", 5, spot.user_id)
    assert len(fake_spotify.api_calls("/v1/search")) == 1  # cached
