"""Local stand-ins for the Spotify Web API, Spotify's accounts service and the YouTube Data API.

Each is a threading ``http.server`` on 127.0.0.1 with a port of its own, scriptable per test: the
tracks or videos it knows, the tokens it accepts, and a queue of forced answers (``fail_next``)
for rate limits, quota errors, outages. Every request is recorded (with the wall-clock time it
arrived), so tests can assert what was asked, when and with which token. The Spotify fake also
plays the Web API player (``/v1/me/player/…``) for "play on my Spotify": each user token has an
active device or not, is Premium or not, and every play, pause and seek is kept with its
``position_ms``. Nothing here touches the network.
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

Reply = tuple[int, dict[str, str], Any]

CLIENT_ID, CLIENT_SECRET, API_KEY = "test-client", "test-secret", "test-key"
TRACK_ID = "4uLU6hMCjMI75M1A2tKUQC"
VIDEO_ID = "dQw4w9WgXcQ"


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    form: dict[str, str] = field(default_factory=dict)
    body: Any = None  # the JSON body of a PUT
    at: float = 0.0  # time.time() when the request arrived

    @property
    def bearer(self) -> str | None:
        auth = self.headers.get("authorization", "")
        return auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None


class FakeServer:
    """One HTTP server; ``handle(seen) -> (status, headers, json body)`` answers each request."""

    def __init__(self, handle: Callable[[Seen], Reply]) -> None:
        self.seen: list[Seen] = []
        self.delay_s = 0.0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._answer({})

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                self._answer(form)

            def do_PUT(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                self._answer({}, json.loads(raw) if raw else None)

            def _answer(self, form: dict[str, str], body: Any = None) -> None:
                at = time.time()
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                headers = {k.lower(): v for k, v in self.headers.items()}
                seen = Seen(self.command, parts.path, query, headers, form, body, at)
                server.seen.append(seen)
                time.sleep(server.delay_s)
                status, reply_headers, reply = handle(seen)
                self.send_response(status)
                raw = b"" if status == 204 else json.dumps(reply).encode()
                for name, value in {"Content-Type": "application/json", **reply_headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> FakeServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def error(status: int, message: str, reason: str | None = None, headers: dict[str, str] | None = None) -> Reply:
    body: dict[str, Any] = {"error": {"code": status, "status": status, "message": message}}
    if reason:
        body["error"]["errors"] = [{"message": message, "domain": "youtube.quota", "reason": reason}]
    return status, headers or {}, body


class FakeSpotify:
    """The Web API under ``/v1`` and the accounts service (``/api/token``), each on its own port."""

    def __init__(self) -> None:
        self.tracks: dict[str, dict[str, Any]] = {}
        self.valid_tokens: set[str] = set()
        self.refresh_tokens: set[str] = set()
        self.codes: set[str] = set()
        self.rotate_refresh = False
        self.forced: list[Reply] = []  # answers the Web API gives before any other
        self.forced_token: list[Reply] = []  # the same for the accounts service
        self.devices: dict[str, str] = {}  # user token -> its active device's name (none: 404 on the player)
        self.free_accounts: set[str] = set()  # user tokens of accounts without Premium (403 on the player)
        self._ids = itertools.count(1)
        self.api = FakeServer(self._api)
        self.accounts = FakeServer(self._accounts)

    def add_track(self, track_id: str = TRACK_ID, name: str = "Song", duration_ms: int = 213_573) -> None:
        self.tracks[track_id] = {
            "id": track_id,
            "name": name,
            "duration_ms": duration_ms,
            "artists": [{"name": "Artist"}],
            "external_urls": {"spotify": f"https://open.spotify.com/track/{track_id}"},
            "album": {
                "name": "Album",
                "images": [
                    {"url": f"https://i.scdn.co/image/{size}-{track_id}", "width": size, "height": size}
                    for size in (640, 300, 64)
                ],
            },
        }

    def issue(self, prefix: str) -> str:
        token = f"{prefix}-{next(self._ids)}"
        self.valid_tokens.add(token)
        return token

    def api_calls(self, path_prefix: str = "/v1/") -> list[Seen]:
        return [s for s in self.api.seen if s.path.startswith(path_prefix)]

    def token_calls(self, grant_type: str | None = None) -> list[Seen]:
        return [s for s in self.accounts.seen if grant_type is None or s.form.get("grant_type") == grant_type]

    def player_calls(self) -> list[Seen]:
        """Play, pause and seek commands, in the order they arrived (the devices listing left out)."""
        return [s for s in self.api.seen if s.path.startswith("/v1/me/player/") and s.method == "PUT"]

    def _api(self, seen: Seen) -> Reply:
        if seen.bearer not in self.valid_tokens:
            return 401, {}, {"error": {"status": 401, "message": "The access token expired"}}
        if self.forced:
            return self.forced.pop(0)
        if seen.path.startswith("/v1/me/player"):
            return self._player(seen)
        if seen.path.startswith("/v1/tracks/"):
            track = self.tracks.get(seen.path.rsplit("/", 1)[-1])
            return (200, {}, track) if track else (404, {}, {"error": {"status": 404, "message": "Not found"}})
        if seen.path == "/v1/search":
            words = seen.query.get("q", "").lower()
            items = [t for t in self.tracks.values() if words in t["name"].lower()]
            return 200, {}, {"tracks": {"items": items[: int(seen.query.get("limit", "10"))]}}
        return 404, {}, {"error": {"status": 404, "message": "no such endpoint"}}

    def _player(self, seen: Seen) -> Reply:
        token = seen.bearer or ""
        if seen.path == "/v1/me/player/devices":
            name = self.devices.get(token)
            items = [] if name is None else [{"id": "dev-1", "is_active": True, "name": name, "type": "Smartphone"}]
            return 200, {}, {"devices": items}
        if seen.path not in ("/v1/me/player/play", "/v1/me/player/pause", "/v1/me/player/seek"):
            return 404, {}, {"error": {"status": 404, "message": "Service not found"}}
        if token in self.free_accounts:
            body = {"error": {"status": 403, "message": "Player command failed: Premium required"}}
            body["error"]["reason"] = "PREMIUM_REQUIRED"
            return 403, {}, body
        if token not in self.devices:
            return 404, {}, {"error": {"status": 404, "message": "Player command failed: No active device found"}}
        return 204, {}, None

    def _accounts(self, seen: Seen) -> Reply:
        expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if seen.headers.get("authorization") != expected:
            return 401, {}, {"error": "invalid_client", "error_description": "Invalid client"}
        if self.forced_token:
            return self.forced_token.pop(0)
        grant = seen.form.get("grant_type")
        if grant == "client_credentials":
            return 200, {}, {"access_token": self.issue("app"), "token_type": "Bearer", "expires_in": 3600}
        if grant == "refresh_token" and seen.form.get("refresh_token") in self.refresh_tokens:
            body = {"access_token": self.issue("user"), "token_type": "Bearer", "expires_in": 3600}
            if self.rotate_refresh:
                body["refresh_token"] = f"refresh-{next(self._ids)}"
                self.refresh_tokens.add(body["refresh_token"])
            return 200, {}, body
        if grant == "authorization_code" and seen.form.get("code") in self.codes:
            self.codes.discard(seen.form["code"])
            refresh = f"refresh-{next(self._ids)}"
            self.refresh_tokens.add(refresh)
            body = {"access_token": self.issue("user"), "refresh_token": refresh, "expires_in": 3600}
            return 200, {}, {**body, "token_type": "Bearer", "scope": ""}
        return 400, {}, {"error": "invalid_grant", "error_description": "Invalid refresh token"}


class FakeYouTube:
    """``GET /youtube/v3/videos``: the videos it knows, for the API key or a user's bearer token."""

    def __init__(self) -> None:
        self.videos: dict[str, dict[str, Any]] = {}
        self.user_tokens: set[str] = set()
        self.forced: list[Reply] = []
        self.server = FakeServer(self._handle)

    def add_video(
        self, video_id: str = VIDEO_ID, title: str = "Video", duration: str = "PT3M33S", **status: Any
    ) -> None:
        live = status.pop("live", "none")
        self.videos[video_id] = {
            "kind": "youtube#video",
            "id": video_id,
            "snippet": {
                "title": title,
                "channelTitle": "Channel",
                "liveBroadcastContent": live,
                "thumbnails": {
                    size: {"url": f"https://i.ytimg.com/vi/{video_id}/{size}.jpg", "width": w, "height": h}
                    for size, w, h in (("default", 120, 90), ("medium", 320, 180), ("high", 480, 360))
                },
            },
            "contentDetails": {"duration": duration},
            "status": {"uploadStatus": "processed", "privacyStatus": "public", "embeddable": True, **status},
        }

    def calls(self) -> list[Seen]:
        return [s for s in self.server.seen if s.path == "/youtube/v3/videos"]

    def _handle(self, seen: Seen) -> Reply:
        if seen.path != "/youtube/v3/videos":
            return error(404, "Not Found")
        if seen.query.get("key") != API_KEY and seen.bearer not in self.user_tokens:
            return error(400, "API key not valid. Please pass a valid API key.", "keyInvalid")
        if self.forced:
            return self.forced.pop(0)
        video = self.videos.get(seen.query.get("id", ""))
        return 200, {}, {"kind": "youtube#videoListResponse", "items": [video] if video else []}


