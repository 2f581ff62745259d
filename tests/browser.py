"""A real server process and a headless Chromium, for tests/test_browser.py and scripts/screenshots.

The server is ``python -m rooms_server`` on a free 127.0.0.1 port with its own SQLite file, the way
an operator starts it. The browser is the Debian ``chromium`` package driven by Playwright (never a
browser Playwright downloads); every request a page makes to anything but 127.0.0.1 is aborted and
recorded, so the pages are proven to need no network beyond the server.

The README's screenshots are rendered by tests/screenshots.py (scripts/screenshots) with these.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

from tests.services import require_present

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, Playwright, Route

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# Headless, as root in a container, and quiet: no GPU, no QUIC, no calls home (the machine's network
# is closed and Chromium would otherwise keep trying to reach Google's hosts).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 390, "height": 844}

# Controls smaller than 44 × 44 CSS px (a control whose label is 44 px tall counts as its label;
# links inside text are exempt, as in WCAG 2.5.5).
SMALL_TARGETS = """
() => [...document.querySelectorAll("button, a, input, select, [role=slider]")]
  .filter((el) => el.offsetParent !== null && !el.closest("p, .track-text, .invite-url"))
  .filter((el) => {
    const box = el.getBoundingClientRect();
    const label = el.closest("label") || (el.id && document.querySelector(`label[for="${el.id}"]`));
    const around = label ? label.getBoundingClientRect() : box;
    return Math.max(box.height, around.height) < 44 || Math.max(box.width, around.width) < 44;
  })
  .map((el) => el.outerHTML.slice(0, 120))
"""
LAPTOP = {"width": 1280, "height": 800}
REPO = Path(__file__).resolve().parent.parent
FAKES = REPO / "tests" / "fakes"
# The players' real scripts, answered by local stand-ins (tests/fakes/): never the network.
PLAYER_SCRIPTS = {
    "https://www.youtube.com/iframe_api": FAKES / "youtube_iframe_api.js",
    "https://open.spotify.com/embed/iframe-api/v1": FAKES / "spotify_iframe_api.js",
}

# Artwork hosts the pages show images from (CSP img-src): answered with a local stand-in image.
ARTWORK_HOSTS = ("i.ytimg.com", "i.scdn.co")
AXE = Path(os.environ.get("AXE_CORE_DIR", REPO / ".cache" / "axe")) / "node_modules" / "axe-core" / "axe.min.js"


def artwork_standin(url: str) -> str:
    """A square "album cover" of two colours picked from the URL: the same image for the same URL."""
    digest = hashlib.sha256(url.encode()).digest()
    one, two = (f"hsl({digest[i] * 360 // 256},70%,{45 + digest[i + 1] % 20}%)" for i in (0, 2))
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><defs><linearGradient id="g" x2="1" y2="1">'
        f'<stop offset="0" stop-color="{one}"/><stop offset="1" stop-color="{two}"/></linearGradient></defs>'
        '<rect width="64" height="64" fill="url(#g)"/><circle cx="32" cy="32" r="13" fill="none" '
        'stroke="rgba(255,255,255,.55)" stroke-width="3"/>'
        '<circle cx="32" cy="32" r="3" fill="rgba(255,255,255,.8)"/></svg>'
    )


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not Path(CHROMIUM).exists():
        return f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -e '.[test]')"
    return None


def axe_script() -> str:
    """axe-core's axe.min.js, installed from the npm registry into .cache/axe on first use (never a CDN)."""
    if not AXE.exists():
        npm = shutil.which("npm")
        require_present(
            None if npm else "npm is not installed (apt-get install npm): axe-core comes from the npm registry"
        )
        assert npm is not None
        prefix = AXE.parent.parent.parent
        subprocess.run(
            [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "--silent", "axe-core@4"],
            check=True,
            timeout=300,
        )
    return AXE.read_text()


