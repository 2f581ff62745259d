"""The host, co-hosts and listeners on the room page (issue 17) in a real Chromium against a real
server: a co-host link made in the page gives a second phone the host's controls, a listener link's
phone has no add form, the host hands the room over from the People card and both phones' badges
follow, the host leaves handing the room to someone, the host-away settings reach another host's
phone, a failover and a hand-back are told on every phone; axe-core and 44 px touch targets at
390 px, dark and light. Without Chromium (or Playwright) the tests skip, except with CI=true, where
they fail.

The README's screenshots of these cards (people-cohosts.png, invite-links.png) are rendered by
tests/screenshots.py with the same steps.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.browser import (
    SMALL_TARGETS,
    Api,
    Phones,
    Server,
    axe as axe,
    axe_violations,
    browser as browser,
    connected,
    horizontal_overflow,
    phones as phones,
    playwright as playwright,
    run_server,
)

if TYPE_CHECKING:
    from playwright.sync_api import Locator, LocatorAssertions, Page

pytestmark = pytest.mark.timeout(120)


def expect(locator: Locator) -> LocatorAssertions:
    """Playwright's retrying assertions (imported late: without Playwright the module still loads)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # Hosts are checked often, so a failover after a 1 s grace shows within the test's patience.
    with run_server(tmp_path_factory.mktemp("cohosts"), HOST_CHECK_S="0.2") as server:
        yield server


@pytest.fixture
def api(server: Server) -> Api:
    return Api(server.base_url)


