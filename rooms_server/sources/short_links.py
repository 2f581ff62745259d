"""``spotify.link`` short links: followed to the ``open.spotify.com`` track link they stand for.

Spotify's share sheet hands out ``https://spotify.link/<code>`` (a Branch.io link). It answers a
plain GET with a redirect to ``https://open.spotify.com/track/<id>?si=…`` (sometimes through one
more Branch hop, sometimes with an HTML page that names the target). Redirects are followed by hand,
at most ``MAX_HOPS``, and only toward ``spotify.link`` itself, Branch's ``app.link`` or Spotify: a
short link can never make the server fetch an arbitrary address. Whatever does not end at a
Spotify link is ``short_link_unresolved``. The base URL is ``SPOTIFY_SHORT_LINK_URL`` so that tests
talk to a local fake.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

import anyio
import requests

from rooms_server.config import SourceSettings
from rooms_server.sources.base import SourceError, run_blocking
from rooms_server.sources.links import SPOTIFY_HOSTS

MAX_HOPS = 4
MAX_BODY_BYTES = 256 * 1024
SHORT_HOST = "spotify.link"
_CODE = re.compile(r"/[A-Za-z0-9_-]{1,64}")
_FOLLOWED_SUFFIXES = (".app.link", ".spotify.link")
_SPOTIFY_IN_PAGE = re.compile(r"https://open\.spotify\.com/(?:intl-[a-z-]+/)?track/[A-Za-z0-9]{22}")
UNRESOLVED = "This spotify.link short link could not be opened; open it in Spotify and share the track link instead."


def is_short_link(text: str) -> bool:
    parts = urlsplit(text.strip())
    return parts.scheme in ("http", "https") and (parts.hostname or "").lower() == SHORT_HOST


class ShortLinks:
    def __init__(self, settings: SourceSettings) -> None:
        self.base_url = settings.spotify_short_link_url.rstrip("/")
        self.timeout_s = settings.timeout_s
        self._limiter = anyio.CapacityLimiter(4)

    async def expand(self, text: str) -> str:
        """The Spotify link behind a short link; raises SourceError ``short_link_unresolved``."""
        path = urlsplit(text.strip()).path
        if not _CODE.fullmatch(path):
            raise SourceError("short_link_unresolved", UNRESOLVED)
        start = f"{self.base_url}{path}"
        return await run_blocking(
            lambda: self._follow(start), timeout_s=self.timeout_s * 2, limiter=self._limiter, what="spotify.link"
        )

    def _follow(self, url: str) -> str:
        with requests.Session() as session:
            for _ in range(MAX_HOPS):
                try:
                    answer = session.get(url, allow_redirects=False, timeout=self.timeout_s, stream=True)
                except requests.RequestException:
                    raise SourceError("short_link_unresolved", UNRESOLVED) from None
                with answer:
                    target = answer.headers.get("location")
                    if answer.is_redirect and target:
                        url = urljoin(url, target)
                        if _is_spotify(url):
                            return url
                        if not self._may_follow(url):
                            break
                        continue
                    if answer.status_code == 200:
                        found = _SPOTIFY_IN_PAGE.search(
                            answer.raw.read(MAX_BODY_BYTES, decode_content=True).decode(errors="replace")
                        )
                        if found:
                            return found.group(0)
                    break
        raise SourceError("short_link_unresolved", UNRESOLVED)

    def _may_follow(self, url: str) -> bool:
        host = (urlsplit(url).hostname or "").lower()
        return url.startswith(self.base_url + "/") or host == SHORT_HOST or host.endswith(_FOLLOWED_SUFFIXES)


def _is_spotify(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "https" and (parts.hostname or "").lower() in SPOTIFY_HOSTS
