"""The pages and their assets as the app serves them (no browser needed): versioned modules through
an import map, exact Content-Security-Policies, caching, and nothing from elsewhere but the players."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from rooms_server.app import create_app
from rooms_server.config import Settings
from rooms_server.web import error_pages, pages

STATIC = Path(pages.__file__).resolve().parent.parent / "static"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'rooms.db'}", migrate_on_start=True)
    with TestClient(create_app(settings)) as client:
        yield client


def csp(response: object) -> dict[str, list[str]]:
    header = response.headers["content-security-policy"]  # type: ignore[attr-defined]
    return {part.split()[0]: part.split()[1:] for part in header.split("; ")}


def import_map_of(html: str) -> tuple[str, dict[str, str]]:
    match = re.search(r'<script type="importmap">(.*?)</script>', html, flags=re.S)
    assert match, "the page has an import map"
    return match.group(1), json.loads(match.group(1))["imports"]


def test_pages_room_csp_allows_exactly_the_players_origins(client: TestClient) -> None:
    room = client.get("/groups/0123abcd")
    policy = csp(room)
    text, _ = import_map_of(room.text)
    digest = "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"
    assert policy == {
        "default-src": ["'none'"],
        "script-src": ["'self'", digest, "https://www.youtube.com"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "blob:", "data:", "https://i.scdn.co", "https://i.ytimg.com"],
        "frame-src": ["'self'", "https://www.youtube-nocookie.com"],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "manifest-src": ["'self'"],
        "base-uri": ["'none'"],
        "form-action": ["'none'"],
    }
    assert "unsafe" not in room.headers["content-security-policy"]


def test_pages_spotify_frame_is_the_only_place_with_spotifys_origins(client: TestClient) -> None:
    frame = client.get("/embed/spotify")
    assert frame.status_code == 200 and frame.headers["content-type"].startswith("text/html")
    assert csp(frame) == {
        "default-src": ["'none'"],
        "script-src": ["'self'", "https://open.spotify.com", "https://embed-cdn.spotifycdn.com", "'unsafe-eval'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "frame-src": ["https://open.spotify.com"],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'self'"],
        "manifest-src": ["'self'"],
        "base-uri": ["'none'"],
        "form-action": ["'none'"],
    }
    assert re.search(r'src="/static/js/players/spotify-frame\.js\?v=[0-9a-f]{12}"', frame.text)
    join = client.get("/join/0123abcd")
    assert csp(join)["script-src"][0] == "'self'" and len(csp(join)["script-src"]) == 2  # self and its import map
    assert "frame-src" not in csp(join)


def test_pages_every_module_is_versioned_by_its_content(client: TestClient) -> None:
    pages_and_entries = (
        ("/", "start"),
        ("/join/0123abcd", "join"),
        ("/groups/0123abcd", "room"),
        ("/groups/0123abcd/screen", "screen"),
    )
    for path, entry in pages_and_entries:
        page = client.get(path)
        assert page.status_code == 200 and page.headers["referrer-policy"] == "no-referrer"
        assert page.headers["cache-control"] == "no-cache"
        assert "__" not in page.text.replace("__roomsDebug", ""), "every placeholder was filled"
        _, modules = import_map_of(page.text)
        on_disk = sorted(p.relative_to(STATIC).as_posix() for p in (STATIC / "js").rglob("*.js"))
        assert sorted(url.removeprefix("/static/") for url in modules) == on_disk
        for url, versioned in modules.items():
            digest = hashlib.sha256((STATIC / url.removeprefix("/static/")).read_bytes()).hexdigest()[:12]
            assert versioned == f"{url}?v={digest}"
        assert f'<script type="module" src="{modules[f"/static/js/{entry}.js"]}">' in page.text
        css = hashlib.sha256((STATIC / "app.css").read_bytes()).hexdigest()[:12]
        assert f'href="/static/app.css?v={css}"' in page.text
        assert not re.search(r'(src|href)="(https?:)?//', page.text), "nothing from another origin"


def test_pages_versioned_assets_are_immutable_and_outdated_ones_refused(client: TestClient) -> None:
    versions = pages.asset_versions()
    current = client.get(f"/static/js/clock.js?v={versions['/static/js/clock.js']}")
    assert current.status_code == 200 and "javascript" in current.headers["content-type"]
    assert current.headers["cache-control"] == "public, max-age=31536000, immutable"
    unversioned = client.get("/static/js/clock.js")
    assert unversioned.status_code == 200 and unversioned.headers["cache-control"] == "no-cache"
    outdated = client.get("/static/js/clock.js?v=000000000000")
    assert outdated.status_code == 404 and outdated.headers["cache-control"] == "no-store"
    assert client.get("/static/nope.js").status_code == 404
    style = client.get("/static/app.css")
    assert "url(" not in style.text and "@import" not in style.text


def test_pages_scripts_write_user_text_as_text_only() -> None:
    for script in (STATIC / "js").rglob("*.js"):
        source = script.read_text()
        assert ".innerHTML" not in source and "insertAdjacentHTML" not in source, script
        assert "eval(" not in source and "new Function" not in source, script
        code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith("//"))
        assert "Date.now()" not in code, f"{script}: time is measured on the monotonic clock"


def test_pages_are_not_in_the_api_schema(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not any(p.startswith(("/join", "/groups/{", "/static", "/embed")) for p in paths)


HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


def test_pages_start_and_screen_pages_have_the_players_only_where_they_play(client: TestClient) -> None:
    start = client.get("/", headers=HTML)
    assert start.status_code == 200 and "Start a room" in start.text
    assert "frame-src" not in csp(start) and csp(start)["script-src"][0] == "'self'"
    screen = client.get("/groups/0123abcd/screen", headers=HTML)
    assert screen.status_code == 200 and csp(screen) == csp(client.get("/groups/0123abcd"))  # it can be the speaker
    for page in (start, screen):
        assert '<link rel="manifest" href="/manifest.webmanifest">' in page.text
        assert 'rel="icon" href="/static/icons/favicon.svg"' in page.text


def test_pages_manifest_makes_an_installable_app_with_192_and_512_icons(client: TestClient) -> None:
    response = client.get("/manifest.webmanifest")
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/manifest+json")
    manifest = response.json()
    assert manifest["start_url"] == "/" and manifest["display"] == "standalone" and manifest["name"]
    sizes = {icon["sizes"]: icon["src"] for icon in manifest["icons"]}
    for size in ("192x192", "512x512"):
        icon = client.get(sizes[size])
        assert icon.status_code == 200 and icon.headers["content-type"] == "image/png"
        assert icon.headers["cache-control"] == "public, max-age=31536000, immutable"
        width, height = int.from_bytes(icon.content[16:20], "big"), int.from_bytes(icon.content[20:24], "big")
        assert f"{width}x{height}" == size
    favicon = client.get("/favicon.ico")
    assert favicon.status_code == 200 and favicon.content.startswith(b"\x89PNG")


def test_pages_errors_are_pages_in_a_browser_and_json_on_the_api(client: TestClient) -> None:
    for path in ("/nope", "/groups/0123abcd/nope", "/join"):
        page = client.get(path, headers=HTML)
        assert page.status_code == 404 and page.headers["content-type"].startswith("text/html"), path
        assert "Nothing here" in page.text and 'href="/"' in page.text and "not_found" not in page.text
        assert csp(page)["default-src"] == ["'none'"] and "script-src" not in csp(page)
    assert client.get("/nope").headers["content-type"] == "application/json"  # no Accept: text/html
    api = client.get("/api/nope", headers=HTML)
    assert api.status_code == 404 and api.json()["error"]["code"] == "not_found"
    unauthorized = client.get("/api/me", headers=HTML)
    assert unauthorized.status_code == 401 and unauthorized.json()["error"]["code"] == "unauthorized"


def test_pages_error_page_says_in_plain_words_why_an_origin_was_refused() -> None:
    text = error_pages.error_html(403, "origin_refused", "Origin http://10.0.0.5:8000 is not allowed.")
    assert "This address is not allowed" in text and "ALLOWED_ORIGINS" in text
    unknown = error_pages.error_html(418, "teapot", "I'm a <teapot>")
    assert "I&#x27;m a &lt;teapot&gt;" in unknown and "<teapot>" not in unknown


def test_pages_gzip_compresses_pages_and_assets_but_not_small_bodies(client: TestClient) -> None:
    versions = pages.asset_versions()
    css = client.get(f"/static/app.css?v={versions['/static/app.css']}", headers={"Accept-Encoding": "gzip"})
    assert css.headers["content-encoding"] == "gzip" and css.headers["vary"] == "Accept-Encoding"
    assert css.headers["cache-control"] == "public, max-age=31536000, immutable"
    start = client.get("/", headers={"Accept-Encoding": "gzip", **HTML})
    assert start.headers["content-encoding"] == "gzip"
    small = client.get("/healthz", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in small.headers
