"""The host's journey in a real Chromium against a real server, with no curl: the start page, the
big screen, two phones joining by the QR URL and by the short code, search and add, chat history,
reactions, a vote to skip, the host tools and a rotation seen live by a member; axe-core checks
every page state on the way. Spotify's Web API is the local fake of tests/fake_services.py.

The journey's timings are printed (``pytest -s`` shows them): from opening ``/`` to the room
live, from typing the code to the room's first snapshot, and the others.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser import (
    SMALL_TARGETS,
    Api,
    axe_script,
    axe_violations,
    browser as browser,
    horizontal_overflow,
    new_laptop,
    new_phone,
    playwright as playwright,
    run_server,
)
from tests.fake_services import CLIENT_ID, CLIENT_SECRET, FakeSpotify

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Locator, LocatorAssertions, Page

    from tests.browser import Server

pytestmark = pytest.mark.timeout(240)

DREAMS = "0ofHAoxe9vBkTCp2UQIavz"
DIGITAL_LOVE = "2VEZx7NWsZ1D0eJ4uv5Fym"
ARTWORK = "https://i.scdn.co/image/ab67616d0000b273"

# One socket frame of a kind is sent and the socket then dropped at once, as a phone whose
# network dies right after sending: the frame reaches the server, its answer never comes back.
DROP_AFTER = """
(() => {
  const send = WebSocket.prototype.send;
  window.__dropAfter = null;
  WebSocket.prototype.send = function (data) {
    send.call(this, data);
    if (window.__dropAfter && String(data).includes(`"type":"${window.__dropAfter}"`)) {
      window.__dropAfter = null;
      window.__dropped = (window.__dropped || 0) + 1;
      this.close(4000, "network lost");
    }
  };
})();
"""


def expect(locator: Locator) -> LocatorAssertions:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


@pytest.fixture(scope="module")
def spotify() -> Iterator[FakeSpotify]:
    fake = FakeSpotify()
    fake.add_track(DREAMS, "Dreams", 257_000)
    fake.add_track(DIGITAL_LOVE, "Digital Love", 301_000)
    fake.add_track("4uLU6hMCjMI75M1A2tKUQC", "Dreamer", 212_000)
    for n, track in enumerate(fake.tracks.values()):
        track["album"] = {"images": [{"url": f"{ARTWORK}{n:024x}", "width": 640, "height": 640}]}
    fake.api.start()
    fake.accounts.start()
    try:
        yield fake
    finally:
        fake.api.stop()
        fake.accounts.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, spotify: FakeSpotify) -> Iterator[Server]:
    env = {
        "SPOTIFY_CLIENT_ID": CLIENT_ID,
        "SPOTIFY_CLIENT_SECRET": CLIENT_SECRET,
        "SPOTIFY_API_URL": f"{spotify.api.url}/v1/",
        "SPOTIFY_ACCOUNTS_URL": spotify.accounts.url,
        "NO_PROXY": "127.0.0.1,localhost",
    }
    with run_server(tmp_path_factory.mktemp("host"), **env) as server:
        yield server


@pytest.fixture(scope="module")
def axe() -> str:
    return axe_script()


class Devices:
    """The journey's browsers: each its own context; nothing may leave 127.0.0.1 or throw."""

    def __init__(self, browser: Browser, axe: str) -> None:
        self.browser = browser
        self.axe = axe
        self.blocked: list[str] = []
        self.errors: list[str] = []
        self.contexts: list[BrowserContext] = []
        self.axe_checked: list[str] = []

    def _page(self, context: BrowserContext) -> Page:
        context.add_init_script(DROP_AFTER)
        self.contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        return page

    def laptop(self) -> Page:
        return self._page(new_laptop(self.browser, self.blocked))

    def phone(self, color_scheme: str = "dark") -> Page:
        return self._page(new_phone(self.browser, self.blocked, color_scheme=color_scheme))

    def check(self, page: Page, state: str) -> None:
        """axe-core on this page state: no violation at all."""
        page.evaluate("document.activeElement && document.activeElement.blur()")
        violations = axe_violations(page, self.axe)
        assert violations == [], f"axe-core on {state}:\n" + "\n".join(violations)
        self.axe_checked.append(state)

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def devices(browser: Browser, axe: str) -> Iterator[Devices]:
    devices = Devices(browser, axe)
    yield devices
    devices.close()
    assert devices.blocked == [], "the pages tried to leave 127.0.0.1"
    assert devices.errors == [], "uncaught errors in the pages"