class FakeShortLinks:
    """``spotify.link``: each known code redirects (307, as Branch does) to its target."""

    def __init__(self) -> None:
        self.targets: dict[str, str] = {}  # code -> Location
        self.pages: dict[str, str] = {}  # code -> a 200 answer whose body names the target
        self.server = FakeServer(self._handle)

    @property
    def url(self) -> str:
        return self.server.url

    def _handle(self, seen: Seen) -> Reply:
        code = seen.path.lstrip("/")
        if code in self.targets:
            return 307, {"Location": self.targets[code]}, {}
        if code in self.pages:
            return 200, {}, {"html": self.pages[code]}
        return 404, {}, {"error": "not found"}


@pytest.fixture
def fake_short_links(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeShortLinks]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    fake = FakeShortLinks()
    fake.server.start()
    try:
        yield fake
    finally:
        fake.server.stop()


@pytest.fixture
def fake_spotify(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSpotify]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    fake = FakeSpotify()
    fake.api.start()
    fake.accounts.start()
    try:
        yield fake
    finally:
        fake.api.stop()
        fake.accounts.stop()


@pytest.fixture
def fake_youtube(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeYouTube]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    fake = FakeYouTube()
    fake.server.start()
    try:
        yield fake
    finally:
        fake.server.stop()
