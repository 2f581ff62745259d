"""The queue's rules on the room page (issue 16) in a real Chromium against a real server: a host's
queue settings reaching a member's status line live, shuffle and restore order, a curated room,
refused adds in words, the Played card with "Add again", and axe-core with 44 px touch targets at
390 px. Without Chromium (or Playwright) the tests skip, except with CI=true, where they fail.
"""

from __future__ import annotations

import sqlite3
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
    horizontal_overflow,
    phones as phones,
    playwright as playwright,
    server as server,
)

if TYPE_CHECKING:
    from playwright.sync_api import Locator, LocatorAssertions, Page

pytestmark = pytest.mark.timeout(120)


SONGS = [
    ("Song one", 200, "https://youtu.be/aaaaaaaaaa1"),
    ("Song two", 210, "https://youtu.be/aaaaaaaaaa2"),
    ("Song three", 220, "https://youtu.be/aaaaaaaaaa3"),
    ("Song four", 230, "https://youtu.be/aaaaaaaaaa4"),
    ("Song five", 240, "https://youtu.be/aaaaaaaaaa5"),
]


def expect(locator: Locator) -> LocatorAssertions:
    """Playwright's retrying assertions (imported late: without Playwright the module still loads)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


@pytest.fixture
def api(server: Server) -> Api:
    return Api(server.base_url)


def room_with_member(api: Api, name: str, songs: int = 0) -> tuple[str, str, str]:
    """A room (host token, group id) with the host's first ``songs`` songs and a member (token)."""
    host = api.user("Maya")
    group_id = api.group(host, name)
    invite = api.invite(host, group_id)
    member = api.user("Jonas")
    api.ok("POST", f"/api/invites/{invite['url'].rstrip('/').rsplit('/', 1)[-1]}/join", {}, member)
    for title, duration, url in SONGS[:songs]:
        api.add_track(host, group_id, title, duration, url)
    return host, group_id, member


def titles(page: Page) -> Locator:
    return page.locator("#queue .track-title")


def add_song(page: Page, url: str, title: str, length: str) -> None:
    page.get_by_label("Link", exact=True).fill(url)
    page.get_by_label("Title", exact=True).fill(title)
    page.get_by_label("Length (m:ss)").fill(length)
    page.get_by_role("button", name="Add to queue").click()


def set_number(page: Page, label: str, value: str) -> None:
    field = page.get_by_label(label)
    field.fill(value)
    field.press("Enter")  # a number field sends its change on Enter (or when it loses focus)
    expect(page.locator("#queue-settings-status")).to_have_text("Saved.")


def test_browser_queue_host_settings_reach_a_members_status_line_live(phones: Phones, api: Api) -> None:
    host_token, group_id, member_token = room_with_member(api, "Settings live", songs=1)
    api.add_track(member_token, group_id, "Jonas's pick", 180, "https://youtu.be/bbbbbbbbbb1")
    host, member = phones.room(host_token, group_id), phones.room(member_token, group_id)
    other_host = phones.room(host_token, group_id)  # the same host on a second phone
    expect(member.locator("#queue-status")).to_have_text("In order")
    expect(member.locator("#queue-limits")).to_have_text(
        "Up to 10 songs waiting each · songs up to 20 min · no repeats within 60 min"
    )
    expect(member.locator("#queue-settings-card")).to_be_hidden()
    expect(host.locator("#queue-limits")).to_be_hidden()  # hosts are exempt from the limits

    host.get_by_text("Fair turns", exact=True).click()
    host.locator("#queue-settings-card").get_by_text("All", exact=True).click()
    host.get_by_label("Autoplay when the queue runs out").check()
    expect(host.locator("#queue-status")).to_have_text("Fair turns · next: Jonas · Repeat all · Autoplay on")
    expect(member.locator("#queue-status")).to_have_text("Fair turns · next: you · Repeat all · Autoplay on")
    set_number(host, "Songs waiting per member", "3")
    set_number(host, "Longest song (minutes)", "0")
    expect(member.locator("#queue-limits")).to_have_text("Up to 3 songs waiting each · no repeats within 60 min")

    # The second phone of the host follows what the first one changed.
    expect(other_host.locator("input[name=queue-mode][value=fair_turns]")).to_be_checked()
    expect(other_host.locator("input[name=queue-repeat][value=all]")).to_be_checked()
    expect(other_host.get_by_label("Autoplay when the queue runs out")).to_be_checked()
    expect(other_host.get_by_label("Songs waiting per member")).to_have_value("3")
    expect(other_host.get_by_label("Longest song (minutes)")).to_have_value("0")


