"""Friendly error pages: a browser (``Accept: text/html``) that reaches an error on a page path — an
unknown page, a refused origin, a rate limit — gets a page in plain words with a link to the start
page, never the API's JSON. ``/api/…`` and the other paths machines read keep their JSON errors.

The pages carry no script (their CSP has no ``script-src``); the server's message is escaped.
"""

from __future__ import annotations

import html
import json
from collections.abc import Awaitable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rooms_server.web.pages import page_headers, render_page

# Paths whose errors stay JSON whatever the client accepts: the API and what machines read.
MACHINE_PATHS = ("/api/", "/ws/", "/openapi.json", "/metrics", "/healthz", "/readyz", "/static/")

ERROR_PAGES: dict[str, tuple[str, str]] = {
    "not_found": ("Nothing here", "There is no page at this address. Check the link, or start from the home page."),
    "method_not_allowed": ("Nothing here", "There is no page at this address. Start from the home page."),
    "origin_refused": (
        "This address is not allowed",
        "The server does not accept pages opened at this address. Open the address shown on the host's "
        "screen, or ask whoever runs the server to add this one to ALLOWED_ORIGINS.",
    ),
    "rate_limited": ("Too many tries", "Wait a minute, then try again."),
    "unavailable": ("The server is busy", "It could not answer just now. Try again in a few seconds."),
}


def error_html(status: int, code: str, message: str = "") -> str:
    title, text = ERROR_PAGES.get(code, ("Something went wrong", message or "The server could not do this."))
    return (
        render_page("error.html", "/static/js/dom.js")
        .replace("__TITLE__", html.escape(title))
        .replace("__TEXT__", html.escape(text))
        .replace("__STATUS__", str(status))
    )


def wants_html(scope: Scope) -> bool:
    if scope["type"] != "http" or str(scope["path"]).startswith(MACHINE_PATHS):
        return False
    accept = dict(scope.get("headers") or []).get(b"accept", b"").decode("latin-1")
    return "text/html" in accept


class HtmlErrors:
    """Turns a JSON error on a page path into a page in plain words, for a browser that asks for HTML."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # A plain function for what it passes on: a socket's handler keeps no frame of it alive.
        if not wants_html(scope):
            return self.app(scope, receive, send)
        return self._html(scope, receive, send)

    async def _html(self, scope: Scope, receive: Receive, send: Send) -> None:
        start: Message | None = None
        body = bytearray()

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers") or [])
                is_json = headers.get(b"content-type", b"").startswith(b"application/json")
                if message["status"] >= 400 and is_json:
                    start = message
                    return
            if start is None:
                await send(message)
                return
            body.extend(message.get("body", b""))
            if not message.get("more_body", False):
                await _send_error_page(send, start, bytes(body))

        await self.app(scope, receive, capture)


async def _send_error_page(send: Send, start: Message, body: bytes) -> None:
    try:
        error = json.loads(body).get("error", {})
        code, message = str(error.get("code", "")), str(error.get("message", ""))
    except (ValueError, AttributeError):
        code, message = "", ""
    page = error_html(start["status"], code, message).encode()
    kept = [(k, v) for k, v in start.get("headers") or [] if k.lower() in (b"retry-after", b"www-authenticate")]
    headers = [(k.lower().encode(), v.encode()) for k, v in page_headers("error").items()]
    headers += [(b"content-type", b"text/html; charset=utf-8"), (b"content-length", str(len(page)).encode())]
    await send({"type": "http.response.start", "status": start["status"], "headers": headers + kept})
    await send({"type": "http.response.body", "body": page})
