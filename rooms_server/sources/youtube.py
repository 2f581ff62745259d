"""YouTube videos through google-api-python-client: ``videos.list`` with snippet, contentDetails, status.

The client is built from the discovery document shipped in the package (no network) for each call,
with its own ``httplib2.Http`` (not thread-safe) and the configured timeout, against
``YOUTUBE_API_URL``. Whose credentials: a user's Google OAuth access token when they handed one in
and it has not expired, else the server's API key. ``videos.list`` costs 1 unit of a daily quota of
10,000; a ``quotaExceeded`` is not retried (it lasts until midnight Pacific time) and becomes
``provider_quota_exceeded`` with the seconds until then.

Refused with their own codes: unknown or deleted videos (``unknown_media``), private ones
(``video_private``), live streams, upcoming streams and premieres (``live_stream``), videos that
cannot be embedded or are age-restricted (``video_not_embeddable``).
"""

from __future__ import annotations

import logging
from typing import Any

import anyio
import httplib2
import orjson
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from rooms_server.config import Settings
from rooms_server.credentials import CredentialStore, CredentialUnreadable
from rooms_server.sources.base import SourceError, TrackInfo, bounded_track, run_blocking
from rooms_server.sources.durations import iso8601_seconds, retry_after_seconds, seconds_until_quota_reset

# googleapiclient logs request URLs, API key included, at DEBUG: never let it.
logging.getLogger("googleapiclient").setLevel(logging.INFO)

SERVICE = "youtube"
PARTS = "snippet,contentDetails,status"
TOKEN_MARGIN_S = 60
GONE_UPLOADS = frozenset({"deleted", "failed", "rejected"})


class YouTubeSource:
    service = SERVICE

    def __init__(self, settings: Settings, store: CredentialStore) -> None:
        self.settings = settings.sources
        self.store = store
        self._limiter = anyio.CapacityLimiter(8)

    def app_configured(self) -> bool:
        return self.settings.youtube_configured

    async def fetch(self, item_id: str, canonical_url: str, user_id: str | None) -> TrackInfo:
        token = await self._user_token(user_id) if user_id else None
        if token is None and not self.app_configured():
            raise SourceError("service_not_configured", "YouTube is not configured on this server")

        def call() -> dict[str, Any]:
            http = httplib2.Http(timeout=self.settings.timeout_s)
            return list_video(self.client(http, with_key=token is None), item_id, token=token)

        data = await run_blocking(call, timeout_s=self.settings.timeout_s + 0.5, limiter=self._limiter, what="YouTube")
        return video_info(data, item_id, canonical_url)

    def client(self, http: Any, *, with_key: bool) -> Any:
        """A YouTube Data API client from the bundled discovery document (no network)."""
        return build(
            "youtube",
            "v3",
            http=http,
            developerKey=self.settings.youtube_api_key if with_key else None,
            static_discovery=True,
            cache_discovery=False,
            client_options={"api_endpoint": self.settings.youtube_api_url},
        )

    async def _user_token(self, user_id: str) -> str | None:
        """The user's access token while it is valid; without a Google client to refresh it, then the key."""
        try:
            credential = await self.store.load(user_id, SERVICE)
        except CredentialUnreadable:
            raise SourceError(
                "reconnect_required", "your YouTube connection cannot be read; hand in a new token"
            ) from None
        if credential is None:
            return None
        if credential.expires_within(TOKEN_MARGIN_S):
            if self.app_configured():
                return None
            raise SourceError("reconnect_required", "your YouTube token has expired; hand in a new one")
        return credential.access_token


def list_video(youtube: Any, video_id: str, *, token: str | None = None, http: Any = None) -> dict[str, Any]:
    """Blocking: the ``videos.list`` answer for one id; errors become SourceError."""
    request = youtube.videos().list(part=PARTS, id=video_id, maxResults=1)
    if token is not None:
        request.headers["Authorization"] = f"Bearer {token}"
    try:
        data = request.execute(http=http, num_retries=0)
    except HttpError as exc:
        raise http_error(exc, user_token=token is not None) from None
    except (httplib2.HttpLib2Error, OSError):
        raise SourceError("provider_unavailable", "YouTube cannot be reached; try again") from None
    if not isinstance(data, dict):
        raise SourceError("provider_error", "YouTube gave an unexpected answer")
    return data