def test_browser_queue_shuffle_and_restore_order_reorder_a_members_queue(phones: Phones, api: Api) -> None:
    host_token, group_id, member_token = room_with_member(api, "Shuffle", songs=5)
    host, member = phones.room(host_token, group_id), phones.room(member_token, group_id)
    in_order = [title for title, _, _ in SONGS]
    expect(titles(member)).to_have_text(in_order)
    expect(host.get_by_role("button", name="Restore order")).to_be_disabled()  # nothing to restore
    expect(member.get_by_role("button", name="Shuffle")).to_have_count(0)

    host.get_by_role("button", name="Shuffle").click()
    expect(titles(member)).not_to_have_text(in_order)
    expect(titles(member).first).to_have_text("Song one")  # the current song stays current
    expect(host.get_by_role("button", name="Restore order")).to_be_enabled()
    expect(titles(member)).to_have_text(titles(host).all_inner_texts())

    host.get_by_role("button", name="Restore order").click()
    expect(titles(member)).to_have_text(in_order)
    expect(host.get_by_role("button", name="Restore order")).to_be_disabled()


def test_browser_queue_shuffle_needs_two_upcoming_songs(phones: Phones, api: Api) -> None:
    host_token, group_id, _ = room_with_member(api, "Short queue", songs=2)
    host = phones.room(host_token, group_id)
    expect(titles(host)).to_have_count(2)
    expect(host.get_by_role("button", name="Shuffle")).to_be_disabled()
    expect(host.get_by_role("button", name="Restore order")).to_be_disabled()


def test_browser_queue_curated_room_shows_the_note_and_hides_add(phones: Phones, api: Api) -> None:
    host_token, group_id, member_token = room_with_member(api, "Curated", songs=1)
    host, member = phones.room(host_token, group_id), phones.room(member_token, group_id)
    expect(member.locator("#add-card")).to_be_visible()

    host.get_by_text("Only hosts", exact=True).click()
    note = "Only the hosts add songs in this room — you can vote and chat"
    expect(member.locator("#queue-note")).to_have_text(note)
    expect(member.locator("#add-card")).to_be_hidden()
    expect(member.locator("#queue-limits")).to_be_hidden()
    expect(member.locator("#btn-vote")).to_be_visible()
    expect(host.locator("#add-card")).to_be_visible()  # hosts still add
    expect(host.locator("#queue-note")).to_be_hidden()
    expect(host.locator("#queue-status")).to_have_text("In order · Hosts add the songs")

    host.get_by_text("Everyone", exact=True).click()
    expect(member.locator("#add-card")).to_be_visible()
    expect(member.locator("#queue-note")).to_be_hidden()


def test_browser_queue_refused_add_shows_words(phones: Phones, api: Api) -> None:
    host_token, group_id, member_token = room_with_member(api, "Limits", songs=1)
    host, member = phones.room(host_token, group_id), phones.room(member_token, group_id)
    set_number(host, "Songs waiting per member", "1")
    set_number(host, "Longest song (minutes)", "4")
    expect(member.locator("#queue-limits")).to_contain_text("Up to 1 song waiting each · songs up to 4 min")

    add_song(member, "https://youtu.be/ccccccccccc", "A very long jam", "12:00")
    expect(member.locator("#add-error")).to_have_text("Songs in this room can be up to 4 min long — pick a shorter one")
    add_song(member, "https://youtu.be/ccccccccccd", "Mine", "3:00")
    expect(titles(member)).to_have_text(["Song one", "Mine"])
    add_song(member, "https://youtu.be/cccccccccce", "Mine too", "3:00")
    expect(member.locator("#add-error")).to_have_text("You already have 1 song waiting — wait until one plays")
    expect(titles(member)).to_have_text(["Song one", "Mine"])