def axe_violations(page: Page, source: str) -> list[str]:
    """axe-core's violations on the page as it is now (WCAG 2.1 A and AA, best practices), one line each."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(source)  # not add_script_tag: the pages' CSP allows no inline or foreign script
    found = page.evaluate(
        """async () => {
          const result = await axe.run(document, { resultTypes: ["violations"] });
          return result.violations.map((v) => `${v.id} (${v.impact}): ${v.help} — ` +
            v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", "));
        }"""
    )
    return [str(line) for line in found]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the server ------------------------------------------------------------------------------------


@dataclass
class Server:
    base_url: str
    db_path: Path
    process: subprocess.Popen[str]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@contextmanager
def run_server(workdir: Path, **extra_env: str) -> Iterator[Server]:
    """``python -m rooms_server`` on 127.0.0.1 with SQLite in ``workdir``; stopped on exit."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    db_path = workdir / "rooms.db"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "ALLOWED_ORIGINS")}
    env.update(
        PORT=str(port),
        HOST="127.0.0.1",
        DATABASE_URL=f"sqlite+aiosqlite:///{db_path}",
        PUBLIC_BASE_URL=base_url,
        SECRET_KEY="browser-tests-secret-key-0123456789abcdef",
        SECRETS_FILE=str(workdir / "secrets.json"),
        PLAYBACK_LEAD_MS="200",
        INVITE_CLEANUP_S="3600",  # expired invites stay readable (410) for the whole run
        **extra_env,
    )
    log_path = workdir / "server.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "rooms_server"],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
    server = Server(base_url, db_path, process, log_path)
    try:
        _wait_ready(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _wait_ready(server: Server, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"the server exited early:\n{server.log()}")
        try:
            with urllib.request.urlopen(f"{server.base_url}/readyz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the server did not become ready within {timeout}s:\n{server.log()}")


# -- the HTTP API, for setting up what the pages then show -------------------------------------------


@dataclass
class Api:
    base_url: str
    calls: list[str] = field(default_factory=list)

    def call(self, method: str, path: str, body: object = None, token: str | None = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        self.calls.append(f"{method} {path}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            return exc.code, json.loads(raw) if raw else None

    def ok(self, method: str, path: str, body: object = None, token: str | None = None) -> Any:
        status, data = self.call(method, path, body, token)
        if status >= 300:
            raise AssertionError(f"{method} {path} → {status} {data}")
        return data

    def user(self, name: str) -> str:
        return str(self.ok("POST", "/api/users", {"name": name})["token"])

    def group(self, token: str, name: str) -> str:
        return str(self.ok("POST", "/api/groups", {"name": name}, token)["id"])

    def invite(self, token: str, group_id: str, **body: object) -> dict[str, Any]:
        result: dict[str, Any] = self.ok("POST", f"/api/groups/{group_id}/invite", body, token)
        return result

    def add_track(self, token: str, group_id: str, title: str, duration: int, url: str) -> None:
        service = "spotify" if "spotify" in url else "youtube"
        body = {"service": service, "url": url, "title": title, "duration": duration}
        self.ok("POST", f"/api/groups/{group_id}/tracks", body, token)


def expire_invite(server: Server, token: str) -> None:
    """Moves an invite's expiry into the past, as if its lifetime had run out."""
    with sqlite3.connect(server.db_path, timeout=15) as db:
        (stored,) = db.execute("SELECT expired_at FROM groupqr WHERE id = ?", (token,)).fetchone()
        past = "2000" + str(stored)[4:]  # same format, 20-odd years ago
        assert db.execute("UPDATE groupqr SET expired_at = ? WHERE id = ?", (past, token)).rowcount == 1


# -- the browser -----------------------------------------------------------------------------------


def launch(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


def new_phone(
    browser: Browser,
    blocked: list[str],
    *,
    scale: float = 1,
    player_config: dict[str, Any] | None = None,
    color_scheme: str = "dark",
) -> BrowserContext:
    """A fresh phone: 390×844, touch, its own storage; only 127.0.0.1 is reachable, and the players'
    scripts are the local fakes (``player_config`` tunes them: start and seek latency, autoplay)."""
    context = browser.new_context(
        viewport=PHONE,
        device_scale_factor=scale,
        is_mobile=True,
        has_touch=True,
        locale="en-GB",
        timezone_id="UTC",
        service_workers="block",
        color_scheme=color_scheme,
    )
    guard_context(context, blocked, player_config)
    return context


def new_laptop(browser: Browser, blocked: list[str], *, color_scheme: str = "dark") -> BrowserContext:
    """A laptop (or a TV's browser): 1280×800, mouse, its own storage; the same network guard."""
    context = browser.new_context(
        viewport=LAPTOP, locale="en-GB", timezone_id="UTC", service_workers="block", color_scheme=color_scheme
    )
    guard_context(context, blocked, None)
    return context


def guard_context(context: BrowserContext, blocked: list[str], player_config: dict[str, Any] | None) -> None:
    context.set_default_timeout(10_000)

    def guard(route: Route) -> None:
        host = urlsplit(route.request.url).hostname
        if host == "127.0.0.1":
            route.continue_()
        elif host in ARTWORK_HOSTS:
            route.fulfill(body=artwork_standin(route.request.url), content_type="image/svg+xml")
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    for url, path in PLAYER_SCRIPTS.items():  # registered last, so they win over the guard
        context.route(url, _serve_file(path))
    if player_config:
        context.add_init_script(f"window.__fakePlayerConfig = {json.dumps(player_config)};")


def _serve_file(path: Path) -> Callable[[Route], None]:
    def serve(route: Route) -> None:
        route.fulfill(path=str(path), content_type="text/javascript")

    return serve


def join_through_invite(page: Page, invite_url: str, name: str) -> None:
    """What a friend does after scanning the QR code: open the URL, type a name, join."""
    page.goto(invite_url)
    page.get_by_label("Your name").fill(name)
    page.get_by_role("button", name="Join the room").click()
    page.wait_for_url("**/groups/*")
    page.locator("#status[data-state=connected]").wait_for()


def horizontal_overflow(page: Page) -> int:
    """How many CSS pixels the page is wider than the viewport (0: no horizontal scroll)."""
    return int(page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))


# -- pytest fixtures of the browser suites (imported by them: a module-scoped browser and server) --


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    require_present(chromium_missing())
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = launch(playwright)
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with run_server(tmp_path_factory.mktemp("browser")) as server:
        yield server


class Phones:
    """Browser contexts of one test; checks at the end that no page broke or left 127.0.0.1."""

    def __init__(self, browser: Browser, server: Server) -> None:
        self.browser = browser
        self.server = server
        self.blocked: list[str] = []
        self.page_errors: list[str] = []
        self.contexts: list[BrowserContext] = []

    def _page(self, color_scheme: str = "dark", token: str | None = None) -> Page:
        context = new_phone(self.browser, self.blocked, color_scheme=color_scheme)
        if token:
            session = json.dumps({"token": token})
            context.add_init_script(f"localStorage.setItem('rooms.session', {json.dumps(session)})")
        self.contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: self.page_errors.append(str(exc)))
        return page

    def room(self, token: str, group_id: str, color_scheme: str = "dark") -> Page:
        """A phone whose identity is ``token`` (as after joining), on the room page, connected."""
        page = self._page(color_scheme, token)
        page.context.add_init_script(f"localStorage.setItem('rooms.listen.{group_id}', 'off')")
        page.goto(f"{self.server.base_url}/groups/{group_id}")
        connected(page)
        return page

    def fresh(self, color_scheme: str = "dark") -> Page:
        """A phone that has never been here: no identity yet."""
        return self._page(color_scheme)

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def phones(browser: Browser, server: Server) -> Iterator[Phones]:
    phones = Phones(browser, server)
    yield phones
    phones.close()
    assert phones.blocked == [], "the pages tried to leave 127.0.0.1"
    assert phones.page_errors == [], "uncaught errors in the pages"


@pytest.fixture(scope="module")
def axe() -> str:
    return axe_script()


def connected(page: Page) -> None:
    page.locator("#status[data-state=connected]").wait_for()