def connected(page: Page) -> None:
    page.locator("#status[data-state=connected]").wait_for()


def code_of(page: Page) -> str:
    return re.sub(r"\s", "", page.locator("#screen-code").inner_text())


def test_host_journey_from_the_start_page_to_a_party(server: Server, devices: Devices) -> None:
    timings: dict[str, float] = {}
    host = devices.laptop()

    # -- the start page: a new browser starts a room and is its host, no extra step
    started = time.monotonic()
    host.goto(f"{server.base_url}/")
    expect(host.get_by_role("heading", name="Start a room")).to_be_visible()
    devices.check(host, "start page (new visitor)")
    host.get_by_label("Room name").fill("Roof party")
    host.get_by_label("Your name").fill("Maya")
    host.get_by_role("button", name="Start the room").click()
    host.wait_for_url("**/groups/*")
    connected(host)
    timings["open / → room live (host)"] = time.monotonic() - started
    group_id = host.url.rstrip("/").rsplit("/", 1)[-1]
    expect(host.locator("#you")).to_have_text("You are Maya · host")
    expect(host.locator("#settings-card")).to_be_visible()
    expect(host.locator("#invite-qr[src^='blob:']")).to_be_visible()
    invite_url = host.locator("#invite-url").inner_text()
    expect(host.locator("#search-form")).to_be_visible()  # Spotify is configured: search is offered
    devices.check(host, "room page (host, empty queue)")

    # -- the big screen, in a second tab of the host's laptop
    started = time.monotonic()
    screen = host.context.new_page()
    screen.on("pageerror", lambda exc: devices.errors.append(str(exc)))
    screen.goto(f"{server.base_url}/groups/{group_id}/screen")
    connected(screen)
    expect(screen.locator("#screen-qr[src^='blob:']")).to_be_visible()
    expect(screen.locator("#screen-code")).to_have_text(re.compile(r"^[2-9A-HJKMNP-Z]{3,4} [2-9A-HJKMNP-Z]{3,4}$"))
    timings["big screen → QR and code shown"] = time.monotonic() - started
    code = code_of(screen)
    qr = screen.locator("#screen-qr").bounding_box()
    assert qr is not None and qr["width"] >= 300, "the QR code fills the screen's left side"
    assert horizontal_overflow(screen) <= 0
    devices.check(screen, "big screen (empty room)")

    # -- phone 1 joins through the QR code's URL
    bob = devices.phone()
    started = time.monotonic()
    bob.goto(invite_url)
    bob.get_by_label("Your name").fill("Bob")
    devices.check(bob, "invite page")
    bob.get_by_role("button", name="Join the room").click()
    bob.wait_for_url("**/groups/*")
    connected(bob)
    timings["QR URL → room live (phone 1)"] = time.monotonic() - started
    bob.get_by_label("Message").fill("Hello from Bob")
    bob.get_by_role("button", name="Send").click()
    expect(host.locator(".message", has_text="Hello from Bob")).to_be_visible()

    # -- phone 2 joins with the short code, typed in lower case with a dash
    cleo = devices.phone(color_scheme="light")
    cleo.goto(f"{server.base_url}/")
    devices.check(cleo, "start page (light theme)")
    assert cleo.evaluate(SMALL_TARGETS) == [], "touch targets under 44 px"
    typed = f"{code[:3]}-{code[3:]}".lower()
    started = time.monotonic()
    cleo.get_by_label("Room code").fill(typed)
    cleo.get_by_role("button", name="Join", exact=True).click()
    cleo.wait_for_url("**/join/*")
    cleo.get_by_label("Your name").fill("Cleo")
    cleo.get_by_role("button", name="Join the room").click()
    cleo.wait_for_url(f"**/groups/{group_id}")
    connected(cleo)
    timings["code typed → first snapshot (phone 2)"] = time.monotonic() - started
    # chat history: the message sent before Cleo joined, with its time
    history = cleo.locator(".message", has_text="Hello from Bob")
    expect(history).to_be_visible()
    expect(history.locator("time")).to_have_text(re.compile(r"^\d\d:\d\d$"))
    expect(screen.locator("#status[data-state=connected]")).to_be_visible()
    devices.check(cleo, "room page (member, light theme, chat history)")

    # -- search and add: artwork, title, artist, length; one tap
    started = time.monotonic()
    bob.get_by_label("Search", exact=True).fill("dream")
    bob.get_by_role("button", name="Search", exact=True).click()
    result = bob.get_by_role("button", name=re.compile(r"^Add Dreams"))
    expect(result).to_be_visible()
    expect(result.locator("img")).to_have_attribute("src", re.compile(r"^https://i\.scdn\.co/"))
    expect(result).to_contain_text("4:17")
    devices.check(bob, "room page (member, search results)")
    result.click()
    expect(host.locator("#queue .track-title", has_text="Dreams")).to_be_visible()
    timings["search → song in everyone's queue"] = time.monotonic() - started
    expect(host.locator("#queue img.track-art").first).to_have_attribute("src", re.compile(r"^https://i\.scdn\.co/"))
    # a pasted link resolves by itself: no title, no length typed
    started = time.monotonic()
    link = cleo.get_by_label("Or paste a link")
    link.fill(f"https://open.spotify.com/track/{DIGITAL_LOVE}")
    link.dispatch_event("paste")
    expect(cleo.locator("#manual-fields")).to_be_hidden()
    expect(host.locator("#queue .track-title", has_text="Digital Love")).to_be_visible()
    timings["pasted link → song in everyone's queue"] = time.monotonic() - started

    # -- playing: now playing with artwork on every page and on the big screen
    host.get_by_role("button", name="Play", exact=True).click()
    expect(screen.locator("#screen-title-text")).to_have_text("Dreams")
    expect(screen.locator("#screen-art")).to_have_attribute("src", re.compile(r"^https://i\.scdn\.co/"))
    expect(screen.locator("#screen-next")).to_contain_text("Digital Love")
    expect(bob.locator("#now-art")).to_be_visible()
    # the seek bar by keyboard: Page Up is 30 s on
    seek = host.get_by_role("slider", name=re.compile("^Playback position"))
    seek.focus()
    seek.press("PageUp")
    expect(bob.locator("#progress")).to_have_attribute("aria-valuenow", re.compile(r"^[34]\d$"))
    assert bob.evaluate(SMALL_TARGETS) == [], "touch targets under 44 px"

    # -- reactions from the snapshot's set: on the big screen and in everyone's chat
    cleo.get_by_role("button", name="React 🔥").click()
    expect(screen.locator("#screen-reactions")).to_contain_text("Cleo")
    expect(bob.locator(".message.reaction", has_text="reacted 🔥")).to_be_visible()
    devices.check(screen, "big screen (playing, up next, reactions)")

    # -- vote to skip with two people: everyone is told it was the vote
    started = time.monotonic()
    bob.get_by_role("button", name=re.compile(r"^Vote to skip")).click()
    if host.locator("#now-title", has_text="Dreams").is_visible():
        cleo.get_by_role("button", name=re.compile(r"^Vote to skip")).click()
    for page in (host, bob, cleo):
        expect(page.locator("#now-notice")).to_have_text("Skipped by vote")
        expect(page.locator("#now-title")).to_have_text(re.compile("Digital Love"))
    expect(screen.locator("#screen-notice")).to_have_text("Skipped by vote")
    expect(cleo.locator("#announce")).to_contain_text("Skipped by vote. Now playing: Digital Love")
    timings["second vote → everyone sees 'skipped by vote'"] = time.monotonic() - started

    # -- a chat sent as the link dies is delivered once and never reported lost
    bob.evaluate("window.__dropAfter = 'chat'")
    bob.get_by_label("Message").fill("sent as the wifi died")
    bob.get_by_role("button", name="Send").click()
    connected(bob)
    expect(cleo.locator(".message", has_text="sent as the wifi died")).to_have_count(1)
    expect(bob.locator(".message", has_text="sent as the wifi died")).to_have_count(1)
    expect(bob.get_by_label("Message")).to_have_value("")  # acked: the field was cleared
    assert bob.evaluate("window.__dropped") == 1
    expect(bob.locator("#chat-error")).to_have_text("")

    # -- offline shown at once
    started = time.monotonic()
    bob.context.set_offline(True)
    expect(bob.locator("#status")).to_have_attribute("data-state", "offline")
    timings["offline → shown"] = time.monotonic() - started
    bob.context.set_offline(False)
    connected(bob)

    # -- the big screen as the room's speaker
    screen.get_by_role("button", name="Play the room on this screen").click()
    expect(screen.locator("#screen-speaker-note")).to_have_text("This screen is the room's speaker.")
    expect(bob.locator("#listen-status")).to_have_text("This phone is a remote: the room plays on its speaker.")

    # -- host tools: rename, members, invite lifetime, rotation seen live by a member
    host.get_by_label("Room name").fill("Roof party, late")
    host.get_by_role("button", name="Rename").click()
    expect(bob.locator("#room-name")).to_have_text("Roof party, late")
    expect(screen.locator("#room-name")).to_have_text("Roof party, late")
    host.get_by_label("Actions for Bob").select_option(label="Make co-host")
    expect(bob.locator("#settings-card")).to_be_visible()
    host.get_by_label("Actions for Bob").select_option(label="Make member")
    expect(bob.locator("#settings-card")).to_be_hidden()
    expect(bob.locator("#invite-code")).to_have_text(f"{code[:3]} {code[3:]}")
    old_qr = bob.locator("#invite-qr").get_attribute("src")
    started = time.monotonic()
    host.get_by_label("A new invite works for").select_option("3600")
    host.get_by_role("button", name="New invite").click()
    expect(bob.locator("#invite-code")).not_to_have_text(f"{code[:3]} {code[3:]}")
    expect(screen.locator("#screen-code")).not_to_have_text(f"{code[:3]} {code[3:]}")
    expect(bob.locator("#invite-qr")).not_to_have_attribute("src", old_qr or "")
    timings["rotate → member's card shows the new code"] = time.monotonic() - started
    new_code = code_of(screen)
    assert new_code != code
    expect(host.locator("#invite-expiry")).to_contain_text("Valid until")
    host.get_by_role("button", name="Revoke").click()
    expect(bob.locator("#invite-card")).to_be_hidden()
    expect(screen.locator("#screen-no-invite")).to_be_visible()
    host.get_by_role("button", name="Create invite").click()
    expect(bob.locator("#invite-card")).to_be_visible()
    host.get_by_label("Actions for Cleo").select_option(label="Remove from the room")
    expect(cleo.locator("#fatal-title")).to_have_text("You're not in this room")
    devices.check(cleo, "room page (removed from the room)")

    # -- the dead code and an unknown page, in plain words
    cleo.goto(f"{server.base_url}/")
    cleo.get_by_label("Room code").fill(code)
    cleo.get_by_role("button", name="Join", exact=True).click()
    expect(cleo.locator("#code-error")).to_contain_text("No room has this code")
    cleo.goto(f"{server.base_url}/no/such/page")
    expect(cleo.get_by_role("heading", name="Nothing here")).to_be_visible()
    devices.check(cleo, "error page (404)")

    # -- delete, asked twice; everyone is told
    host.get_by_role("button", name="Delete the room").click()
    devices.check(host, "room page (host, settings, delete confirmation)")
    print("\nhost journey timings (s):")
    for name, seconds in timings.items():
        print(f"  {name}: {seconds:.2f}")
    print(f"axe-core: no violations on {len(devices.axe_checked)} page states: {'; '.join(devices.axe_checked)}")
    host.get_by_role("button", name="Yes, delete it").click()
    for page in (host, bob, screen):
        expect(page.locator("#fatal-title")).to_have_text("This room was deleted")


