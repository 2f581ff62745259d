"""Spotify's accounts service through spotipy's auth managers: blocking calls, run in worker threads.

- App token: ``SpotifyClientCredentials`` (client-credentials flow), for metadata and search when
  the user has not connected Spotify.
- Users: ``SpotifyOAuth`` (authorization-code flow) builds the login URL, exchanges the callback's
  code and refreshes tokens. Its cache handler is ``CredentialCache``: seeded from the user's row in
  ``user_credentials`` and written back to it by the caller (``CredentialStore``), so spotipy never
  writes a ``.cache`` file and never does database I/O inside its thread.

Every manager gets ``requests_timeout`` (spotipy's default is none) and a plain ``requests.Session``
without retries, so a 429 or 503 surfaces at once instead of sleeping for its Retry-After.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import requests
from spotipy.cache_handler import CacheHandler
from spotipy.exceptions import SpotifyOauthError
from spotipy.oauth2 import SpotifyClientCredentials, SpotifyOAuth

from rooms_server.config import SourceSettings
from rooms_server.sources.base import SourceError
from rooms_server.sources.durations import retry_after_seconds

# spotipy logs request headers (bearer tokens, the Basic client secret) at DEBUG: never let it.
logging.getLogger("spotipy").setLevel(logging.INFO)

TokenInfo = dict[str, Any]
# Resolving and searching need no user scope; "play on my Spotify" drives the user's active device.
SCOPE = "user-read-playback-state user-modify-playback-state"


class CredentialCache(CacheHandler):  # type: ignore[misc]
    """spotipy's token cache, backed by the user's ``user_credentials`` row (loaded and saved around the call)."""

    def __init__(self, token_info: TokenInfo | None = None) -> None:
        self.token_info = token_info

    def get_cached_token(self) -> TokenInfo | None:
        return self.token_info

    def save_token_to_cache(self, token_info: TokenInfo) -> None:
        self.token_info = dict(token_info)


def plain_session() -> requests.Session:
    """A session with no retry adapter: every status reaches us as it is."""
    return requests.Session()


class SpotifyAccounts:
    """The accounts service (``SPOTIFY_ACCOUNTS_URL``) for one app (client id and secret)."""

    def __init__(self, settings: SourceSettings, redirect_uri: str) -> None:
        self.settings = settings
        self.redirect_uri = redirect_uri
        self.token_url = f"{settings.spotify_accounts_url}/api/token"
        self.authorize_endpoint = f"{settings.spotify_accounts_url}/authorize"

    def _oauth(self, cache: CredentialCache, session: requests.Session) -> SpotifyOAuth:
        manager = SpotifyOAuth(
            client_id=self.settings.spotify_client_id,
            client_secret=self.settings.spotify_client_secret,
            redirect_uri=self.redirect_uri,
            scope=SCOPE,
            cache_handler=cache,
            open_browser=False,
            requests_session=session,
            requests_timeout=self.settings.timeout_s,
        )
        manager.OAUTH_TOKEN_URL = self.token_url  # the instance attribute shadows spotipy's constant
        manager.OAUTH_AUTHORIZE_URL = self.authorize_endpoint
        return manager

    def authorize_url(self, state: str) -> str:
        """Where the user's browser goes to grant access (no I/O)."""
        with plain_session() as session:
            return str(self._oauth(CredentialCache(), session).get_authorize_url(state=state))

    def exchange_code(self, code: str) -> TokenInfo:
        """Blocking: the callback's code for the user's tokens."""
        cache = CredentialCache()
        with plain_session() as session:
            _call(lambda: self._oauth(cache, session).get_access_token(code, as_dict=False, check_cache=False))
        return _saved(cache)

    def refresh(self, refresh_token: str) -> TokenInfo:
        """Blocking: a fresh access token (and maybe a new refresh token) for a stored refresh token."""
        cache = CredentialCache()
        with plain_session() as session:
            _call(lambda: self._oauth(cache, session).refresh_access_token(refresh_token))
        return _saved(cache)

    def app_token(self) -> TokenInfo:
        """Blocking: an app token (client-credentials flow)."""
        cache = CredentialCache()
        with plain_session() as session:
            manager = SpotifyClientCredentials(
                client_id=self.settings.spotify_client_id,
                client_secret=self.settings.spotify_client_secret,
                cache_handler=cache,
                requests_session=session,
                requests_timeout=self.settings.timeout_s,
            )
            manager.OAUTH_TOKEN_URL = self.token_url
            _call(lambda: manager.get_access_token(as_dict=False, check_cache=False))
        return _saved(cache)


def _saved(cache: CredentialCache) -> TokenInfo:
    info = cache.token_info
    if not info or not isinstance(info.get("access_token"), str) or not isinstance(info.get("expires_at"), int):
        raise SourceError("provider_error", "Spotify's accounts service answered without a token")
    return info


def _call(fn: Callable[[], object]) -> None:
    try:
        fn()
    except SpotifyOauthError as exc:
        raise oauth_error(exc) from None
    except requests.RequestException:
        raise SourceError("provider_unavailable", "Spotify's accounts service cannot be reached; try again") from None
    except (KeyError, TypeError, ValueError):
        raise SourceError("provider_error", "Spotify's accounts service gave an unexpected answer") from None


def oauth_error(exc: SpotifyOauthError) -> SourceError:
    """The accounts service refused: a user must reconnect, the app is misconfigured, or it is busy."""
    response = getattr(exc.__context__, "response", None)
    status = getattr(response, "status_code", 400)
    if status == 429:
        retry_after = retry_after_seconds(response.headers.get("Retry-After") if response is not None else None)
        return SourceError("provider_rate_limited", "Spotify is rate limiting us; try again later", retry_after)
    if status >= 500:
        return SourceError("provider_unavailable", "Spotify's accounts service is unavailable; try again")
    if exc.error == "invalid_grant":
        return SourceError("reconnect_required", "Spotify no longer accepts this connection; connect Spotify again")
    return SourceError("provider_auth_failed", "Spotify refused the server's app credentials")
