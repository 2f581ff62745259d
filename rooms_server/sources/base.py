"""What every track source shares: the resolved track, the one error type, and blocking calls.

SDK calls (spotipy, google-api-python-client) are blocking. ``run_blocking`` runs one of them in
a worker thread, bounded by a per-service ``CapacityLimiter`` and by a deadline: the event loop
never waits on the network, and a call that hangs is abandoned (its own socket timeout ends the
thread soon after).
"""

from __future__ import annotations

import asyncio
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

import anyio

T = TypeVar("T")

MAX_TITLE_CHARS = 512
MAX_DURATION_S = 86_400
MAX_ARTWORK_CHARS = 1000

# Stable error codes of link resolving, with the HTTP status each is answered with.
ERROR_STATUS: dict[str, int] = {
    "invalid_link": 422,
    "unsupported_link": 422,
    "short_link_unresolved": 422,
    "metadata_required": 422,
    "unknown_media": 422,
    "video_private": 422,
    "video_not_embeddable": 422,
    "live_stream": 422,
    "track_too_long": 422,
    "reconnect_required": 409,
    "service_not_configured": 409,
    "provider_rate_limited": 429,
    "provider_quota_exceeded": 429,
    "provider_auth_failed": 502,
    "provider_error": 502,
    "provider_unavailable": 503,
}
ERROR_CODES: frozenset[str] = frozenset(ERROR_STATUS)
# Refusals that depend on the media, not on the moment: worth remembering for a little while.
LASTING_ERRORS: frozenset[str] = frozenset(
    {"unknown_media", "video_private", "video_not_embeddable", "live_stream", "track_too_long"}
)


class SourceError(Exception):
    """A link that cannot become a track; ``retry_after`` (seconds) when trying later may work."""

    def __init__(self, code: str, message: str, retry_after: int | None = None) -> None:
        assert code in ERROR_CODES, code
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.retry_after = retry_after

    @property
    def status(self) -> int:
        return ERROR_STATUS[self.code]

    @property
    def hint(self) -> str:
        """The message, with when to retry."""
        return self.message if self.retry_after is None else f"{self.message} (retry in {self.retry_after} s)"


@dataclass(frozen=True, slots=True)
class TrackInfo:
    """A resolved track: what the playlist stores."""

    service: str
    item_id: str
    title: str
    duration_s: int
    url: str
    artwork_url: str | None = None  # https only: the page's CSP allows i.scdn.co and i.ytimg.com
    name: str | None = None  # the track's own name (``title`` may add the artists)
    artist: str | None = None


class TrackSource(Protocol):
    """One music service."""

    service: str

    def app_configured(self) -> bool:
        """Whether the server itself holds credentials for the service."""
        ...

    async def fetch(self, item_id: str, canonical_url: str, user_id: str | None) -> TrackInfo:
        """Title and duration from the service (no cache); raises SourceError."""
        ...


def clean_title(title: str) -> str:
    """NFC, no control characters, bounded: provider data is input like any other."""
    text = unicodedata.normalize("NFC", title)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cc").strip()
    return text[:MAX_TITLE_CHARS]


def bounded_track(
    service: str,
    item_id: str,
    url: str,
    title: str,
    duration_s: int,
    *,
    artwork_url: str | None = None,
    name: str | None = None,
    artist: str | None = None,
) -> TrackInfo:
    """A TrackInfo whose title and duration fit the playlist's columns and limits."""
    cleaned = clean_title(title)
    if not cleaned:
        raise SourceError("provider_error", f"the {service} answer has no title")
    if duration_s > MAX_DURATION_S:
        raise SourceError("track_too_long", f"tracks are limited to {MAX_DURATION_S // 3600} hours")
    return TrackInfo(
        service,
        item_id,
        cleaned,
        max(duration_s, 1),
        url,
        artwork_url=artwork(artwork_url),
        name=clean_title(name) or None if name else None,
        artist=clean_title(artist) or None if artist else None,
    )


def artwork(url: object) -> str | None:
    """A provider's image URL when it is a plain https URL of a sane length, else None."""
    if not isinstance(url, str) or len(url) > MAX_ARTWORK_CHARS or not url.startswith("https://"):
        return None
    if any(ch.isspace() or ch in "\"'<>" for ch in url):
        return None
    return url


async def run_blocking(fn: Callable[[], T], *, timeout_s: float, limiter: anyio.CapacityLimiter, what: str) -> T:
    """Run ``fn`` in a worker thread; past ``timeout_s`` give up with ``provider_unavailable``."""
    try:
        async with asyncio.timeout(timeout_s):
            return await anyio.to_thread.run_sync(fn, abandon_on_cancel=True, limiter=limiter)
    except TimeoutError:
        raise SourceError("provider_unavailable", f"{what} did not answer in time; try again") from None
