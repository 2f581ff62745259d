"""The phone pages in a real headless Chromium against a real server process.

Each test drives several phones (browser contexts: separate storage, 390×844, touch) through the
invite URL and the room page, the way friends would. Pages may only reach 127.0.0.1; every other
request is aborted and fails the test. Without Chromium (or Playwright) the tests skip, except with
CI=true, where they fail.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from tests.browser import (
    Api,
    Server,
    browser as browser,
    expire_invite,
    horizontal_overflow,
    join_through_invite,
    new_phone,
    playwright as playwright,
    server as server,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Locator, LocatorAssertions, Page

pytestmark = pytest.mark.timeout(60)

# Lets a test take one phone's network down and up again: while down, every socket is closed and
# new ones go to a closed port; coming back fires `online`, as a phone does when it finds a network.
FLAKY_NETWORK = """
(() => {
  const Native = window.WebSocket;
  const net = { down: false, sockets: [] };
  window.WebSocket = class extends Native {
    constructor(url, protocols) {
      super(net.down ? "ws://127.0.0.1:9/offline" : url, protocols);
      net.sockets.push(this);
    }
  };
  window.__net = {
    down() { net.down = true; for (const s of net.sockets) s.close(4000, "network lost"); },
    up() { net.down = false; window.dispatchEvent(new Event("online")); },
    opened() { return net.sockets.length; },
  };
})();
"""

UNLABELLED = """
() => [...document.querySelectorAll("input, select, button, textarea")]
  .filter((el) => el.offsetParent !== null)
  .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute("aria-label") && !el.textContent.trim())
  .map((el) => el.outerHTML)
"""


@pytest.fixture
def api(server: Server) -> Api:
    return Api(server.base_url)


class Phones:
    """Browser contexts of one test; checks at the end that no page broke or left 127.0.0.1."""

    def __init__(self, browser: Browser) -> None:
        self.browser = browser
        self.blocked: list[str] = []
        self.page_errors: list[str] = []
        self.contexts: list[BrowserContext] = []

    def open(self, *, token: str | None = None, flaky: bool = False) -> Page:
        context = new_phone(self.browser, self.blocked)
        if token is not None:  # a phone that joined before: its identity is in localStorage
            session = json.dumps({"token": token})
            context.add_init_script(f"localStorage.setItem('rooms.session', {json.dumps(session)})")
        if flaky:
            context.add_init_script(FLAKY_NETWORK)
        self.contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: self.page_errors.append(str(exc)))
        return page

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def phones(browser: Browser) -> Iterator[Phones]:
    phones = Phones(browser)
    yield phones
    phones.close()
    assert phones.blocked == [], "the pages tried to leave 127.0.0.1"
    assert phones.page_errors == [], "uncaught errors in the pages"


def open_room(page: Page, server: Server, group_id: str) -> None:
    page.goto(f"{server.base_url}/groups/{group_id}")
    page.locator("#status[data-state=connected]").wait_for()


def add_song(page: Page, url: str, title: str, length: str) -> None:
    page.get_by_label("Link", exact=True).fill(url)
    page.get_by_label("Title", exact=True).fill(title)
    page.get_by_label("Length (m:ss)").fill(length)
    page.get_by_role("button", name="Add to queue").click()


def expect(locator: Locator) -> LocatorAssertions:
    """Playwright's retrying assertions (imported late: without Playwright the module still loads)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def queue_titles(page: Page) -> Locator:
    return page.locator("#queue .track-title")


def check_phone_layout(page: Page) -> None:
    assert horizontal_overflow(page) <= 0, "the page scrolls sideways at 390 px"
    assert page.evaluate(UNLABELLED) == [], "controls without a label"


