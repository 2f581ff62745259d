"""The phone pages: the invite page ``/join/{token}`` and the room page ``/groups/{group_id}``.

Plain HTML, one vanilla JS module and one stylesheet, shipped as package data in
``rooms_server/static`` and served as they are: no build step, nothing from a CDN. The HTML carries
no user data; the script reads the invite, the user and the room from the JSON API and the room
socket and writes every piece of user text with ``textContent``.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib.resources import files

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

STATIC = files("rooms_server") / "static"

# The pages only talk to their own origin: scripts, styles, the API and the room socket. Images
# may be blob: URLs (the QR code is fetched with the bearer header). Invite URLs hold the invite
# token, so no Referer leaves the page.
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


@cache
def _asset_version() -> str:
    """Changes whenever the script or the stylesheet does, so phones never run a stale pair."""
    digest = hashlib.sha256()
    for name in ("app.js", "app.css"):
        digest.update((STATIC / name).read_bytes())
    return digest.hexdigest()[:12]


@cache
def _page(name: str) -> str:
    return (STATIC / name).read_text(encoding="utf-8").replace("__VERSION__", _asset_version())


async def join_page(request: Request) -> Response:
    """The invite URL in the QR code: shows the group, asks for a name, joins and opens the room."""
    return HTMLResponse(_page("join.html"), headers=HEADERS)


async def room_page(request: Request) -> Response:
    """The live room: now playing, queue, add by link, chat, who is here, host controls."""
    return HTMLResponse(_page("room.html"), headers=HEADERS)


routes = [
    Route("/join/{token:str}", join_page, methods=["GET"], include_in_schema=False),
    Route("/groups/{group_id:str}", room_page, methods=["GET"], include_in_schema=False),
    Mount("/static", app=StaticFiles(packages=[("rooms_server", "static")]), name="static"),
]
