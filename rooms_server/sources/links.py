"""Links users paste, turned into (service, id, canonical URL). Pure: no I/O.

Spotify: ``https://open.spotify.com[/intl-xx]/track/<id>[?si=…]``, ``…/embed/track/<id>`` and
``spotify:track:<id>``; ids are 22 base-62 characters. YouTube: ``youtube.com/watch?v=<id>`` (also
``www.``, ``m.``, ``music.``), ``youtu.be/<id>``, ``/shorts/<id>``, ``/embed/<id>``, ``/live/<id>``,
``youtube-nocookie.com/embed/<id>``, with any ``t=``, ``list=``, ``si=`` parameters; ids are 11
characters of ``[A-Za-z0-9_-]``. Hosts are matched exactly (``open.spotify.com.evil.com`` is not
Spotify), only http(s) links are accepted, and the stored URL is the canonical one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import SplitResult, parse_qs, urlsplit

from rooms_server.sources.base import SourceError

SPOTIFY_ID = re.compile(r"[0-9A-Za-z]{22}")
YOUTUBE_ID = re.compile(r"[A-Za-z0-9_-]{11}")
SPOTIFY_HOSTS = frozenset({"open.spotify.com", "play.spotify.com"})
SPOTIFY_KINDS = frozenset({"album", "playlist", "artist", "episode", "show", "user", "collection", "genre"})
YOUTUBE_HOSTS = frozenset(
    {"youtube.com", "www.youtube.com", "m.youtube.com", "music.youtube.com", "youtube-nocookie.com"}
    | {"www.youtube-nocookie.com"}
)
YOUTU_BE_HOSTS = frozenset({"youtu.be", "www.youtu.be"})
YOUTUBE_PATH_KINDS = frozenset({"shorts", "embed", "live", "v", "e"})
_INTL = re.compile(r"intl-[A-Za-z]{2}(?:[-_][A-Za-z0-9]{2,4})?")
NAMES = {"spotify": "Spotify", "youtube": "YouTube"}


@dataclass(frozen=True, slots=True)
class Link:
    service: str
    item_id: str

    @property
    def url(self) -> str:
        if self.service == "spotify":
            return f"https://open.spotify.com/track/{self.item_id}"
        return f"https://www.youtube.com/watch?v={self.item_id}"


def parse_link(service: str, text: str) -> Link:
    """The track or video behind ``text``, which must be a link of ``service``; raises SourceError."""
    found = detect_service(text)
    if found is None:
        raise SourceError("invalid_link", f"not a {NAMES.get(service, service)} link")
    if found != service:
        raise SourceError("invalid_link", f"this is a {NAMES[found]} link; add it with service {found!r}")
    item_id = spotify_track_id(text) if service == "spotify" else youtube_video_id(text)
    return Link(service, item_id)


def detect_service(text: str) -> str | None:
    """Which service a link belongs to, from its scheme and exact host alone."""
    value = text.strip()
    if value.lower().startswith("spotify:"):
        return "spotify"
    parts = _split(value)
    if parts is None:
        return None
    host = (parts.hostname or "").lower()
    if host in SPOTIFY_HOSTS or host == "spotify.link":
        return "spotify"
    if host in YOUTUBE_HOSTS or host in YOUTU_BE_HOSTS:
        return "youtube"
    return None


def spotify_track_id(text: str) -> str:
    value = text.strip()
    if value.lower().startswith("spotify:"):
        return _spotify_uri(value)
    parts = _split(value)
    assert parts is not None
    if (parts.hostname or "").lower() == "spotify.link":
        raise SourceError("unsupported_link", "spotify.link short links are not supported; share the track link")
    segments = [p for p in parts.path.split("/") if p]
    if segments and _INTL.fullmatch(segments[0]):
        segments = segments[1:]
    if segments[:1] == ["embed"]:
        segments = segments[1:]
    if not segments:
        raise SourceError("invalid_link", "the Spotify link names no track")
    if segments[0] in SPOTIFY_KINDS:
        raise SourceError("unsupported_link", f"Spotify {segments[0]}s cannot be added; share a single track")
    if segments[0] != "track" or len(segments) != 2:
        raise SourceError("invalid_link", "the Spotify link names no track")
    return _spotify_id(segments[1])


def _spotify_uri(value: str) -> str:
    pieces = value.split(":")
    if len(pieces) == 3 and pieces[1] == "track":
        return _spotify_id(pieces[2])
    if len(pieces) >= 3 and pieces[1] in SPOTIFY_KINDS:
        raise SourceError("unsupported_link", f"Spotify {pieces[1]}s cannot be added; share a single track")
    raise SourceError("invalid_link", "the Spotify URI names no track")


def _spotify_id(candidate: str) -> str:
    if not SPOTIFY_ID.fullmatch(candidate):
        raise SourceError("invalid_link", "a Spotify track id has 22 letters and digits")
    return candidate


def youtube_video_id(text: str) -> str:
    parts = _split(text.strip())
    assert parts is not None
    host = (parts.hostname or "").lower()
    segments = [p for p in parts.path.split("/") if p]
    query = parse_qs(parts.query)
    if host in YOUTU_BE_HOSTS:
        candidate = segments[0] if len(segments) == 1 else ""
    elif segments == ["watch"]:
        candidate = query.get("v", [""])[0]
        if not candidate and "list" in query:
            raise SourceError("unsupported_link", "YouTube playlists cannot be added; share a single video")
    elif len(segments) == 2 and segments[0] in YOUTUBE_PATH_KINDS:
        candidate = segments[1]
    elif segments[:1] in (["playlist"], ["channel"], ["c"], ["user"]) or (segments and segments[0].startswith("@")):
        raise SourceError("unsupported_link", "YouTube playlists and channels cannot be added; share a single video")
    else:
        raise SourceError("invalid_link", "the YouTube link names no video")
    if not YOUTUBE_ID.fullmatch(candidate):
        raise SourceError("invalid_link", "a YouTube video id has 11 characters")
    return candidate


def _split(value: str) -> SplitResult | None:
    """http(s) URLs, with the scheme optional as people paste them; None for anything else."""
    if any(ch.isspace() for ch in value):
        return None
    candidate = value if "://" in value else f"https://{value}"
    try:
        parts = urlsplit(candidate)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or parts.username is not None or parts.password is not None:
        return None
    return parts
