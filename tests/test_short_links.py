"""spotify.link short links are followed to their track (against a local fake of spotify.link), and
GET /api/sources tells a page what the server can do with each service."""

from __future__ import annotations

from pathlib import Path

from tests.fake_services import (
    TRACK_ID,
    FakeShortLinks,
    FakeSpotify,
    fake_short_links as fake_short_links,
    fake_spotify as fake_spotify,
)
from tests.helpers import error_code
from tests.source_helpers import source_settings
from tests.test_sources_add import add, open_room
from tests.ws_client import Phone

TRACK_LINK = f"https://open.spotify.com/track/{TRACK_ID}?si=abc123"


def test_short_links_resolve_to_the_track(
    fake_spotify: FakeSpotify, fake_short_links: FakeShortLinks, tmp_path: Path, migrated_sqlite_template: Path
) -> None:
    fake_spotify.add_track(name="Blue Monday")
    fake_short_links.targets["hop"] = "/AbCd123"  # Branch sometimes answers with a hop of its own
    fake_short_links.targets["AbCd123"] = TRACK_LINK
    fake_short_links.pages["page"] = f'<a href="{TRACK_LINK}">Open</a>'
    sources = source_settings(fake_spotify, spotify_short_link_url=fake_short_links.url)
    with open_room(sources, tmp_path, migrated_sqlite_template) as (client, ann, gid):
        phone = Phone(client, ann, gid)
        for code in ("AbCd123", "hop", "page"):
            assert add(phone, "spotify", f"https://spotify.link/{code}")["type"] == "ack"
            track = phone.until("track_added")["track"]
            assert (
                track["url"] == f"https://open.spotify.com/track/{TRACK_ID}"
                and track["title"] == "Blue Monday – Artist"
            )
        body = {"service": "spotify", "url": "https://spotify.link/AbCd123"}
        assert client.post(f"/api/groups/{gid}/tracks", json=body, headers=ann.headers).status_code == 201


def test_short_links_that_lead_nowhere_are_short_link_unresolved(
    fake_short_links: FakeShortLinks, tmp_path: Path, migrated_sqlite_template: Path
) -> None:
    fake_short_links.targets["away"] = "https://evil.example/track/x"  # never followed off Spotify and Branch
    fake_short_links.targets["album"] = f"https://open.spotify.com/album/{TRACK_ID}"
    sources = source_settings(spotify_short_link_url=fake_short_links.url)
    with open_room(sources, tmp_path, migrated_sqlite_template) as (client, ann, gid):
        phone = Phone(client, ann, gid)
        for url in ("https://spotify.link/unknown", "https://spotify.link/away", "https://spotify.link/a/b/c"):
            reply = add(phone, "spotify", url, title="Song", duration=100)
            assert (reply["type"], reply.get("code")) == ("error", "short_link_unresolved"), url
            assert "share the track link" in reply["message"]
        assert add(phone, "spotify", "https://spotify.link/album", title="S", duration=9)["code"] == "unsupported_link"
        body = {"service": "spotify", "url": "https://spotify.link/unknown", "title": "Song", "duration": 100}
        refused = client.post(f"/api/groups/{gid}/tracks", json=body, headers=ann.headers)
        assert refused.status_code == 422 and error_code(refused) == "short_link_unresolved"
        assert [s.path for s in fake_short_links.server.seen if s.path == "/track/x"] == []


def test_short_links_resolve_without_spotify_credentials_too(
    fake_short_links: FakeShortLinks, tmp_path: Path, migrated_sqlite_template: Path
) -> None:
    fake_short_links.targets["AbCd123"] = TRACK_LINK
    sources = source_settings(spotify_short_link_url=fake_short_links.url)
    with open_room(sources, tmp_path, migrated_sqlite_template) as (client, ann, gid):
        phone = Phone(client, ann, gid)
        assert add(phone, "spotify", "https://spotify.link/AbCd123", title="Mine", duration=120)["type"] == "ack"
        track = phone.until("track_added")["track"]
        assert (track["url"], track["title"], track["artwork_url"]) == (
            f"https://open.spotify.com/track/{TRACK_ID}",
            "Mine",
            None,
        )


def test_sources_say_what_the_server_and_the_caller_can_do(
    fake_spotify: FakeSpotify, tmp_path: Path, migrated_sqlite_template: Path
) -> None:
    with open_room(source_settings(), tmp_path, migrated_sqlite_template) as (client, ann, _):
        nothing = {"resolve": False, "search": False}
        assert client.get("/api/sources").json() == {"spotify": nothing, "youtube": nothing}
        assert client.get("/api/sources", headers={"Authorization": "Bearer nope"}).status_code == 200
        client.put("/api/me/services/spotify", json={"access_token": "t", "expires_in": 3600}, headers=ann.headers)
        mine = client.get("/api/sources", headers=ann.headers).json()
        assert mine == {"spotify": {"resolve": True, "search": True}, "youtube": nothing}
    (tmp_path / "b").mkdir()
    with open_room(source_settings(fake_spotify), tmp_path / "b", migrated_sqlite_template) as (client, _, _):
        assert client.get("/api/sources").json()["spotify"] == {"resolve": True, "search": True}
