"""The pages: the start page ``/``, the invite page ``/join/{token}``, the room page
``/groups/{group_id}``, its big screen ``/groups/{group_id}/screen``, the frame that hosts Spotify's
player ``/embed/spotify``; the web app manifest, the favicon, and friendly HTML error pages.

Plain HTML, ES modules and one stylesheet, shipped as package data in ``rooms_server/static`` and
served as they are: no build step, nothing from a CDN of ours. The HTML carries no user data; the
scripts read the invite, the user and the room from the JSON API and the room socket and write
every piece of user text with ``textContent``.

Versions: every module URL a page loads carries its file's content hash (``?v=…``): the entry
script directly, the modules it imports through an import map in the page (``/static/js/x.js`` →
``/static/js/x.js?v=<hash>``), so a phone never runs a mix of two deploys' modules. A versioned
URL is cached for a year (immutable); an outdated one is refused (404) rather than answered with
other bytes. The inline import map is allowed by its SHA-256 in ``script-src``.

Content-Security-Policy: only our origin, plus exactly what the two players need. The room page
loads YouTube's IFrame API from www.youtube.com (which loads its widget script from there too)
and frames its players from www.youtube-nocookie.com (privacy-enhanced mode); it frames our own
``/embed/spotify``. That frame loads Spotify's iFrame API from open.spotify.com (a loader that
injects its bundle from embed-cdn.spotifycdn.com, a bundle which evaluates strings, hence
``'unsafe-eval'`` there and only there) and frames open.spotify.com. Lock-screen artwork of
YouTube tracks comes from i.ytimg.com, of Spotify tracks from i.scdn.co. Invite URLs hold the invite
token, so no Referer leaves.

Errors on page paths are pages in plain words (``web/error_pages.py``). gzip (``GZipMiddleware``,
wired in app.py) compresses bodies of 500 bytes and more; it never sees a WebSocket (it handles
HTTP scopes only).
"""

from __future__ import annotations

import base64
import hashlib
import json
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC = files("rooms_server") / "static"
IMMUTABLE = "public, max-age=31536000, immutable"

YOUTUBE_SCRIPTS = ("https://www.youtube.com",)
YOUTUBE_FRAMES = ("https://www.youtube-nocookie.com",)
YOUTUBE_ARTWORK = ("https://i.ytimg.com",)
SPOTIFY_ARTWORK = ("https://i.scdn.co",)
ARTWORK = (*SPOTIFY_ARTWORK, *YOUTUBE_ARTWORK)
SPOTIFY_SCRIPTS = ("https://open.spotify.com", "https://embed-cdn.spotifycdn.com")
SPOTIFY_FRAMES = ("https://open.spotify.com",)

