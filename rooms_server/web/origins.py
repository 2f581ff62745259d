"""Browser origins on the HTTP API: a request whose ``Origin`` is not allowed is 403 ``origin_refused``.

Tokens are bearer headers, not cookies, so this is not about CSRF: it is about saying clearly why a
phone that opened the server at an address the settings do not know (a LAN address while
``PUBLIC_BASE_URL`` names another) fails, instead of it half-working. The WebSocket checks the same
list (web/ws.py, close 4508). Requests without ``Origin`` (same-origin GETs, curl, apps) pass. The
refusal is logged once per origin and process, with the setting that would allow it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger(__name__)

MAX_LOGGED = 100  # distinct refused origins logged per process: a hostile page cannot flood the log
_REFUSED = {
    "error": {
        "code": "origin_refused",
        "message": "This page was opened at an address the server does not allow; open the address the host shows.",
    }
}


def refusal_hint(origin: str, allowed: tuple[str, ...]) -> str:
    """The log line's advice: the setting that would let ``origin`` in."""
    return (
        f"not in ALLOWED_ORIGINS ({','.join(allowed)}); to allow it, set "
        f"ALLOWED_ORIGINS={','.join((*allowed, origin))} or PUBLIC_BASE_URL to the address phones open"
    )


class OriginCheck:
    def __init__(self, app: ASGIApp, allowed: tuple[str, ...]) -> None:
        self.app = app
        self.allowed = allowed
        self._logged: set[str] = set()

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # A plain function for what it passes on: a socket's handler keeps no frame of it alive.
        origin = _origin(scope) if scope["type"] == "http" and scope["path"].startswith("/api/") else None
        if origin is None or origin.rstrip("/") in self.allowed:
            return self.app(scope, receive, send)
        return self._refuse(send, origin)

    async def _refuse(self, send: Send, origin: str) -> None:
        if origin not in self._logged and len(self._logged) < MAX_LOGGED:
            self._logged.add(origin)
            log.warning("refused an HTTP request from origin %s: %s", origin, refusal_hint(origin, self.allowed))
        body = orjson.dumps(_REFUSED)
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 403, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _origin(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"origin":
            return bytes(value).decode("latin-1")
    return None
