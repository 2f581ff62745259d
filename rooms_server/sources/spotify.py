"""Spotify tracks through spotipy: ``GET /v1/tracks/{id}`` one at a time, and track search.

Whose token: the user's own when they connected Spotify (refreshed shortly before it expires, one
refresh at a time per user), else the server's app token (client-credentials flow). A 401 gets one
refresh and one retry; a second 401 means the user must reconnect (or the app credentials are
wrong). A 429 becomes ``provider_rate_limited`` with its Retry-After at once — spotipy's retries
are off, so a worker thread never sleeps on it. Since February 2026 Development-Mode apps lost the
batch endpoint and ``popularity``/``available_markets``, so nothing here depends on them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import requests
import spotipy

from rooms_server.config import Settings
from rooms_server.credentials import Credential, CredentialStore, CredentialUnreadable, expiry_from_epoch
from rooms_server.engine import EngineBusy
from rooms_server.sources.base import SourceError, TrackInfo, bounded_track, run_blocking
from rooms_server.sources.durations import retry_after_seconds
from rooms_server.sources.spotify_auth import SpotifyAccounts, TokenInfo

T = TypeVar("T")
SERVICE = "spotify"
REFRESH_MARGIN_S = 60  # refresh this long before the expiry, as spotipy does
APP = "app"
USER = "user"


class _Unauthorized(Exception):
    """The API answered 401: the token needs a refresh."""


ErrorMapper = Callable[[spotipy.SpotifyException], Exception]


class SpotifySource:
    service = SERVICE

    def __init__(self, settings: Settings, store: CredentialStore) -> None:
        self.settings = settings.sources
        self.store = store
        self.accounts = SpotifyAccounts(settings.sources, settings.spotify_redirect_uri)
        self._limiter = anyio.CapacityLimiter(8)
        self._app_lock = asyncio.Lock()
        self._app_token: TokenInfo | None = None

    def app_configured(self) -> bool:
        return self.settings.spotify_configured

    async def fetch(self, item_id: str, canonical_url: str, user_id: str | None) -> TrackInfo:
        data = await self._call(user_id, lambda sp: sp.track(item_id))
        return track_info(data, canonical_url)

    async def search(self, query: str, limit: int, user_id: str | None) -> list[TrackInfo]:
        data = await self._call(user_id, lambda sp: sp.search(q=query, limit=limit, type="track"))
        tracks = data.get("tracks") if isinstance(data, dict) else None
        items = tracks.get("items") if isinstance(tracks, dict) else None
        found: list[TrackInfo] = []
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                try:
                    found.append(track_info(item, f"https://open.spotify.com/track/{item['id']}"))
                except SourceError:
                    continue  # a malformed or overlong item is left out, not an error
        return found

    # -- OAuth (authorization-code flow) ---------------------------------------------------------

    def authorize_url(self, state: str) -> str:
        return self.accounts.authorize_url(state)

    async def connect(self, user_id: str, code: str) -> Credential:
        """Exchange the callback's code and store the user's credential."""
        info = await self._blocking(lambda: self.accounts.exchange_code(code), "Spotify's accounts service")
        credential = Credential(info["access_token"], info.get("refresh_token"), expiry_from_epoch(info["expires_at"]))
        await self.store.save(user_id, SERVICE, credential)
        return credential

    # -- tokens ----------------------------------------------------------------------------------

    async def as_user(self, user_id: str, fn: Callable[[spotipy.Spotify], T], errors: ErrorMapper) -> T:
        """A call with the user's own token only (never the app's); ``errors`` maps the API's refusals."""
        if await self._load(user_id) is None:
            raise SourceError("reconnect_required", "connect Spotify first")
        return await self._call(user_id, fn, errors)

    async def _call(
        self, user_id: str | None, fn: Callable[[spotipy.Spotify], T], errors: ErrorMapper | None = None
    ) -> T:
        token, kind = await self._token(user_id)
        try:
            return await self._run(token, fn, errors or api_error)
        except _Unauthorized:
            pass
        token = await (self._refresh_user(user_id, token) if kind == USER and user_id else self._app(stale=token))
        try:
            return await self._run(token, fn, errors or api_error)
        except _Unauthorized:
            if kind == USER:
                raise SourceError(
                    "reconnect_required", "Spotify refuses your connection; connect Spotify again"
                ) from None
            raise SourceError("provider_auth_failed", "Spotify refuses the server's app token") from None

    async def _token(self, user_id: str | None) -> tuple[str, str]:
        credential = await self._load(user_id) if user_id else None
        if credential is not None and user_id:
            if credential.expires_within(REFRESH_MARGIN_S):
                return await self._refresh_user(user_id, credential.access_token), USER
            return credential.access_token, USER
        if not self.app_configured():
            raise SourceError("service_not_configured", "Spotify is not configured on this server; connect Spotify")
        return await self._app(), APP

    async def _load(self, user_id: str) -> Credential | None:
        try:
            return await self.store.load(user_id, SERVICE)
        except CredentialUnreadable:
            raise SourceError("reconnect_required", "your Spotify connection cannot be read; connect again") from None

    async def _refresh_user(self, user_id: str, stale: str) -> str:
        """A fresh token for the user: refreshed here, or already by whoever held the lock before us."""
        try:
            async with self.store.refresh_lock(user_id, SERVICE):
                credential = await self._load(user_id)
                if credential is None:
                    raise SourceError("reconnect_required", "Spotify was disconnected; connect Spotify again")
                if credential.access_token != stale and not credential.expires_within(REFRESH_MARGIN_S):
                    return credential.access_token
                return await self._refresh_with(user_id, credential)
        except EngineBusy:
            raise SourceError("provider_unavailable", "your Spotify token is being refreshed; try again") from None

    async def _refresh_with(self, user_id: str, credential: Credential) -> str:
        refresh_token = credential.refresh_token
        if refresh_token is None or not self.app_configured():
            raise SourceError("reconnect_required", "your Spotify token has expired; connect Spotify again")
        try:
            info = await self._blocking(lambda: self.accounts.refresh(refresh_token), "Spotify's accounts service")
        except SourceError as exc:
            if exc.code == "reconnect_required":
                await self.store.delete(user_id, SERVICE)  # revoked for good: the user must connect again
            raise
        renewed = Credential(
            info["access_token"], info.get("refresh_token") or refresh_token, expiry_from_epoch(info["expires_at"])
        )
        await self.store.save(user_id, SERVICE, renewed)
        return renewed.access_token

    async def _app(self, *, stale: str | None = None) -> str:
        async with self._app_lock:
            info = self._app_token
            fresh = info is not None and info["expires_at"] - REFRESH_MARGIN_S > time.time()
            if info is None or not fresh or info["access_token"] == stale:
                info = await self._blocking(self.accounts.app_token, "Spotify's accounts service")
                self._app_token = info
            token: str = info["access_token"]
            return token

    # -- the API ---------------------------------------------------------------------------------

    async def _run(self, token: str, fn: Callable[[spotipy.Spotify], T], errors: ErrorMapper) -> T:
        def call() -> T:
            with requests.Session() as session:  # no retry adapter: statuses surface as they are
                client = spotipy.Spotify(auth=token, requests_session=session, requests_timeout=self.settings.timeout_s)
                client.prefix = self.settings.spotify_api_url
                try:
                    return fn(client)
                except spotipy.SpotifyException as exc:
                    raise (_Unauthorized() if exc.http_status == 401 else errors(exc)) from None
                except requests.RequestException:
                    raise SourceError("provider_unavailable", "Spotify cannot be reached; try again") from None

        return await self._blocking(call, "Spotify")

    async def _blocking(self, fn: Callable[[], T], what: str) -> T:
        return await run_blocking(fn, timeout_s=self.settings.timeout_s + 0.5, limiter=self._limiter, what=what)