def token_of(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def room_with(api: Api, name: str, *people: tuple[str, str]) -> tuple[str, str, dict[str, str]]:
    """A room (host Maya's token, group id) and the others by name → token, each joined with the
    QR invite and then given ``role`` (admin, member or listener) by the host, in this order."""
    host = api.user("Maya")
    group_id = api.group(host, name)
    invite = api.invite(host, group_id)
    tokens: dict[str, str] = {}
    for person, role in people:
        token = api.user(person)
        api.ok("POST", f"/api/invites/{token_of(invite['url'])}/join", {}, token)
        if role != "member":
            me = api.ok("GET", "/api/me", None, token)
            api.ok("PATCH", f"/api/groups/{group_id}/members/{me['id']}", {"role": role}, host)
        tokens[person] = token
    return host, group_id, tokens


def badge(page: Page, name: str) -> Locator:
    """The role badge of ``name`` on the People card."""
    person = page.locator("#people .person").filter(has=page.locator(".person-name", has_text=name))
    return person.locator(".role-badge")


def create_link(page: Page, role: str, label: str = "", max_uses: str = "", lifetime: str = "1 day") -> str:
    """A host makes an invite link in the page; its URL from the list."""
    card = page.locator("#invite-links-card")
    card.locator("fieldset").get_by_text(role, exact=True).click()
    card.get_by_label("Max uses").fill(max_uses)
    card.get_by_label("Works for").select_option(label=lifetime)
    card.get_by_label("Label (optional)").fill(label)
    before = card.locator(".invite-link").count()
    page.get_by_role("button", name="Create link").click()
    expect(card.locator(".invite-link")).to_have_count(before + 1)
    return str(card.locator(".invite-link .link-url").first.inner_text())


def join(page: Page, url: str, name: str) -> None:
    page.goto(url)
    page.get_by_label("Your name").fill(name)
    page.get_by_role("button", name="Join the room").click()
    page.wait_for_url("**/groups/*")
    connected(page)


def check_page(page: Page, axe: str, what: str) -> None:
    page.evaluate("document.activeElement && document.activeElement.blur()")
    assert page.viewport_size == {"width": 390, "height": 844}
    assert horizontal_overflow(page) <= 0, f"{what} scrolls sideways at 390 px"
    violations = axe_violations(page, axe)
    assert violations == [], f"axe-core on {what}:\n" + "\n".join(violations)
    assert page.evaluate(SMALL_TARGETS) == [], f"touch targets under 44 px on {what}"


def test_browser_cohosts_a_cohost_link_made_in_the_page_gives_host_controls(phones: Phones, api: Api, axe: str) -> None:
    host_token, group_id, tokens = room_with(api, "Co-host link", ("Jonas", "member"))
    host, jonas = phones.room(host_token, group_id), phones.room(tokens["Jonas"], group_id)
    expect(jonas.locator("#invite-links-card")).to_be_hidden()
    expect(host.locator("#invite-links-empty")).to_be_visible()

    url = create_link(host, "Co-host", label="Sam's phone", max_uses="1")
    row = host.locator("#invite-links .invite-link").first
    expect(row.locator(".link-name")).to_have_text("Sam's phone")
    expect(row.locator(".link-meta")).to_have_text("Co-host · 0 of 1 used · ends in 24 h")

    sam = phones.fresh()
    sam.goto(url)
    expect(sam.locator("#join-role")).to_contain_text("You're invited as a co-host")
    check_page(sam, axe, "the join page of a co-host link")
    sam.get_by_label("Your name").fill("Sam")
    sam.get_by_role("button", name="Join the room").click()
    sam.wait_for_url("**/groups/*")
    connected(sam)

    # Sam has the host's controls: play and skip, the host's cards, and the People menus.
    expect(sam.get_by_role("button", name="Play", exact=True)).to_be_visible()
    expect(sam.get_by_role("button", name="Skip to the next track")).to_be_visible()
    expect(sam.locator("#settings-card")).to_be_visible()
    expect(sam.locator("#invite-links-card")).to_be_visible()
    expect(sam.locator("#you")).to_have_text("You are Sam · co-host")
    expect(sam.get_by_label("Actions for Jonas")).to_be_visible()
    expect(sam.get_by_label("Actions for Maya")).to_have_count(0)  # nobody but the host touches the host
    options = sam.get_by_label("Actions for Jonas").locator("option:not([hidden])")
    expect(options).to_have_text(["Make co-host", "Make listener", "Remove from the room"])  # no Make host
    for page in (host, jonas, sam):
        expect(badge(page, "Sam")).to_have_text("Co-host")
        expect(badge(page, "Maya")).to_have_text("Host")
        expect(badge(page, "Jonas")).to_have_count(0)  # a member has no badge
    expect(host.get_by_label("Actions for Sam").locator("option:not([hidden])")).to_have_text(
        ["Make member", "Make listener", "Make host", "Remove from the room"]
    )

    # The link is used up: its row says so, and a third phone reads why in words.
    expect(row.locator(".link-meta")).to_contain_text("1 of 1 used")
    expect(sam.locator("#invite-links .invite-link .link-meta")).to_contain_text("1 of 1 used")
    late = phones.fresh()
    late.goto(url)
    expect(late.locator("#problem-title")).to_have_text("This invite has been used up")

    # Revoking the link empties both hosts' lists (the other one follows invite_links_changed).
    host.get_by_role("button", name="Revoke Sam's phone").click()
    expect(host.locator("#invite-links .invite-link")).to_have_count(0)
    expect(sam.locator("#invite-links .invite-link")).to_have_count(0)
    expect(sam.locator("#invite-links-empty")).to_be_visible()


def test_browser_cohosts_a_listener_link_phone_has_no_add_form(phones: Phones, api: Api, axe: str) -> None:
    host_token, group_id, _ = room_with(api, "Listener link")
    api.add_track(host_token, group_id, "Song one", 200, "https://youtu.be/aaaaaaaaaa1")
    host = phones.room(host_token, group_id)
    url = create_link(host, "Listener", label="", lifetime="1 hour")
    expect(host.locator("#invite-links .invite-link .link-name").first).to_have_text("Listener link")
    expect(host.locator("#invite-links .invite-link .link-meta").first).to_have_text(
        "Listener · not used yet · ends in 1 h"
    )

    dana = phones.fresh(color_scheme="light")
    dana.goto(url)
    expect(dana.locator("#join-role")).to_contain_text("You're invited as a listener")
    join(dana, url, "Dana")
    expect(dana.locator("#add-listener")).to_have_text("You're listening — only members can add songs.")
    expect(dana.locator("#add-form")).to_be_hidden()
    expect(dana.locator("#search-form")).to_be_hidden()
    expect(dana.locator("#invite-card")).to_be_hidden()  # the QR invite lets in members: not for a listener
    expect(dana.locator("#invite-error")).to_have_text("")
    expect(dana.get_by_role("button", name="Vote to skip")).to_be_visible()
    expect(dana.locator("#chat-form")).to_be_visible()
    expect(dana.locator("#you")).to_have_text("You are Dana · listener")
    expect(badge(host, "Dana")).to_have_text("Listener")
    expect(host.locator("#invite-links .invite-link .link-meta").first).to_contain_text("used once")
    check_page(dana, axe, "a listener's room (light)")

    # Made a member, the add form comes back; made a listener again, it goes.
    host.get_by_label("Actions for Dana").select_option(label="Make member")
    expect(dana.locator("#add-form")).to_be_visible()
    expect(dana.locator("#add-listener")).to_be_hidden()
    expect(badge(host, "Dana")).to_have_count(0)
    host.get_by_label("Actions for Dana").select_option(label="Make listener")
    expect(dana.locator("#add-listener")).to_be_visible()
    expect(dana.locator("#add-form")).to_be_hidden()


def test_browser_cohosts_the_host_hands_over_from_the_people_card(phones: Phones, api: Api, axe: str) -> None:
    host_token, group_id, tokens = room_with(api, "Handover", ("Jonas", "member"))
    host, jonas = phones.room(host_token, group_id), phones.room(tokens["Jonas"], group_id)
    expect(jonas.get_by_role("button", name="Skip to the next track")).to_be_hidden()

    host.get_by_label("Actions for Jonas").select_option(label="Make host")
    for page in (host, jonas):
        expect(badge(page, "Jonas")).to_have_text("Host")
        expect(badge(page, "Maya")).to_have_text("Co-host")
        expect(page.locator("#people .person-name")).to_have_text(["Jonas", "Maya"])  # the host first
    expect(jonas.locator("#now-notice")).to_have_text("Maya handed the room to you.")
    expect(host.locator("#now-notice")).to_have_text("You handed the room to Jonas.")
    expect(jonas.locator("#you")).to_have_text("You are Jonas · host")
    expect(host.locator("#you")).to_have_text("You are Maya · co-host")
    expect(jonas.get_by_role("button", name="Skip to the next track")).to_be_visible()
    expect(host.get_by_label("Actions for Jonas")).to_have_count(0)  # a co-host cannot demote the host
    expect(jonas.get_by_label("Actions for Maya").locator("option:not([hidden])")).to_have_text(
        ["Make member", "Make listener", "Make host", "Remove from the room"]
    )
    check_page(jonas, axe, "the new host's room")


def test_browser_cohosts_the_host_leaves_handing_the_room_over(phones: Phones, api: Api, axe: str) -> None:
    host_token, group_id, tokens = room_with(
        api, "Leaving", ("Jonas", "member"), ("Bob", "admin"), ("Dana", "listener")
    )
    host = phones.room(host_token, group_id)
    bob, jonas = phones.room(tokens["Bob"], group_id), phones.room(tokens["Jonas"], group_id)
    phones.room(tokens["Dana"], group_id)  # here too: the dialog offers whoever is here

    host.get_by_role("button", name="Leave room").click()
    dialog = host.locator("#leave-dialog")
    expect(dialog).to_be_visible()
    handover = host.get_by_label("Hand the room to:")
    # The co-hosts first, then the members and listeners in the order they joined; the first chosen.
    expect(handover.locator("option")).to_have_text(["Bob (co-host)", "Jonas", "Dana (listener)"])
    expect(handover.locator("option:checked")).to_have_text("Bob (co-host)")
    check_page(host, axe, "the host's leave dialog")
    handover.select_option(label="Jonas")
    dialog.get_by_role("button", name="Leave", exact=True).click()
    host.wait_for_url(f"{phones.server.base_url}/")

    for page in (bob, jonas):
        expect(page.locator("#people .person-name")).to_have_text(["Jonas", "Bob", "Dana"])
        expect(badge(page, "Jonas")).to_have_text("Host")
        expect(badge(page, "Bob")).to_have_text("Co-host")
    expect(jonas.locator("#now-notice")).to_have_text("Maya left; you're the host now.")
    expect(bob.locator("#now-notice")).to_have_text("Maya left; Jonas is the host now.")
    expect(jonas.get_by_role("button", name="Skip to the next track")).to_be_visible()

    # Anyone else leaves with a plain confirm.
    bob.get_by_role("button", name="Leave room").click()
    expect(bob.locator("#leave-handover")).to_be_hidden()
    bob.get_by_role("button", name="Stay").click()
    expect(bob.locator("#leave-dialog")).to_be_hidden()
    bob.get_by_role("button", name="Leave room").click()
    bob.locator("#leave-dialog").get_by_role("button", name="Leave", exact=True).click()
    bob.wait_for_url(f"{phones.server.base_url}/")
    expect(jonas.locator("#people .person-name")).to_have_text(["Jonas", "Dana"])


def test_browser_cohosts_host_away_settings_reach_another_host(phones: Phones, api: Api) -> None:
    host_token, group_id, tokens = room_with(api, "Away", ("Bob", "admin"))
    host, bob = phones.room(host_token, group_id), phones.room(tokens["Bob"], group_id)
    expect(host.get_by_label("If the host is away for")).to_have_value("120")
    expect(host.get_by_label("Let a member take over when no co-host is here")).to_be_checked()
    expect(host.locator("input[name=hosting-return][value=hand_back]")).to_be_checked()

    host.get_by_label("If the host is away for").select_option(label="5 minutes")
    expect(host.locator("#hosting-status")).to_have_text("Saved.")
    host.get_by_label("Let a member take over when no co-host is here").uncheck()
    expect(host.locator("#hosting-status")).to_have_text("Saved.")
    host.get_by_text("Keep the new host", exact=True).click()
    expect(bob.get_by_label("If the host is away for")).to_have_value("300")
    expect(bob.get_by_label("Let a member take over when no co-host is here")).not_to_be_checked()
    expect(bob.locator("input[name=hosting-return][value=keep]")).to_be_checked()
    expect(bob.locator("#now-notice")).to_be_hidden()  # a settings change is nobody's news

    host.get_by_label("If the host is away for").select_option(label="Off")
    expect(bob.get_by_label("Let a member take over when no co-host is here")).to_be_disabled()
    expect(bob.locator("#hosting-note")).to_have_text("Nobody takes over while the host is away.")


def test_browser_cohosts_the_qr_invite_takes_a_role_and_max_uses(phones: Phones, api: Api) -> None:
    host_token, group_id, _ = room_with(api, "QR role")
    host = phones.room(host_token, group_id)
    host.get_by_label("Lets people in as").select_option(label="Listener")
    host.locator("#invite-card").get_by_label("Max uses").fill("10")
    host.get_by_role("button", name="New invite").click()
    expect(host.locator("#invite-terms")).to_have_text("Lets people in as listeners · 0 of 10 used")
    url = str(host.locator("#invite-url").inner_text())
    dana = phones.fresh()
    dana.goto(url)
    expect(dana.locator("#join-role")).to_contain_text("You're invited as a listener")
    join(dana, url, "Dana")
    expect(dana.locator("#add-listener")).to_be_visible()
    # A listener invite is one a listener may see and pass on.
    expect(dana.locator("#invite-card")).to_be_visible()
    expect(dana.locator("#invite-terms")).to_contain_text("1 of 10 used")


def test_browser_cohosts_failover_and_handback_are_told_on_the_phones(phones: Phones, api: Api) -> None:
    host_token, group_id, tokens = room_with(api, "Failover", ("Bob", "admin"), ("Jonas", "member"))
    api.ok("PATCH", f"/api/groups/{group_id}/hosting", {"grace_s": 1}, host_token)
    host = phones.room(host_token, group_id)
    bob, jonas = phones.room(tokens["Bob"], group_id), phones.room(tokens["Jonas"], group_id)
    expect(badge(bob, "Maya")).to_have_text("Host")

    host.context.close()  # the host's phone goes away; after the grace the co-host takes over
    expect(bob.locator("#now-notice")).to_have_text("You're the host now: Maya was away.", timeout=15_000)
    expect(jonas.locator("#now-notice")).to_have_text("Bob is now the host — Maya was away.")
    expect(badge(jonas, "Bob")).to_have_text("Host")

    back = phones.room(host_token, group_id)  # hand_back: the room is Maya's again
    expect(jonas.locator("#now-notice")).to_have_text("Maya is back and is the host again.", timeout=15_000)
    expect(bob.locator("#now-notice")).to_have_text("Maya is back and is the host again.")
    for page in (back, bob, jonas):
        expect(badge(page, "Maya")).to_have_text("Host")
        expect(badge(page, "Bob")).to_have_text("Co-host")
