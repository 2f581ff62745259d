"""The README's screenshots: ``python -m tests.screenshots [OUT_DIR]`` (what scripts/screenshots runs).

A throwaway server (SQLite in a temp folder, 127.0.0.1, Spotify's Web API the local fake of
tests/fake_services.py, so search works) and Debian's Chromium: the host starts the room from the
start page, a laptop shows the big screen, friends join, search, add, chat and react; the host sets
the queue's rules and skips (the queue and Played); a co-host and a listener join through invite
links (the People card and the links). Phones are 390×844, the big screen 1280×800;
artwork is the stand-in of tests/browser.py (no network).
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from tests.browser import REPO, Api, launch, new_laptop, new_phone, run_server
from tests.fake_services import CLIENT_ID, CLIENT_SECRET, FakeSpotify

if TYPE_CHECKING:
    from playwright.sync_api import Page

# Added by hand (title and length typed: YouTube is not configured on the demo server).
YOUTUBE_TRACKS = [
    ("Khruangbin – Time (You and I)", 247, "https://www.youtube.com/watch?v=ZJ0U8rsBlGw"),
    ("Jungle – Back On 74", 214, "https://youtu.be/ygWV4mbqEQQ"),
    ("Tame Impala – The Less I Know The Better", 216, "https://youtu.be/2SUwOgmvzK4"),
]
# What the fake Spotify knows: id, name, artist, length (ms).
SPOTIFY_TRACKS = [
    ("2VEZx7NWsZ1D0eJ4uv5Fym", "Digital Love", "Daft Punk", 301_000),
    ("0ofHAoxe9vBkTCp2UQIavz", "Dreams", "Fleetwood Mac", 257_000),
    ("5JmCqoAkDPyYBcvAHrlLoB", "Dreams Tonite", "Alvvays", 269_000),
    ("3SdTKo2uVsxFblQjpScoHy", "Sweet Dreams (Are Made of This)", "Eurythmics", 216_000),
]
NAMES = [
    "start.png",
    "join.png",
    "room-admin.png",
    "room-member.png",
    "search.png",
    "invite.png",
    "listening.png",
    "host-tools.png",
    "room-remote.png",
    "tap-to-listen.png",
    "room-light.png",
    "screen.png",
    "queue-host.png",
    "played.png",
    "people-cohosts.png",
    "invite-links.png",
]


def fake_spotify() -> FakeSpotify:
    fake = FakeSpotify()
    for n, (track_id, name, artist, duration_ms) in enumerate(SPOTIFY_TRACKS):
        fake.add_track(track_id, name, duration_ms)
        fake.tracks[track_id]["artists"] = [{"name": artist}]
        fake.tracks[track_id]["album"] = {"images": [{"url": f"https://i.scdn.co/image/demo{n}", "width": 640}]}
    return fake


def tap_to_listen_if_asked(page: Page) -> None:
    """A page opened without a tap on the site asks for one before it plays sound."""
    page.locator("#player-area:not([hidden]):is([data-sound=needs-tap], [data-sound=allowed])").wait_for()
    if page.locator("#tap-overlay").is_visible():
        page.get_by_role("button", name="Tap to listen").click()
        page.locator("#tap-overlay").wait_for(state="hidden")


def top(page: Page) -> None:
    page.evaluate("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0)")


def scroll_to(page: Page, selector: str, above: int = 12) -> None:
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.locator(selector).scroll_into_view_if_needed()
    page.evaluate(f"document.querySelector('{selector}').scrollIntoView(); window.scrollBy(0, -{above})")


def add_by_hand(page: Page, title: str, duration: int, url: str) -> None:
    page.get_by_label("Or paste a link").fill(url)
    page.get_by_label("Title", exact=True).fill(title)
    page.get_by_label("Length (m:ss)").fill(f"{duration // 60}:{duration % 60:02d}")
    page.get_by_role("button", name="Add to queue").click()
    page.locator(".track-title", has_text=title).wait_for()


def screenshots(out_dir: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {name: out_dir / name for name in NAMES}
    blocked: list[str] = []
    spotify = fake_spotify()
    spotify.api.start()
    spotify.accounts.start()
    env = {
        "SPOTIFY_CLIENT_ID": CLIENT_ID,
        "SPOTIFY_CLIENT_SECRET": CLIENT_SECRET,
        "SPOTIFY_API_URL": f"{spotify.api.url}/v1/",
        "SPOTIFY_ACCOUNTS_URL": spotify.accounts.url,
        "NO_PROXY": "127.0.0.1,localhost",
    }
    try:
        with tempfile.TemporaryDirectory() as tmp, run_server(Path(tmp), **env) as server, sync_playwright() as pw:
            api = Api(server.base_url)
            other = api.user("Ines")
            for name in ("Jazz in the kitchen", "Sunday slow mornings"):
                api.ok("POST", "/api/groups", {"name": name, "is_public": True}, other)
            browser = launch(pw)

            # The host starts the room from the start page.
            host = new_phone(browser, blocked).new_page()
            host.goto(f"{server.base_url}/")
            host.get_by_role("button", name="Join Jazz in the kitchen").wait_for()
            host.get_by_label("Room name").fill("Friday night on the roof")
            host.get_by_label("Your name").fill("Maya")
            top(host)
            host.screenshot(path=paths["start.png"], full_page=True)  # every section: start, code, rooms
            host.get_by_role("button", name="Start the room").click()
            host.wait_for_url("**/groups/*")
            host.locator("#status[data-state=connected]").wait_for()
            group_id = host.url.rstrip("/").rsplit("/", 1)[-1]
            for title, duration, url in YOUTUBE_TRACKS[:2]:
                add_by_hand(host, title, duration, url)
            invite_url = host.locator("#invite-url").inner_text()

            friend = new_phone(browser, blocked).new_page()
            friend.goto(invite_url)
            friend.get_by_label("Your name").fill("Jonas")
            friend.get_by_label("Your name").blur()
            friend.screenshot(path=paths["join.png"])
            friend.get_by_role("button", name="Join the room").click()
            friend.wait_for_url("**/groups/*")
            friend.locator("#status[data-state=connected]").wait_for()
            friend.get_by_label("Search", exact=True).fill("dreams")
            friend.get_by_role("button", name="Search", exact=True).click()
            friend.get_by_role("button", name=re.compile("^Add Dreams Fleetwood Mac")).wait_for()
            scroll_to(friend, "#add-label")
            friend.screenshot(path=paths["search.png"])
            friend.get_by_role("button", name=re.compile("^Add Dreams Fleetwood Mac")).click()
            friend.locator("#queue .track-title", has_text="Dreams").wait_for()
            link = friend.get_by_label("Or paste a link")
            link.fill(f"https://open.spotify.com/track/{SPOTIFY_TRACKS[0][0]}")
            link.dispatch_event("paste")
            friend.locator("#queue .track-title", has_text="Digital Love").wait_for()
            add_by_hand(friend, *YOUTUBE_TRACKS[2])

            # The big screen on a laptop, signed in as the host (the same identity as the phone).
            token = host.evaluate("JSON.parse(localStorage.getItem('rooms.session')).token")
            laptop = new_laptop(browser, blocked)
            laptop.add_init_script(f"localStorage.setItem('rooms.session', JSON.stringify({{token: '{token}'}}))")
            laptop.add_init_script("localStorage.setItem('rooms.listen." + group_id + "', 'off')")
            screen = laptop.new_page()
            screen.goto(f"{server.base_url}/groups/{group_id}/screen")
            screen.locator("#status[data-state=connected]").wait_for()

            friend_token = friend.evaluate("JSON.parse(localStorage.getItem('rooms.session')).token")
            # A phone that opens the room without a tap on the site: the browser wants one.
            late = new_phone(browser, blocked)
            late.add_init_script(f"localStorage.setItem('rooms.session', JSON.stringify({{token: '{friend_token}'}}))")
            late_page = late.new_page()
            late_page.goto(f"{server.base_url}/groups/{group_id}")
            late_page.locator("#tap-overlay").wait_for()
            top(late_page)
            late_page.screenshot(path=paths["tap-to-listen.png"])
            late.close()
            top(host)
            tap_to_listen_if_asked(host)
            tap_to_listen_if_asked(friend)
            host.get_by_role("button", name="Play", exact=True).click()
            host.get_by_text("Playing", exact=True).wait_for()
            host.locator("#progress").click(position={"x": 100, "y": 22})  # seek to a third of the song
            friend.get_by_label("Message").fill("Great pick! Dreams next please")
            friend.get_by_role("button", name="Send").click()
            host.get_by_label("Message").fill("On it. Adding more after this one")
            host.get_by_role("button", name="Send").click()
            friend.locator(".message", has_text="On it").wait_for()
            for emoji in ("🔥", "💃", "❤️"):
                friend.get_by_role("button", name=f"React {emoji}").click()
            host.get_by_role("button", name="React 🎉").click()
            screen.locator(".screen-reaction").nth(3).wait_for()
            host.locator("#invite-qr[src^='blob:']").wait_for()
            time.sleep(1.5)  # let the progress bar move a little
            for page in (host, friend):
                top(page)
            host.screenshot(path=paths["room-admin.png"])
            friend.screenshot(path=paths["room-member.png"])
            screen.evaluate("document.activeElement && document.activeElement.blur()")
            screen.screenshot(path=paths["screen.png"])
            scroll_to(host, "#invite-card")
            host.screenshot(path=paths["invite.png"])

            host.get_by_role("button", name="Delete the room").click()
            host.evaluate("window.scrollTo(0, document.body.scrollHeight)")
            host.screenshot(path=paths["host-tools.png"])
            host.get_by_role("button", name="Keep it").click()

            # A friend's phone with the light theme.
            light = new_phone(browser, blocked, color_scheme="light")
            light.add_init_script(f"localStorage.setItem('rooms.session', JSON.stringify({{token: '{friend_token}'}}))")
            light_page = light.new_page()
            light_page.goto(f"{server.base_url}/groups/{group_id}")
            light_page.locator("#status[data-state=connected]").wait_for()
            tap_to_listen_if_asked(light_page)
            time.sleep(0.5)
            top(light_page)
            light_page.screenshot(path=paths["room-light.png"])
            light.close()

            # The host makes their phone the room's one speaker; the friend's phone becomes a remote.
            host.get_by_text("One speaker").click()
            host.get_by_label("This device is the room's speaker").check()
            friend.locator("#people .speaker-badge").wait_for()
            scroll_to(host, "#listening-label")
            host.screenshot(path=paths["listening.png"])
            friend.locator("#player-area").wait_for(state="hidden")
            top(friend)
            friend.screenshot(path=paths["room-remote.png"])

            # The host's queue with its tools and settings: fair turns, repeat all, a limit lowered.
            host.get_by_text("Fair turns", exact=True).click()
            host.locator("#queue-settings-card").get_by_text("All", exact=True).click()
            songs_each = host.get_by_label("Songs waiting per member")
            songs_each.fill("5")
            songs_each.press("Enter")
            friend.locator("#queue-limits", has_text="Up to 5 songs").wait_for()
            host.locator("#queue-settings-status", has_text="Saved.").wait_for()
            host.evaluate("document.activeElement && document.activeElement.blur()")
            queue_box = host.locator("#queue-card").bounding_box()
            settings_box = host.locator("#queue-settings-card").bounding_box()
            assert queue_box is not None and settings_box is not None
            top_y = host.evaluate("window.scrollY") + queue_box["y"] - 12
            bottom_y = host.evaluate("window.scrollY") + settings_box["y"] + settings_box["height"] + 12
            clip = {"x": 0, "y": top_y, "width": 390, "height": bottom_y - top_y}
            host.screenshot(path=paths["queue-host.png"], full_page=True, clip=clip)

            # What played: the host skips twice, the friend sees it under Played with "Add again".
            for n in range(2):
                host.locator("#time-now").filter(has_not_text="0:00").wait_for()  # a play that started
                current = host.locator("#now-title").inner_text()
                host.get_by_role("button", name="Skip to the next track").click()
                host.locator("#now-title").filter(has_not_text=current).wait_for()
                friend.locator("#played .played-entry").nth(n).wait_for()
            scroll_to(friend, "#played-card")
            friend.screenshot(path=paths["played.png"])

            # Co-hosts and listeners (issue 17): the host makes a co-host link and a listener link in
            # the page; Sam joins as a co-host, Leo as a listener; the People card and the links.
            links = host.locator("#invite-links-card")
            made = []
            for role, label, uses in (("Co-host", "Sam", "1"), ("Listener", "Neighbours", "10"), ("Member", "", "")):
                links.locator("fieldset").get_by_text(role, exact=True).click()
                links.get_by_label("Max uses").fill(uses)
                links.get_by_label("Label (optional)").fill(label)
                host.get_by_role("button", name="Create link").click()
                links.locator(".invite-link").nth(len(made)).wait_for()
                made.append(links.locator(".invite-link .link-url").first.inner_text())
            joined = []  # open until the shots: People lists who is here
            for url, name in ((made[0], "Sam"), (made[1], "Leo")):
                phone = new_phone(browser, blocked).new_page()
                joined.append(phone)
                phone.goto(url)
                phone.get_by_label("Your name").fill(name)
                phone.get_by_role("button", name="Join the room").click()
                phone.wait_for_url("**/groups/*")
                phone.locator("#status[data-state=connected]").wait_for()
            host.locator("#people .person-name", has_text="Leo").wait_for()
            links.locator(".link-meta", has_text="1 of 10 used").wait_for()
            host.evaluate("document.activeElement && document.activeElement.blur()")
            people_box = host.locator("#people-label").locator("xpath=..").bounding_box()
            assert people_box is not None
            people_y = host.evaluate("window.scrollY") + people_box["y"] - 12
            clip = {"x": 0, "y": people_y, "width": 390, "height": people_box["height"] + 24}
            host.screenshot(path=paths["people-cohosts.png"], full_page=True, clip=clip)
            scroll_to(host, "#invite-links-card")
            host.screenshot(path=paths["invite-links.png"])
            for phone in joined:
                phone.context.close()
            browser.close()
    finally:
        spotify.api.stop()
        spotify.accounts.stop()
    if blocked:
        raise RuntimeError(f"the pages tried to reach the network: {blocked}")
    return list(paths.values())


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "docs" / "screenshots"
    for path in screenshots(target):
        print(path)