def test_host_start_page_lists_public_rooms_and_searches_them(server: Server, devices: Devices) -> None:
    host = devices.phone()
    host.goto(f"{server.base_url}/")
    host.get_by_label("Room name").fill("Jazz in the kitchen")
    host.get_by_label("Your name").fill("Ines")
    host.get_by_text("Listed publicly").click()
    host.get_by_text("One speaker").click()
    host.get_by_role("button", name="Start the room").click()
    host.wait_for_url("**/groups/*")
    connected(host)
    expect(host.locator("input[name=listening-mode][value=speaker]")).to_be_checked()
    host.goto(f"{server.base_url}/")
    expect(host.get_by_role("link", name="Open Jazz in the kitchen")).to_be_visible()  # your rooms
    guest = devices.phone()
    guest.goto(f"{server.base_url}/")
    guest.get_by_label("Search public rooms").fill("kitchen")
    guest.get_by_role("button", name="Search", exact=True).click()
    join = guest.get_by_role("button", name="Join Jazz in the kitchen")
    expect(join).to_be_visible()
    devices.check(guest, "start page (public rooms searched)")
    join.click()
    expect(guest.locator("#public-error")).to_contain_text("Type your name")
    guest.get_by_label("Your name").fill("Kai")
    join.click()
    guest.wait_for_url("**/groups/*")
    connected(guest)
    expect(guest.locator("#you")).to_have_text("You are Kai")


