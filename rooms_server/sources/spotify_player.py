"""Spotify's Web API player, for "play on my Spotify": the member's own active device, driven by spotipy.

Only ever with the member's own token (never the app's), and only the four calls the room needs:
``start_playback(uris=[…], position_ms=…)``, ``pause_playback()``, ``seek_track(position_ms)`` and
``devices()`` (the check made when a member opts in: it proves the token carries the playback
scopes). The player endpoints answer 204 and are asynchronous on Spotify's side; their refusals
are mapped to ``PlayerError`` codes the room shows the member:

| Spotify | code | meaning |
|---|---|---|
| 404 | ``spotify_no_device`` | no active device: the member must open Spotify somewhere first |
| 403, reason ``PREMIUM_REQUIRED`` | ``spotify_premium_required`` | the Web API player is for Premium accounts only |
| 403, other reasons | ``spotify_restricted`` | refused for now (e.g. pausing what is paused): harmless |
| 429 | ``spotify_rate_limited`` | too many calls (``retry_after`` from Retry-After) |

A 401 is refreshed and retried once like every call; a second one (e.g. a token without the
playback scopes) becomes ``reconnect_required``.
"""

from __future__ import annotations

from typing import Any

import spotipy

from rooms_server.sources.durations import retry_after_seconds
from rooms_server.sources.spotify import SpotifySource, api_error

PLAYER_ERROR_CODES = frozenset(
    {"spotify_no_device", "spotify_premium_required", "spotify_restricted", "spotify_rate_limited"}
)
HARMLESS = frozenset({"spotify_restricted"})


class PlayerError(Exception):
    def __init__(self, code: str, message: str, retry_after: int | None = None) -> None:
        assert code in PLAYER_ERROR_CODES, code
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.retry_after = retry_after


def player_error(exc: spotipy.SpotifyException) -> Exception:
    status = exc.http_status
    if status == 404:
        return PlayerError("spotify_no_device", "Spotify has no active device for you: open Spotify on one first")
    if status == 403 and exc.reason == "PREMIUM_REQUIRED":
        return PlayerError("spotify_premium_required", "Spotify only lets Premium accounts be driven from here")
    if status == 403:
        return PlayerError("spotify_restricted", f"Spotify refused the command ({exc.reason or 'restricted'})")
    if status == 429:
        wait = retry_after_seconds((exc.headers or {}).get("Retry-After"))
        return PlayerError("spotify_rate_limited", "Spotify asks us to slow down; try again in a while", wait)
    return api_error(exc)


def track_uri(url: str) -> str:
    """``https://open.spotify.com/track/<id>`` (the canonical URL tracks are stored with) → ``spotify:track:<id>``."""
    return f"spotify:track:{url.rstrip('/').rsplit('/', 1)[-1]}"


class SpotifyPlayer:
    def __init__(self, spotify: SpotifySource) -> None:
        self.spotify = spotify

    async def devices(self, user_id: str) -> list[dict[str, Any]]:
        data = await self.spotify.as_user(user_id, lambda sp: sp.devices(), player_error)
        devices = data.get("devices") if isinstance(data, dict) else None
        return [d for d in devices if isinstance(d, dict)] if isinstance(devices, list) else []

    async def start(self, user_id: str, uri: str, position_ms: int) -> None:
        await self.spotify.as_user(
            user_id, lambda sp: sp.start_playback(uris=[uri], position_ms=max(position_ms, 0)), player_error
        )

    async def pause(self, user_id: str) -> None:
        await self.spotify.as_user(user_id, lambda sp: sp.pause_playback(), player_error)

    async def seek(self, user_id: str, position_ms: int) -> None:
        await self.spotify.as_user(user_id, lambda sp: sp.seek_track(max(position_ms, 0)), player_error)
