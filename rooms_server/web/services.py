"""The user's music services: connect, hand in, list, disconnect; Spotify login and search.

Tokens go in (the OAuth callback, or handed in by an app) and never come out: the listing shows
each service and its expiry only. The Spotify login binds its OAuth ``state`` to the user twice:
the state is HMAC-signed with the server secret (user id, expiry, nonce) and its nonce is also set
in an HttpOnly cookie that the callback must present, so a login link cannot be completed by
someone else's browser (no login CSRF).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import cast

from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from rooms_server.credentials import Credential
from rooms_server.errors import ApiError, bad_request, not_found
from rooms_server.sources import SourceError, Sources, TrackInfo
from rooms_server.sources.links import NAMES
from rooms_server.web.deps import current_user, iso, json, settings_of
from rooms_server.web.validation import Fields, query_int, read_json_object

STATE_TTL_S = 600
STATE_COOKIE = "rooms_spotify_state"
MAX_TOKEN_CHARS = 4096
MAX_QUERY_CHARS = 200
YEAR_S = 365 * 24 * 3600


class SourceApiError(ApiError):
    """A SourceError over HTTP: its status, its code, and Retry-After when retrying later helps."""

    def __init__(self, exc: SourceError) -> None:
        details = None if exc.retry_after is None else {"retry_after": exc.retry_after}
        super().__init__(exc.status, exc.code, exc.hint, details)
        self.headers = {} if exc.retry_after is None else {"Retry-After": str(exc.retry_after)}


def sources_of(conn: HTTPConnection) -> Sources:
    return cast(Sources, conn.state.sources)


def _service(request: Request) -> str:
    service = str(request.path_params["service"])
    if service not in NAMES:
        raise not_found("service")
    return service


async def list_services(request: Request) -> Response:
    """
    summary: The caller's connected music services (service and expiry only; never a token)
    security: [{bearer: []}]
    responses:
      200:
        description: OK
        content:
          application/json:
            schema:
              type: object
              properties:
                items:
                  type: array
                  items:
                    type: object
                    properties:
                      service: {type: string, enum: [spotify, youtube]}
                      expires_at: {type: string, nullable: true}
      401: {$ref: '#/components/responses/Unauthorized'}
    """
    user = await current_user(request)
    rows = await sources_of(request).store.listing(user.id)
    items = [{"service": service, "expires_at": None if expiry is None else iso(expiry)} for service, expiry in rows]
    return json({"items": items})


async def hand_in(request: Request) -> Response:
    """
    summary: Hand in a token the caller's app already holds (replaces any earlier one)
    description: Stored encrypted. Without expires_in the token is used until the service refuses it.
    security: [{bearer: []}]
    requestBody:
      content: {application/json: {schema: {$ref: '#/components/schemas/ServiceToken'}}}
    responses:
      200:
        description: Stored
        content:
          application/json:
            schema:
              type: object
              properties: {service: {type: string}, expires_at: {type: string, nullable: true}}
      401: {$ref: '#/components/responses/Unauthorized'}
      404: {$ref: '#/components/responses/NotFound'}
      422: {$ref: '#/components/responses/Invalid'}
    """
    user = await current_user(request)
    service = _service(request)
    body = await read_json_object(request, settings_of(request).limits.max_body_bytes)
    fields = Fields(body, {"access_token", "refresh_token", "expires_in"})
    access_token = fields.text("access_token", max_len=MAX_TOKEN_CHARS)
    refresh_token = fields.text("refresh_token", max_len=MAX_TOKEN_CHARS, required=False)
    expires_in = fields.integer("expires_in", low=1, high=YEAR_S) if "expires_in" in body else None
    fields.done()
    assert access_token is not None
    expires_at = None if expires_in is None else datetime.now(UTC) + timedelta(seconds=expires_in)
    await sources_of(request).store.save(user.id, service, Credential(access_token, refresh_token, expires_at))
    return json({"service": service, "expires_at": None if expires_at is None else iso(expires_at)})


async def disconnect(request: Request) -> Response:
    """
    summary: Disconnect a music service (its stored tokens are deleted)
    security: [{bearer: []}]
    responses:
      204: {description: Disconnected}
      401: {$ref: '#/components/responses/Unauthorized'}
      404: {$ref: '#/components/responses/NotFound'}
    """
    user = await current_user(request)
    service = _service(request)
    if not await sources_of(request).store.delete(user.id, service):
        raise not_found("credential")
    return Response(status_code=204)


async def spotify_login(request: Request) -> Response:
    """
    summary: Start connecting Spotify (authorization-code flow)
    description: |
      Redirects (302) to Spotify's consent page, or answers {authorize_url} as JSON when the request
      prefers application/json (a page then navigates there itself). Sets a short-lived cookie that
      the callback checks, so the flow must finish in the same browser.
    security: [{bearer: []}]
    responses:
      200:
        description: Where to send the browser
        content: {application/json: {schema: {type: object, properties: {authorize_url: {type: string}}}}}
      302: {description: Redirect to Spotify}
      401: {$ref: '#/components/responses/Unauthorized'}
      409: {$ref: '#/components/responses/Conflict'}
    """
    user = await current_user(request)
    settings = settings_of(request)
    if not settings.sources.spotify_configured:
        raise SourceApiError(SourceError("service_not_configured", "Spotify is not configured on this server"))
    nonce = secrets.token_urlsafe(16)
    url = sources_of(request).spotify.authorize_url(sign_state(settings.secret_key, user.id, nonce))
    wants_json = "application/json" in request.headers.get("accept", "")
    response: Response = json({"authorize_url": url}) if wants_json else RedirectResponse(url, status_code=302)
    response.set_cookie(
        STATE_COOKIE,
        nonce,
        max_age=STATE_TTL_S,
        path="/api/services/spotify",
        httponly=True,
        secure=settings.spotify_redirect_uri.startswith("https://"),
        samesite="lax",
    )
    return response


async def spotify_callback(request: Request) -> Response:
    """
    summary: Spotify sends the browser back here; the code is exchanged and the credential stored
    responses:
      200: {description: Connected (a small HTML page)}
      400:
        description: 'oauth_denied or invalid_state'
        content: {application/json: {schema: {$ref: '#/components/schemas/Error'}}}
      409: {$ref: '#/components/responses/Conflict'}
      502:
        description: Spotify refused the exchange
        content: {application/json: {schema: {$ref: '#/components/schemas/Error'}}}
    """
    params = request.query_params
    if "error" in params:
        raise bad_request("oauth_denied", "Spotify access was not granted.")
    settings = settings_of(request)
    user_id = verify_state(settings.secret_key, params.get("state", ""), request.cookies.get(STATE_COOKIE))
    code = params.get("code", "")
    if user_id is None or not code or len(code) > MAX_TOKEN_CHARS:
        raise bad_request("invalid_state", "This Spotify login is incomplete, expired or not yours; start again.")
    try:
        await sources_of(request).spotify.connect(user_id, code)
    except SourceError as exc:
        raise SourceApiError(exc) from None
    page = "<!doctype html><title>Spotify connected</title><p>Spotify is connected. You can close this page.</p>"
    response = HTMLResponse(page)
    response.delete_cookie(STATE_COOKIE, path="/api/services/spotify")
    return response


async def spotify_search(request: Request) -> Response:
    """
    summary: Search Spotify for tracks (with the caller's Spotify connection, or the server's app)
    description: YouTube search is not offered; its 100-unit cost would spend the shared daily quota.
    security: [{bearer: []}]
    parameters:
      - {name: q, in: query, required: true, schema: {type: string, maxLength: 200}}
      - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 20, default: 10}}
    responses:
      200:
        description: Tracks, each addable by its url
        content:
          application/json:
            schema:
              type: object
              properties:
                items:
                  type: array
                  items:
                    type: object
                    properties:
                      service: {type: string}
                      id: {type: string}
                      title: {type: string, description: the track's name}
                      artist: {type: string, nullable: true}
                      duration: {type: integer, description: seconds}
                      duration_ms: {type: integer}
                      url: {type: string, description: add the track with this link}
                      artwork_url: {type: string, nullable: true}
      401: {$ref: '#/components/responses/Unauthorized'}
      409: {$ref: '#/components/responses/Conflict'}
      422: {$ref: '#/components/responses/Invalid'}
      429:
        description: Spotify is rate limiting (Retry-After)
        content: {application/json: {schema: {$ref: '#/components/schemas/Error'}}}
    """
    user = await current_user(request)
    query = " ".join(request.query_params.get("q", "").split())
    if not query or len(query) > MAX_QUERY_CHARS:
        raise ApiError(422, "validation_error", "The query is not valid.", {"q": f"1 to {MAX_QUERY_CHARS} characters"})
    limit = query_int(request, "limit", default=10, low=1, high=20)
    try:
        found = await sources_of(request).search_spotify(query, limit, user.id)
    except SourceError as exc:
        raise SourceApiError(exc) from None
    return json({"items": [search_item(t) for t in found]})


def search_item(track: TrackInfo) -> dict[str, object]:
    """A search result: the track's own name as ``title`` (the artists apart), and what adding stores."""
    return {
        "service": track.service,
        "id": track.item_id,
        "title": track.name or track.title,
        "artist": track.artist,
        "duration": track.duration_s,
        "duration_ms": track.duration_s * 1000,
        "url": track.url,
        "artwork_url": track.artwork_url,
    }


# -- the OAuth state ---------------------------------------------------------------------------


def sign_state(secret_key: str, user_id: str, nonce: str, *, now: float | None = None) -> str:
    expires = int((time.time() if now is None else now) + STATE_TTL_S)
    payload = _b64(f"{user_id}.{expires}.{nonce}".encode())
    return f"{payload}.{_mac(secret_key, payload)}"


def verify_state(secret_key: str, state: str, cookie_nonce: str | None) -> str | None:
    """The user the state was issued to, if it is authentic, unexpired and matches the browser's cookie."""
    payload, _, mac = state.partition(".")
    if not payload or not hmac.compare_digest(mac.encode(), _mac(secret_key, payload).encode()):
        return None
    try:
        user_id, expires, nonce = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode().split(".")
    except ValueError:
        return None
    if not expires.isdigit() or int(expires) < time.time() or cookie_nonce is None:
        return None
    return user_id if hmac.compare_digest(nonce.encode(), cookie_nonce.encode()) else None


def _mac(secret_key: str, payload: str) -> str:
    digest = hmac.new(secret_key.encode(), b"spotify-oauth-state:" + payload.encode(), hashlib.sha256).digest()
    return _b64(digest)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


routes = [
    Route("/api/me/services", list_services, methods=["GET"]),
    Route("/api/me/services/{service:str}", hand_in, methods=["PUT"]),
    Route("/api/me/services/{service:str}", disconnect, methods=["DELETE"]),
    Route("/api/services/spotify/login", spotify_login, methods=["GET"]),
    Route("/api/services/spotify/callback", spotify_callback, methods=["GET"]),
    Route("/api/services/spotify/search", spotify_search, methods=["GET"]),
]