def api_error(exc: spotipy.SpotifyException) -> Exception:
    status = exc.http_status
    if status == 401:
        return _Unauthorized()
    if status == 429:
        wait = retry_after_seconds((exc.headers or {}).get("Retry-After"))
        return SourceError("provider_rate_limited", "Spotify is rate limiting us; try again later", wait)
    if status in (400, 404):
        return SourceError("unknown_media", "Spotify knows no such track")
    if status == 403:
        return SourceError("provider_auth_failed", "Spotify refused access to this track")
    if status >= 500:
        return SourceError("provider_unavailable", "Spotify is unavailable; try again")
    return SourceError("provider_error", f"Spotify answered with status {status}")


def track_info(data: Any, canonical_url: str) -> TrackInfo:
    """A track object of the Web API as a TrackInfo: ``name – artists`` and the duration in seconds."""
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise SourceError("provider_error", "Spotify gave an unexpected answer")
    duration_ms = data.get("duration_ms")
    if type(duration_ms) is not int or duration_ms < 0:
        raise SourceError("provider_error", "Spotify gave no duration for the track")
    artists = [a["name"] for a in data.get("artists") or [] if isinstance(a, dict) and isinstance(a.get("name"), str)]
    title = f"{data['name']} – {', '.join(artists)}" if artists else data["name"]
    item_id = str(data.get("id") or canonical_url.rsplit("/", 1)[-1])
    return bounded_track(
        SERVICE,
        item_id,
        canonical_url,
        title,
        round(duration_ms / 1000),
        artwork_url=album_image(data.get("album")),
        name=data["name"],
        artist=", ".join(artists) or None,
    )


def album_image(album: object) -> str | None:
    """The album's cover closest to 300 px (Spotify lists 640, 300 and 64 px), or None."""
    images = album.get("images") if isinstance(album, dict) else None
    usable = [i for i in images or [] if isinstance(i, dict) and isinstance(i.get("url"), str)]
    if not usable:
        return None
    best = min(usable, key=lambda image: abs(_width(image) - 300))
    return str(best["url"])


def _width(image: dict[str, Any]) -> int:
    width = image.get("width")
    return width if isinstance(width, int) else 300
