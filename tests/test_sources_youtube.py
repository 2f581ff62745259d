"""YouTube through google-api-python-client: against the local fake, and with googleapiclient's HttpMock."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from googleapiclient.discovery import build
from googleapiclient.http import HttpMock, HttpMockSequence

from rooms_server.credentials import Credential
from rooms_server.sources import SourceError
from rooms_server.sources.youtube import list_video, video_info
from tests.fake_services import API_KEY, VIDEO_ID, FakeYouTube, error, fake_youtube as fake_youtube
from tests.source_helpers import Rig, rig, source_settings, sqlite_copy

LINK = f"https://youtu.be/{VIDEO_ID}?t=42"


@pytest.fixture
async def yt(fake_youtube: FakeYouTube, tmp_path: Path, migrated_sqlite_template: Path) -> AsyncIterator[Rig]:
    async with rig(sqlite_copy(migrated_sqlite_template, tmp_path), source_settings(youtube=fake_youtube)) as r:
        yield r


async def refused(r: Rig, user_id: str | None = None) -> SourceError:
    with pytest.raises(SourceError) as caught:
        await r.sources.resolve("youtube", LINK, user_id)
    return caught.value


async def test_youtube_resolves_title_and_duration(yt: Rig, fake_youtube: FakeYouTube) -> None:
    fake_youtube.add_video(title="Never Gonna", duration="PT3M33S")
    track = await yt.sources.resolve("youtube", LINK, None)
    assert (track.title, track.duration_s, track.url) == (
        "Never Gonna",
        213,
        f"https://www.youtube.com/watch?v={VIDEO_ID}",
    )
    call = fake_youtube.calls()[0]
    assert call.query["key"] == API_KEY and call.query["id"] == VIDEO_ID
    assert call.query["part"] == "snippet,contentDetails,status"
    await yt.sources.resolve("youtube", f"https://www.youtube.com/watch?v={VIDEO_ID}", None)
    assert len(fake_youtube.calls()) == 1  # cached: one quota unit per video and TTL


@pytest.mark.parametrize(
    ("video", "code"),
    [
        (None, "unknown_media"),
        ({"embeddable": False}, "video_not_embeddable"),
        ({"live": "live", "duration": "P0D"}, "live_stream"),
        ({"live": "upcoming"}, "live_stream"),
        ({"duration": "P0D"}, "live_stream"),
        ({"privacyStatus": "private"}, "video_private"),
        ({"uploadStatus": "rejected"}, "unknown_media"),
        ({"duration": "P2DT1S"}, "track_too_long"),
        ({"duration": "3:33"}, "provider_error"),
    ],
)
async def test_youtube_refusals_have_codes(yt: Rig, fake_youtube: FakeYouTube, video: Any, code: str) -> None:
    if video is not None:
        fake_youtube.add_video(**video)
    assert (await refused(yt)).code == code


async def test_youtube_quota_exceeded_blocks_until_the_reset(yt: Rig, fake_youtube: FakeYouTube) -> None:
    fake_youtube.add_video()
    fake_youtube.forced = [
        error(403, "The request cannot be completed because you have exceeded your quota.", "quotaExceeded")
    ]
    first = await refused(yt)
    assert first.code == "provider_quota_exceeded" and 0 < (first.retry_after or 0) <= 86_400
    assert len(fake_youtube.calls()) == 1  # never retried
    assert (await refused(yt)).code == "provider_quota_exceeded"
    assert len(fake_youtube.calls()) == 1  # blocked: no more quota spent


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        (error(403, "Rate", "rateLimitExceeded", {"Retry-After": "5"}), "provider_rate_limited"),
        (error(429, "Too many"), "provider_rate_limited"),
        (error(500, "Backend Error"), "provider_unavailable"),
        (error(403, "Forbidden", "forbidden"), "provider_auth_failed"),
        (error(404, "Not found", "videoNotFound"), "unknown_media"),
    ],
)
async def test_youtube_provider_errors_have_codes(yt: Rig, fake_youtube: FakeYouTube, reply: Any, code: str) -> None:
    fake_youtube.forced = [reply]
    assert (await refused(yt)).code == code


async def test_youtube_wrong_key(yt: Rig, fake_youtube: FakeYouTube) -> None:
    yt.sources.youtube.settings = source_settings(youtube=fake_youtube, youtube_api_key="wrong")
    assert (await refused(yt)).code == "provider_auth_failed"


async def test_youtube_uses_the_users_token_while_valid(yt: Rig, fake_youtube: FakeYouTube) -> None:
    fake_youtube.add_video()
    fake_youtube.user_tokens.add("ya29.user")
    expiry = datetime.now(UTC) + timedelta(hours=1)
    await yt.sources.store.save(yt.user_id, "youtube", Credential("ya29.user", None, expiry))
    await yt.sources.resolve("youtube", LINK, yt.user_id)
    call = fake_youtube.calls()[0]
    assert call.bearer == "ya29.user" and "key" not in call.query


async def test_youtube_user_token_refused_asks_for_a_new_one(yt: Rig, fake_youtube: FakeYouTube) -> None:
    yt.sources.youtube.settings = source_settings(youtube=fake_youtube, youtube_api_key="")
    await yt.sources.store.save(yt.user_id, "youtube", Credential("ya29.stale", None, None))
    fake_youtube.forced = [error(401, "Invalid Credentials")]
    fake_youtube.user_tokens.add("ya29.stale")
    assert (await refused(yt, yt.user_id)).code == "reconnect_required"
    expired = datetime.now(UTC) - timedelta(minutes=1)
    await yt.sources.store.save(yt.user_id, "youtube", Credential("ya29.old", None, expired))
    assert (await refused(yt, yt.user_id)).code == "reconnect_required"


async def test_youtube_slow_api_times_out(yt: Rig, fake_youtube: FakeYouTube) -> None:
    yt.sources.youtube.settings = source_settings(youtube=fake_youtube, timeout_s=0.2)
    fake_youtube.server.delay_s = 1.0
    # The fake answers after 1 s with the video: only the 0.2 s timeout makes this unavailable.
    assert (await refused(yt)).code == "provider_unavailable"


# -- googleapiclient.http.HttpMock: the client and the parsing, without any server -----------


def client(http: Any) -> Any:
    return build("youtube", "v3", http=http, developerKey="K", static_discovery=True, cache_discovery=False)


def video(**status: Any) -> str:
    item = {
        "id": VIDEO_ID,
        "snippet": {"title": "Mocked", "liveBroadcastContent": "none"},
        "contentDetails": {"duration": "PT1H2M3S"},
        "status": {"embeddable": True, "privacyStatus": "public", **status},
    }
    return json.dumps({"items": [item]})


def test_youtube_httpmock_videos_list(tmp_path: Path) -> None:
    body = tmp_path / "videos.json"
    body.write_text(video())
    data = list_video(client(HttpMock(str(body), {"status": "200"})), VIDEO_ID)
    track = video_info(data, VIDEO_ID, "https://www.youtube.com/watch?v=" + VIDEO_ID)
    assert (track.title, track.duration_s) == ("Mocked", 3723)


def test_youtube_httpmock_request_names_parts_id_and_key() -> None:
    seq = HttpMockSequence([({"status": "200"}, "echo_request_uri")])
    echoed = client(seq).videos().list(part="snippet,contentDetails,status", id=VIDEO_ID).execute()
    assert "part=snippet%2CcontentDetails%2Cstatus" in echoed and f"id={VIDEO_ID}" in echoed and "key=K" in echoed
    headers = HttpMockSequence([({"status": "200"}, "echo_request_headers_as_json")])
    sent = list_video(client(headers), VIDEO_ID, token="ya29.user")
    assert sent["Authorization"] == "Bearer ya29.user"


def test_youtube_httpmock_errors() -> None:
    quota = json.dumps(error(403, "quota", "quotaExceeded")[2])
    mock = HttpMockSequence([({"status": "403"}, quota), ({"status": "200"}, video(embeddable=False))])
    youtube = client(mock)
    with pytest.raises(SourceError) as caught:
        list_video(youtube, VIDEO_ID)
    assert caught.value.code == "provider_quota_exceeded"
    with pytest.raises(SourceError) as caught:
        video_info(list_video(youtube, VIDEO_ID), VIDEO_ID, "u")
    assert caught.value.code == "video_not_embeddable"