def test_friends_join_by_invite_share_the_queue_and_follow_the_host(phones: Phones, server: Server, api: Api) -> None:
    host_token = api.user("Maya")
    group_id = api.group(host_token, "Roof party")

    host = phones.open(token=host_token)
    open_room(host, server, group_id)
    expect(host.locator("#room-name")).to_have_text("Roof party")
    # The host creates the invite on the page and sees its QR code (fetched with the bearer header).
    host.get_by_role("button", name="Create invite").click()
    host.locator("#invite-qr[src^='blob:']").wait_for()
    invite_url = host.locator("#invite-url").text_content() or ""
    assert invite_url.startswith(f"{server.base_url}/join/")
    assert host.locator("#invite-qr").evaluate("img => img.complete && img.naturalWidth > 0")

    ann, ben = phones.open(), phones.open()
    ann.goto(invite_url)
    expect(ann.locator("#group-name")).to_have_text("Roof party")
    check_phone_layout(ann)
    join_through_invite(ann, invite_url, "Ann")
    join_through_invite(ben, invite_url, "Ben")
    for page in (host, ann, ben):
        expect(page.locator("#people .person-name")).to_have_text(["Maya", "Ann", "Ben"])  # hosts first

    # Ann adds a song; Ben and the host see it with her name. User text is shown as text, never markup.
    add_song(ann, "https://youtu.be/dQw4w9WgXcQ", "<img src=x onerror=alert(1)> Never gonna", "3:33")
    title = "<img src=x onerror=alert(1)> Never gonna"
    for page in (ann, ben, host):
        expect(queue_titles(page)).to_have_text([title])
        expect(page.locator("#queue .added-by")).to_have_text(["Ann"])
        expect(page.locator("#now-title")).to_have_text(title)
        expect(page.locator("#queue .track-title img")).to_have_count(0)  # the title stays text
    add_song(ben, "https://open.spotify.com/track/4uLU6hMCjMI75M1A2tKUQC", "Ben's pick", "4:05")
    expect(queue_titles(ann)).to_have_text([title, "Ben's pick"])
    expect(ann.locator("#queue .added-by")).to_have_text(["Ann", "Ben"])

    # Members only get what they may use: no host controls, remove only on their own songs.
    expect(ben.locator("#btn-skip")).to_be_hidden()
    expect(ben.locator("#btn-vote")).to_be_visible()
    expect(ben.get_by_role("button", name="Remove Ben's pick")).to_be_visible()
    expect(ben.get_by_role("button", name=f"Remove {title}")).to_have_count(0)
    expect(ben.locator("#btn-rotate")).to_be_hidden()
    expect(host.get_by_role("button", name=f"Remove {title}")).to_be_visible()
    for page in (host, ben):
        check_phone_layout(page)

    # The host plays and skips; both friends follow.
    host.get_by_role("button", name="Play", exact=True).click()
    for page in (ann, ben):
        expect(page.locator("#play-state")).to_have_text("Playing")
    host.get_by_role("button", name="Skip to the next track").click()
    for page in (ann, ben):
        expect(page.locator("#now-title")).to_have_text("Ben's pick")
        expect(page.locator("#queue .track.current .track-title")).to_have_text("Ben's pick")

    # The host moves Ben's song to the top; the order follows everywhere.
    host.get_by_role("button", name="Move Ben's pick up").click()
    for page in (ann, ben):
        expect(queue_titles(page)).to_have_text(["Ben's pick", title])

    # Coming back through the invite keeps Ann's identity: no second guest is created.
    ann_posts: list[str] = []
    ann.on("request", lambda r: ann_posts.append(r.url) if r.method == "POST" and "/api/users" in r.url else None)
    ann.goto(invite_url)
    expect(ann.get_by_label("Your name")).to_have_value("Ann")
    ann.get_by_role("button", name="Join the room").click()
    ann.wait_for_url(f"**/groups/{group_id}")
    ann.locator("#status[data-state=connected]").wait_for()
    assert ann_posts == []