def test_host_no_service_configured_shows_title_and_length_upfront(tmp_path: Path, devices: Devices) -> None:
    with run_server(tmp_path, SPOTIFY_SHORT_LINK_URL="http://127.0.0.1:9") as plain:
        page = devices.phone()
        page.goto(f"{plain.base_url}/")
        page.get_by_label("Room name").fill("No keys here")
        page.get_by_label("Your name").fill("Noor")
        page.get_by_role("button", name="Start the room").click()
        page.wait_for_url("**/groups/*")
        connected(page)
        expect(page.locator("#search-form")).to_be_hidden()
        expect(page.get_by_label("Title", exact=True)).to_be_visible()
        expect(page.get_by_label("Length (m:ss)")).to_be_visible()
        expect(page.locator("#add-explain")).to_contain_text("not connected to Spotify or YouTube")
        devices.check(page, "room page (no service configured)")
        # a spotify.link short link that cannot be followed: one clear message
        page.get_by_label("Link", exact=True).fill("https://spotify.link/aBcD1234")
        page.get_by_label("Title", exact=True).fill("Some song")
        page.get_by_label("Length (m:ss)").fill("3:00")
        page.get_by_role("button", name="Add to queue").click()
        expect(page.locator("#add-error")).to_have_text(
            re.compile(r"^That spotify\.link short link could not be opened")
        )
        page.get_by_label("Title", exact=True).fill("")
        page.get_by_label("Length (m:ss)").fill("")
        # the end of the queue says what happens next
        page.get_by_label("Link", exact=True).fill("https://youtu.be/ygWV4mbqEQQ")
        page.get_by_label("Title", exact=True).fill("Jungle – Back On 74")
        page.get_by_label("Length (m:ss)").fill("0:03")
        page.get_by_role("button", name="Add to queue").click()
        page.get_by_role("button", name="Play", exact=True).click()
        expect(page.locator("#now-title")).to_have_text("That was the last song", timeout=15_000)
        expect(page.locator("#now-meta")).to_have_text("The queue has ended. Add a song to keep going.")