def video_info(data: dict[str, Any], video_id: str, canonical_url: str) -> TrackInfo:
    items = data.get("items")
    if not isinstance(items, list) or not items or not isinstance(items[0], dict):
        raise SourceError("unknown_media", "YouTube has no such video (or it is private)")
    video = items[0]
    snippet, details, status = (_dict(video.get(part)) for part in ("snippet", "contentDetails", "status"))
    _check_playable(snippet, details, status)
    duration = details.get("duration")
    if not isinstance(duration, str):
        raise SourceError("live_stream", "this video is a live stream or premiere; add it once it has ended")
    try:
        seconds = iso8601_seconds(duration)
    except ValueError:
        raise SourceError("provider_error", "YouTube gave an unreadable duration") from None
    if seconds == 0:  # P0D: how live streams report their duration
        raise SourceError("live_stream", "live streams cannot be added")
    title = str(snippet.get("title") or "")
    channel = snippet.get("channelTitle")
    return bounded_track(
        SERVICE,
        video_id,
        canonical_url,
        title,
        seconds,
        artwork_url=thumbnail(snippet.get("thumbnails")) or thumbnail_url(video_id),
        name=title,
        artist=channel if isinstance(channel, str) else None,
    )


def thumbnail_url(video_id: str) -> str:
    """YouTube's 480×360 still of a video, known from its id alone (no API call, no key)."""
    return f"https://i.ytimg.com/vi/{video_id}/hqdefault.jpg"


def thumbnail(thumbnails: object) -> str | None:
    """The API's ``high`` thumbnail (480×360), else ``medium``; None when it gave neither."""
    if not isinstance(thumbnails, dict):
        return None
    for size in ("high", "medium"):
        entry = thumbnails.get(size)
        if isinstance(entry, dict) and isinstance(entry.get("url"), str):
            return str(entry["url"])
    return None


def _check_playable(snippet: dict[str, Any], details: dict[str, Any], status: dict[str, Any]) -> None:
    if status.get("uploadStatus") in GONE_UPLOADS:
        raise SourceError("unknown_media", "this YouTube video was removed")
    if status.get("privacyStatus") == "private":
        raise SourceError("video_private", "this YouTube video is private")
    if snippet.get("liveBroadcastContent", "none") != "none":
        raise SourceError("live_stream", "live and upcoming streams cannot be added")
    if status.get("embeddable") is False:
        raise SourceError("video_not_embeddable", "the owner does not allow this video to be played elsewhere")
    if _dict(details.get("contentRating")).get("ytRating") == "ytAgeRestricted":
        raise SourceError("video_not_embeddable", "age-restricted videos cannot be played in a room")


def http_error(exc: HttpError, *, user_token: bool) -> SourceError:
    status, reasons = int(exc.status_code), _reasons(exc.content)
    if "quotaExceeded" in reasons or "dailyLimitExceeded" in reasons:
        wait = seconds_until_quota_reset()
        return SourceError("provider_quota_exceeded", "YouTube's daily quota is used up; try again tomorrow", wait)
    if status == 429 or reasons & {"rateLimitExceeded", "userRateLimitExceeded"}:
        wait = retry_after_seconds(exc.resp.get("retry-after"), default=60)
        return SourceError("provider_rate_limited", "YouTube is rate limiting us; try again later", wait)
    if status == 401:
        if user_token:
            return SourceError("reconnect_required", "YouTube refuses your token; hand in a new one")
        return SourceError("provider_auth_failed", "YouTube refuses the server's API key")
    if status == 404 or "videoNotFound" in reasons:
        return SourceError("unknown_media", "YouTube has no such video")
    if status in (400, 403):
        return SourceError("provider_auth_failed", "YouTube refuses the server's credentials")
    if status >= 500:
        return SourceError("provider_unavailable", "YouTube is unavailable; try again")
    return SourceError("provider_error", f"YouTube answered with status {status}")


def _reasons(content: bytes) -> set[str]:
    """The ``reason`` of every entry of ``error.errors`` and ``error.details``."""
    try:
        error = _dict(_dict(orjson.loads(content)).get("error"))
    except orjson.JSONDecodeError:
        return set()
    entries = [*_list(error.get("errors")), *_list(error.get("details"))]
    return {str(e["reason"]) for e in entries if isinstance(e, dict) and "reason" in e}


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []
