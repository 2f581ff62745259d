"""Track sources: from a pasted link to a title and a duration, cached in the engine.

``Sources`` is the one entry point (built in the app's lifespan). It parses the link (strictly, see
``links``), answers from the engine's metadata cache when it can (Redis with ``redis://``, shared by
every process), else asks the service and caches the answer for ``METADATA_CACHE_TTL_S``. Lasting
refusals (unknown, private, live, not embeddable) are remembered for a few minutes so a repeated
paste costs no quota. A rate limit or an exhausted quota blocks the service for everyone until its
Retry-After / the quota reset: later calls fail at once with the remaining time, never sleep.

When neither the server nor the user holds credentials for a service, ``for_add`` accepts the
title and duration the client sent (validated by the protocol), with the canonical link.
"""

from __future__ import annotations

import hashlib
import logging
import time

import orjson

from rooms_server.config import Settings
from rooms_server.credentials import CredentialStore, TokenCipher
from rooms_server.db.session import Database
from rooms_server.engine import Engine
from rooms_server.sources.base import LASTING_ERRORS, SourceError, TrackInfo, TrackSource, bounded_track
from rooms_server.sources.links import NAMES, Link, parse_link
from rooms_server.sources.short_links import ShortLinks, is_short_link
from rooms_server.sources.spotify import SpotifySource
from rooms_server.sources.youtube import YouTubeSource, thumbnail_url

__all__ = ["SourceError", "Sources", "TrackInfo", "described_track"]

log = logging.getLogger(__name__)

FAILURE_TTL_S = 300
SEARCH_TTL_S = 600
BLOCKING_ERRORS = frozenset({"provider_rate_limited", "provider_quota_exceeded"})


class Sources:
    def __init__(self, settings: Settings, engine: Engine, store: CredentialStore) -> None:
        self.ttl_s = settings.sources.metadata_cache_ttl_s
        self.engine = engine
        self.store = store
        self.spotify = SpotifySource(settings, store)
        self.youtube = YouTubeSource(settings, store)
        self.short_links = ShortLinks(settings.sources)
        self._by_service: dict[str, TrackSource] = {"spotify": self.spotify, "youtube": self.youtube}

    @classmethod
    def build(cls, settings: Settings, db: Database, engine: Engine) -> Sources:
        return cls(settings, engine, CredentialStore(db, TokenCipher.from_settings(settings), engine))

    async def can_resolve(self, service: str, user_id: str | None) -> bool:
        """Whether the server or this user holds credentials for the service."""
        if self._by_service[service].app_configured():
            return True
        return user_id is not None and await self.store.has(user_id, service)

    async def for_add(
        self, service: str, url: str, user_id: str, *, title: str | None, duration_s: int | None
    ) -> TrackInfo:
        """The track an add command stores: resolved, or as the client described it when nothing can resolve."""
        url = await self.expand(service, url)
        link = parse_link(service, url)
        if await self.can_resolve(service, user_id):
            return await self.lookup(link, user_id)
        return described_track(service, url, title, duration_s)

    async def resolve(self, service: str, url: str, user_id: str | None) -> TrackInfo:
        return await self.lookup(parse_link(service, await self.expand(service, url)), user_id)

    async def expand(self, service: str, url: str) -> str:
        """A ``spotify.link`` short link becomes the track link it stands for; other links stay."""
        if service == "spotify" and is_short_link(url):
            return await self.short_links.expand(url)
        return url

    def status(self) -> dict[str, dict[str, bool]]:
        """What the server itself can do per service: resolve links, search (``GET /api/sources``)."""
        spotify = self.spotify.app_configured()
        return {
            "spotify": {"resolve": spotify, "search": spotify},
            "youtube": {"resolve": self.youtube.app_configured(), "search": False},
        }

    async def lookup(self, link: Link, user_id: str | None) -> TrackInfo:
        # v2: entries carry artwork, name and artist (v1 entries, without them, are simply not read).
        key = f"meta:v2:{link.service}:{link.item_id}"
        cached = await self._cache_get(key)
        if cached is not None:
            return _decode(cached)
        await self._check_blocked(link.service)
        try:
            info = await self._by_service[link.service].fetch(link.item_id, link.url, user_id)
        except SourceError as exc:
            await self._remember(key, exc, link.service)
            raise
        await self._cache_set(key, orjson.dumps({"track": _encode(info)}), self.ttl_s)
        return info

    async def search_spotify(self, query: str, limit: int, user_id: str | None) -> list[TrackInfo]:
        digest = hashlib.sha256(query.casefold().encode()).hexdigest()[:32]
        key = f"search:v2:spotify:{limit}:{digest}"
        cached = await self._cache_get(key)
        if cached is not None:
            return [TrackInfo(**item) for item in orjson.loads(cached)]
        await self._check_blocked("spotify")
        try:
            found = await self.spotify.search(query, limit, user_id)
        except SourceError as exc:
            await self._remember(None, exc, "spotify")
            raise
        await self._cache_set(key, orjson.dumps([_encode(info) for info in found]), SEARCH_TTL_S)
        return found

    # -- the engine's cache (best effort: a cache failure is a miss) ----------------------------

    async def _check_blocked(self, service: str) -> None:
        raw = await self._cache_get(f"block:{service}")
        if raw is None:
            return
        block = orjson.loads(raw)
        remaining = int(block["until"] - time.time()) + 1
        if remaining > 0:
            raise SourceError(block["code"], block["message"], remaining)

    async def _remember(self, key: str | None, exc: SourceError, service: str) -> None:
        if exc.code in BLOCKING_ERRORS and exc.retry_after:
            block = {"code": exc.code, "message": exc.message, "until": time.time() + exc.retry_after}
            await self._cache_set(f"block:{service}", orjson.dumps(block), exc.retry_after)
        elif key is not None and exc.code in LASTING_ERRORS:
            failure = {"error": {"code": exc.code, "message": exc.message}}
            await self._cache_set(key, orjson.dumps(failure), min(FAILURE_TTL_S, self.ttl_s))

    async def _cache_get(self, key: str) -> bytes | None:
        try:
            return await self.engine.cache.get(key)
        except Exception as exc:  # the cache is an optimisation; never fail a lookup over it
            log.warning("metadata cache read failed: %s", exc)
            return None

    async def _cache_set(self, key: str, value: bytes, ttl_s: float) -> None:
        try:
            await self.engine.cache.set(key, value, ttl_s)
        except Exception as exc:
            log.warning("metadata cache write failed: %s", exc)


def described_track(service: str, url: str, title: str | None, duration_s: int | None) -> TrackInfo:
    """A track as the client describes it, for a service nobody holds credentials for; the link is still checked."""
    link = parse_link(service, url)
    if title is None or duration_s is None:
        raise SourceError(
            "metadata_required", f"{NAMES[service]} is not configured on this server: send title and duration"
        )
    artwork = thumbnail_url(link.item_id) if service == "youtube" else None  # Spotify's needs the API
    return bounded_track(service, link.item_id, link.url, title, duration_s, artwork_url=artwork)


def _encode(info: TrackInfo) -> dict[str, object]:
    return {
        "service": info.service,
        "item_id": info.item_id,
        "title": info.title,
        "duration_s": info.duration_s,
        "url": info.url,
        "artwork_url": info.artwork_url,
        "name": info.name,
        "artist": info.artist,
    }


def _decode(raw: bytes) -> TrackInfo:
    entry = orjson.loads(raw)
    if "error" in entry:
        raise SourceError(entry["error"]["code"], entry["error"]["message"])
    return TrackInfo(**entry["track"])