def test_host_manifest_and_icons_make_an_installable_app(server: Server, devices: Devices) -> None:
    page = devices.phone()
    page.goto(f"{server.base_url}/")
    manifest = page.evaluate("fetch('/manifest.webmanifest').then((r) => r.json())")
    assert manifest["display"] == "standalone" and {i["sizes"] for i in manifest["icons"]} >= {"192x192", "512x512"}
    sizes = page.evaluate(
        """async (icons) => Promise.all(icons.filter((i) => i.type === 'image/png').map(async (i) => {
          const img = new Image();
          img.src = i.src;
          await img.decode();
          return `${img.naturalWidth}x${img.naturalHeight}`;
        }))""",
        manifest["icons"],
    )
    assert sorted(sizes) == ["192x192", "512x512"]


def test_host_refused_origin_is_explained_in_plain_words(tmp_path: Path, devices: Devices) -> None:
    with run_server(tmp_path, ALLOWED_ORIGINS="http://192.168.1.20:8000") as elsewhere:
        api = Api(elsewhere.base_url)
        token = api.user("Maya")
        group_id = api.group(token, "Only on the LAN")
        page = devices.phone()
        page.context.add_init_script(f"localStorage.setItem('rooms.session', JSON.stringify({{token: '{token}'}}))")
        page.goto(f"{elsewhere.base_url}/groups/{group_id}")
        expect(page.locator("#fatal-title")).to_have_text("This address is not allowed")
        expect(page.locator("#fatal-text")).to_contain_text("Open the address shown on the host's screen")
        devices.check(page, "room page (refused origin)")
        assert "ALLOWED_ORIGINS" in elsewhere.log(), "the log names the setting that would allow it"