def test_browser_queue_played_shows_a_finished_track_and_add_again_adds_it(phones: Phones, api: Api) -> None:
    host_token, group_id, member_token = room_with_member(api, "Played")
    api.add_track(host_token, group_id, "Short intro", 2, "https://youtu.be/ddddddddddd")
    api.add_track(host_token, group_id, "Song two", 210, "https://youtu.be/dddddddddd2")
    host, member = phones.room(host_token, group_id), phones.room(member_token, group_id)
    expect(member.locator("#played-empty")).to_be_visible()

    host.get_by_role("button", name="Play", exact=True).click()  # the intro plays to its end by itself
    for page in (host, member):
        expect(page.locator("#now-title")).to_have_text("Song two")
        row = page.locator("#played .played-entry")
        expect(row).to_have_count(1)
        expect(row.locator(".track-title")).to_have_text("Short intro")
        expect(row.locator(".track-meta")).to_have_text("Maya · played 0:02 · just now")

    # A member adding it again within the hour is refused in words; the host may.
    member.get_by_role("button", name="Add again (Short intro)").click()
    expect(member.locator("#played-error")).to_have_text(
        "This song played in the last 60 min — pick another one for now"
    )
    host.get_by_role("button", name="Add again (Short intro)").click()
    expect(titles(member)).to_have_text(["Short intro", "Song two", "Short intro"])
    expect(host.locator("#played-status")).to_have_text("Added Short intro to the queue.")

    # A skip ends a play too; the card reloads after each track change. Paused first, so the
    # re-added 2 s intro cannot also end by itself before the check on a slow machine.
    host.get_by_role("button", name="Pause", exact=True).click()
    expect(host.get_by_role("button", name="Play", exact=True)).to_be_visible()
    host.get_by_role("button", name="Skip to the next track").click()
    expect(member.locator("#played .played-entry .track-title")).to_have_text(["Song two", "Short intro"])
    expect(member.locator("#played .played-entry .track-meta").first).to_contain_text("skipped at")


def test_browser_queue_played_show_more_loads_older_plays(phones: Phones, api: Api, server: Server) -> None:
    host_token, group_id, _ = room_with_member(api, "Long history", songs=2)
    host = phones.room(host_token, group_id)
    host.get_by_role("button", name="Play", exact=True).click()
    expect(host.locator("#play-state")).to_have_text("Playing")
    host.get_by_role("button", name="Skip to the next track").click()
    expect(host.locator("#played .played-entry")).to_have_count(1)
    # 21 later plays, copied from that one in the database: more than one page (20) of history.
    with sqlite3.connect(server.db_path, timeout=15) as db:
        (entry_id,) = db.execute("SELECT id FROM playback_history WHERE group_id = ?", (group_id,)).fetchone()
        columns = (
            "group_id, track_id, added_by_user_id, service, duration, external_url, artwork_url,"
            " started_at, ended_at, played_ms, outcome"
        )
        copy = f"INSERT INTO playback_history (title, {columns}) SELECT ?, {columns} FROM playback_history WHERE id = ?"
        for n in range(21):
            db.execute(copy, (f"Copy {n + 1:02d}", entry_id))
    host.reload()
    rows = host.locator("#played .played-entry .track-title")
    expect(rows).to_have_count(20)
    expect(rows.first).to_have_text("Copy 21")
    host.get_by_role("button", name="Show more").click()
    expect(rows).to_have_count(22)
    expect(rows.last).to_have_text("Song one")
    expect(host.get_by_role("button", name="Show more")).to_be_hidden()


def test_browser_queue_pages_pass_axe_with_44px_targets_at_390px(phones: Phones, api: Api, axe: str) -> None:
    host_token, group_id, member_token = room_with_member(api, "Accessible", songs=3)
    host, member = phones.room(host_token, group_id), phones.room(member_token, group_id)
    host.get_by_role("button", name="Play", exact=True).click()
    expect(host.locator("#play-state")).to_have_text("Playing")
    host.get_by_role("button", name="Skip to the next track").click()  # one play in Played
    for page in (host, member):
        expect(page.locator("#played .played-entry")).to_have_count(1)
    expect(host.locator("#queue-settings-card")).to_be_visible()
    host.get_by_text("Fair turns", exact=True).click()
    expect(member.locator("#queue-status")).to_contain_text("Fair turns")
    for page, who in ((host, "host"), (member, "member")):
        page.evaluate("document.activeElement && document.activeElement.blur()")
        assert page.viewport_size == {"width": 390, "height": 844}
        assert horizontal_overflow(page) <= 0, f"the {who}'s page scrolls sideways at 390 px"
        violations = axe_violations(page, axe)
        assert violations == [], f"axe-core on the {who}'s room:\n" + "\n".join(violations)
        assert page.evaluate(SMALL_TARGETS) == [], f"touch targets under 44 px on the {who}'s room"
    host.get_by_text("Only hosts", exact=True).click()
    expect(member.locator("#queue-note")).to_be_visible()
    assert axe_violations(member, axe) == [], "axe-core on a curated room (member)"