def test_room_reconnects_by_itself_and_replays_what_it_missed(phones: Phones, server: Server, api: Api) -> None:
    host_token = api.user("Host")
    group_id = api.group(host_token, "Flaky network")
    invite = api.invite(host_token, group_id)
    api.add_track(host_token, group_id, "First song", 200, "https://youtu.be/aaaaaaaaaaa")

    frames: list[dict[str, Any]] = []
    sent: list[dict[str, Any]] = []
    phone = phones.open(flaky=True)

    def watch(ws: Any) -> None:
        ws.on("framereceived", lambda payload: frames.append(json.loads(payload)))
        ws.on("framesent", lambda payload: sent.append(json.loads(payload)))

    phone.on("websocket", watch)
    join_through_invite(phone, invite["url"], "Rider")
    assert [f["type"] for f in frames][:1] == ["snapshot"]
    last_seq = frames[0]["seq"]

    phone.evaluate("window.__net.down()")
    expect(phone.locator("#status")).to_have_attribute("data-state", "reconnecting")
    expect(phone.locator("#status")).to_contain_text("Reconnecting")
    # While the phone is away the room moves on: a song and a chat message (chat is in no snapshot).
    api.add_track(host_token, group_id, "Added while away", 180, "https://youtu.be/bbbbbbbbbbb")
    host = phones.open(token=host_token)
    open_room(host, server, group_id)
    host.get_by_label("Message").fill("did you miss me?")
    host.get_by_role("button", name="Send").click()
    host.locator(".message-text", has_text="did you miss me?").wait_for()

    phone.evaluate("window.__net.up()")
    phone.locator("#status[data-state=connected]").wait_for()
    expect(queue_titles(phone)).to_have_text(["First song", "Added while away"])
    expect(phone.locator(".message-text")).to_have_text(["did you miss me?"])

    hellos = [f for f in sent if f.get("type") == "hello"]
    assert "resume" not in hellos[0]
    assert hellos[-1]["resume"]["epoch"] == frames[0]["epoch"] and hellos[-1]["resume"]["seq"] >= last_seq
    assert "resumed" in [f["type"] for f in frames], "the reconnect resumed instead of starting over"
    seqs = [f["seq"] for f in frames if "ts" in f]
    assert seqs == sorted(set(seqs)), "events arrive once each, in order"


def test_expired_and_revoked_invites_show_a_friendly_page(phones: Phones, server: Server, api: Api) -> None:
    host_token = api.user("Host")
    expired = api.invite(host_token, api.group(host_token, "Last week's party"))
    expire_invite(server, expired["token"])
    revoked_group = api.group(host_token, "Closed doors")
    revoked = api.invite(host_token, revoked_group)
    api.ok("DELETE", f"/api/groups/{revoked_group}/invite", token=host_token)

    page = phones.open()
    page.goto(expired["url"])
    expect(page.get_by_role("heading", name="This invite has expired")).to_be_visible()
    expect(page.get_by_label("Your name")).to_be_hidden()
    body = page.locator("body").inner_text()
    assert "invite_expired" not in body and "{" not in body
    check_phone_layout(page)

    page.goto(revoked["url"])
    page.get_by_role("heading", name="This invite is no longer valid").wait_for()
    page.goto(f"{server.base_url}/join/not-a-real-token")
    page.get_by_role("heading", name="This invite is no longer valid").wait_for()


def test_terminal_close_stops_reconnecting_and_says_why(phones: Phones, server: Server, api: Api) -> None:
    host_token = api.user("Host")
    group_id = api.group(host_token, "Short-lived")
    invite = api.invite(host_token, group_id)
    page = phones.open()
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    join_through_invite(page, invite["url"], "Guest")

    api.ok("DELETE", f"/api/groups/{group_id}", token=host_token)  # the server closes with 4505
    expect(page.get_by_role("heading", name="This room was deleted")).to_be_visible()
    expect(page.locator("#status-text")).to_have_text("Disconnected")
    time.sleep(1.5)  # longer than the first reconnect delay
    assert len(sockets) == 1, "no reconnect after a terminal close code"