COMMON = {"Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}


def _csp(**directives: tuple[str, ...]) -> str:
    policy = {"default-src": ("'none'",), **{k.replace("_", "-"): v for k, v in directives.items()}}
    policy.setdefault("manifest-src", ("'self'",))
    policy.setdefault("base-uri", ("'none'",))
    policy.setdefault("form-action", ("'none'",))
    return "; ".join(f"{name} {' '.join(values)}" for name, values in policy.items())


def _walk(folder: Traversable, prefix: str) -> list[tuple[str, bytes]]:
    found: list[tuple[str, bytes]] = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.is_dir():
            found += _walk(entry, f"{prefix}{entry.name}/")
        elif not entry.name.startswith("."):
            found.append((f"{prefix}{entry.name}", entry.read_bytes()))
    return found


@cache
def asset_versions() -> dict[str, str]:
    """``/static/…`` URL → the first 12 hex characters of its content's SHA-256."""
    return {url: hashlib.sha256(data).hexdigest()[:12] for url, data in _walk(STATIC, "/static/")}


def versioned(url: str) -> str:
    return f"{url}?v={asset_versions()[url]}"


@cache
def import_map() -> str:
    """The page's import map: every module under /static/js/ at its versioned URL."""
    modules = {url: versioned(url) for url in asset_versions() if url.startswith("/static/js/")}
    return json.dumps({"imports": modules}, separators=(",", ":"), sort_keys=True)


def _sha256_source(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


@cache
def page_headers(kind: str) -> dict[str, str]:
    importmap = _sha256_source(import_map())
    if kind == "room":  # the room page and its big screen: both can play the room
        csp = _csp(
            script_src=("'self'", importmap, *YOUTUBE_SCRIPTS),
            style_src=("'self'",),
            img_src=("'self'", "blob:", "data:", *ARTWORK),
            frame_src=("'self'", *YOUTUBE_FRAMES),
            connect_src=("'self'",),
            frame_ancestors=("'none'",),
        )
    elif kind == "spotify":
        csp = _csp(
            script_src=("'self'", *SPOTIFY_SCRIPTS, "'unsafe-eval'"),
            style_src=("'self'", "'unsafe-inline'"),
            img_src=("'self'", "data:"),
            frame_src=SPOTIFY_FRAMES,
            connect_src=("'self'",),
            frame_ancestors=("'self'",),  # only our room page may frame it
        )
    elif kind == "error":  # no script at all
        csp = _csp(style_src=("'self'",), img_src=("'self'",), frame_ancestors=("'none'",))
    else:  # the start page and the invite page
        csp = _csp(
            script_src=("'self'", importmap),
            style_src=("'self'",),
            img_src=("'self'", "blob:", "data:"),
            connect_src=("'self'",),
            frame_ancestors=("'none'",),
        )
    return {"Content-Security-Policy": csp, **COMMON}


@cache
def render_page(name: str, entry: str, stylesheet: str = "/static/app.css") -> str:
    text = (STATIC / name).read_text(encoding="utf-8")
    return (
        text.replace("__IMPORT_MAP__", import_map())
        .replace("__ENTRY__", versioned(entry))
        .replace("__CSS_VERSION__", asset_versions()[stylesheet])
    )


async def start_page(request: Request) -> Response:
    """The start page: start a room (this browser becomes its host), your rooms, public rooms, join by code."""
    return HTMLResponse(render_page("index.html", "/static/js/start.js"), headers=page_headers("start"))


async def join_page(request: Request) -> Response:
    """The invite URL in the QR code: shows the group, asks for a name, joins and opens the room."""
    return HTMLResponse(render_page("join.html", "/static/js/join.js"), headers=page_headers("join"))


async def room_page(request: Request) -> Response:
    """The live room: the player, now playing, listening, queue, add by link, chat, who is here, host tools."""
    return HTMLResponse(render_page("room.html", "/static/js/room.js"), headers=page_headers("room"))


async def screen_page(request: Request) -> Response:
    """The big screen for a TV or projector: QR and code, now playing, up next, reactions; can be the speaker."""
    return HTMLResponse(render_page("screen.html", "/static/js/screen.js"), headers=page_headers("room"))


async def manifest(request: Request) -> Response:
    """The web app manifest: a phone can keep the rooms on its home screen (no service worker: see docs/PAGES.md)."""
    body = {
        "name": "Listening Rooms",
        "short_name": "Rooms",
        "description": "Listen together: one queue, every phone in sync.",
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "background_color": "#101217",
        "theme_color": "#101217",
        "icons": [
            {"src": versioned(f"/static/icons/icon-{size}.png"), "sizes": f"{size}x{size}", "type": "image/png"}
            for size in (192, 512)
        ]
        + [{"src": versioned("/static/icons/favicon.svg"), "sizes": "any", "type": "image/svg+xml"}],
    }
    text = json.dumps(body, separators=(",", ":"))
    return Response(text, media_type="application/manifest+json", headers={"Cache-Control": "no-cache"})


async def favicon(request: Request) -> Response:
    """``/favicon.ico``, which browsers ask for by themselves: the 192 px icon (browsers take PNG here)."""
    data = (STATIC / "icons" / "icon-192.png").read_bytes()
    return Response(data, media_type="image/png", headers={"Cache-Control": "public, max-age=86400"})


async def spotify_frame(request: Request) -> Response:
    """Spotify's iFrame API controller, in a frame of its own (see the module docstring)."""
    page = render_page("spotify-frame.html", "/static/js/players/spotify-frame.js", "/static/embed.css")
    return HTMLResponse(page, headers=page_headers("spotify"))


class VersionedStatic(StaticFiles):
    """Static files; a request naming the current content hash is cached for good, an old one is refused."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        asked = _query_version(scope)
        current = asset_versions().get(f"/static/{path}")
        if asked is not None and asked != current:
            return Response("outdated asset; reload the page", status_code=404, headers={"Cache-Control": "no-store"})
        response = await super().get_response(path, scope)
        if response.status_code == 200:
            response.headers["Cache-Control"] = IMMUTABLE if asked is not None else "no-cache"
            response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def _query_version(scope: Scope) -> str | None:
    for pair in bytes(scope.get("query_string", b"")).decode("latin-1").split("&"):
        key, _, value = pair.partition("=")
        if key == "v":
            return value
    return None


routes = [
    Route("/", start_page, methods=["GET"], include_in_schema=False),
    Route("/manifest.webmanifest", manifest, methods=["GET"], include_in_schema=False),
    Route("/favicon.ico", favicon, methods=["GET"], include_in_schema=False),
    Route("/join/{token:str}", join_page, methods=["GET"], include_in_schema=False),
    Route("/groups/{group_id:str}", room_page, methods=["GET"], include_in_schema=False),
    Route("/groups/{group_id:str}/screen", screen_page, methods=["GET"], include_in_schema=False),
    Route("/embed/spotify", spotify_frame, methods=["GET"], include_in_schema=False),
    Mount("/static", app=VersionedStatic(packages=[("rooms_server", "static")]), name="static"),
]
