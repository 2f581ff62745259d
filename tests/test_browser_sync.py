"""Playback in real headless Chromium: four phones in sync, speaker mode, "Tap to listen".

The players are the local stand-ins of tests/fakes/ (routed in place of YouTube's and Spotify's
scripts): they implement the documented API, play in real time, take a while to start and to seek
(120 and 180 ms here), refuse to start before a user gesture, and can stall. Errors are measured on
each phone against its own estimate of the server's time, in the page (one evaluate reads the
room's position and the player's), so a busy machine makes a phone late, never a measurement wrong.
The deadlines are the phones' own clocks: "within 2 s of the instant" is 2 s of server time.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from tests.browser import (
    Api,
    Server,
    browser as browser,
    new_phone,
    playwright as playwright,
    server as server,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

pytestmark = pytest.mark.timeout(240)

ROOMS = itertools.count(1)
TOLERANCE_MS = 100
WITHIN_MS = 2000
PLAYERS = {"startDelayMs": 120, "seekDelayMs": 180}
TRACKS = [
    ("Khruangbin – Time (You and I)", 247, "https://www.youtube.com/watch?v=ZJ0U8rsBlGw"),
    ("Jungle – Back On 74", 214, "https://youtu.be/ygWV4mbqEQQ"),
    ("Tame Impala – The Less I Know The Better", 216, "https://youtu.be/2SUwOgmvzK4"),
]
# The room's position and this phone's player at one instant, on the phone's own server clock.
SAMPLE = """() => {
  const s = window.__roomsDebug.sample();
  const fake = window.__fakeYT ? window.__fakeYT.current() : null;
  return { ...s, fake };
}"""


@dataclass
class Phone:
    name: str
    page: Page
    context: BrowserContext
    probe: str = SAMPLE  # the script that reads the room and this phone's player together

    def sample(self) -> dict[str, Any]:
        sample: dict[str, Any] = self.page.evaluate(self.probe)
        return sample

    def tap_to_listen(self) -> None:
        """Tap "Tap to listen" when the page asks for it (a page reached by tapping through the
        invite page may play at once: the browser counts the taps on the same site)."""
        decided = self.page.locator("#player-area:not([hidden]):is([data-sound=needs-tap], [data-sound=allowed])")
        decided.wait_for()
        if self.page.locator("#tap-overlay").is_visible():
            self.page.get_by_role("button", name="Tap to listen").click()
            self.page.locator("#tap-overlay").wait_for(state="hidden")


class Room:
    """Phones of one test; every page error and every request that left 127.0.0.1 fails it."""

    def __init__(self, browser: Browser, server: Server, api: Api) -> None:
        self.browser, self.server, self.api = browser, server, api
        self.host_token = api.user("Maya")
        self.group_id = api.group(self.host_token, f"Roof party {next(ROOMS)}")
        self.invite = api.invite(self.host_token, self.group_id)["url"]
        for title, seconds, url in TRACKS:
            api.add_track(self.host_token, self.group_id, title, seconds, url)
        self.phones: list[Phone] = []
        self.blocked: list[str] = []
        self.errors: list[str] = []

    def open(self, name: str, *, host: bool = False, untouched: bool = False) -> Phone:
        """A phone in the room: the host's, a friend's through the invite page, or (``untouched``)
        a friend's that joined earlier and opens the room page straight away, with no tap yet."""
        context = new_phone(self.browser, self.blocked, player_config=PLAYERS)
        token = self.host_token if host else None
        if untouched:
            token = self.api.user(name)
            self.api.ok("POST", f"/api/invites/{self.invite.rsplit('/', 1)[-1]}/join", token=token)
        if token is not None:
            session = json.dumps({"token": token})
            context.add_init_script(f"localStorage.setItem('rooms.session', {json.dumps(session)})")
        page = context.new_page()
        page.on("pageerror", lambda exc: self.errors.append(f"{name}: {exc}"))
        if token is not None:
            page.goto(f"{self.server.base_url}/groups/{self.group_id}")
        else:
            page.goto(self.invite)
            page.get_by_label("Your name").fill(name)
            page.get_by_role("button", name="Join the room").click()
            page.wait_for_url("**/groups/*")
        page.locator("#status[data-state=connected]").wait_for()
        phone = Phone(name, page, context)
        self.phones.append(phone)
        return phone

    @property
    def host(self) -> Phone:
        return self.phones[0]

    def instant(self) -> float:
        """The server instant of the room's latest playback change (as the host's page has it)."""
        value: float = self.host.page.evaluate("window.__roomsDebug.room().playback.server_time_ms")
        return value

    def wait_for_change(self, before: float) -> float:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            instant = self.instant()
            if instant != before:
                return instant
            time.sleep(0.02)
        raise AssertionError("the room's playback did not change")

    def close(self) -> None:
        for phone in self.phones:
            phone.context.close()


def error_of(sample: dict[str, Any]) -> float | None:
    """The player's error against the room, or None when it plays something else (or nothing)."""
    fake = sample["fake"]
    player = sample["player"]
    if fake is None or player is None or player["trackId"] != sample["trackId"]:
        return None
    playing = fake["state"] == 1
    if playing != sample["targetPlaying"]:
        return None
    return float(fake["positionMs"] - sample["targetMs"])


def converged(
    phones: list[Phone], since: float, within_ms: float = WITHIN_MS, hold_ms: float = 1000
) -> dict[str, float]:
    """Waits until every phone is within the tolerance and stays there for `hold_ms`; returns when
    each got there, in server ms after `since` on its own clock. Fails when one is not there
    `within_ms` after `since` (a wall-clock guard only stops a hung page)."""
    entered: dict[str, float] = {}  # the start of each phone's current in-band run
    settled: dict[str, float] = {}
    last: dict[str, Any] = {}
    deadline = time.monotonic() + (within_ms + hold_ms) / 1000 + 20
    while len(settled) < len(phones) and time.monotonic() < deadline:
        for phone in phones:
            if phone.name in settled:
                continue
            sample = last[phone.name] = phone.sample()
            error = error_of(sample)
            late = sample["serverNow"] - since
            if error is None or abs(error) > TOLERANCE_MS or late < 0:
                entered.pop(phone.name, None)
                if late > within_ms:
                    raise AssertionError(f"{phone.name} not within ±{TOLERANCE_MS} ms {late:.0f} ms after: {sample}")
                continue
            start = entered.setdefault(phone.name, late)
            if start > within_ms:
                raise AssertionError(f"{phone.name} settled only {start:.0f} ms after: {sample}")
            if late - start >= hold_ms:
                settled[phone.name] = start
        time.sleep(0.04)
    assert len(settled) == len(phones), f"not in sync: {last}"
    return settled


def steady_errors(phones: list[Phone], seconds: float) -> list[float]:
    """Every phone's error, sampled for a while: all of them must stay in the band."""
    errors: list[float] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for phone in phones:
            error = error_of(phone.sample())
            assert error is not None and abs(error) <= TOLERANCE_MS, f"{phone.name} off by {error} ms"
            errors.append(error)
        time.sleep(0.2)
    return errors


def corrections(phone: Phone) -> list[dict[str, Any]]:
    log: list[dict[str, Any]] = phone.page.evaluate("window.__roomsDebug.corrections()")
    return log


@pytest.fixture
def room(browser: Browser, server: Server) -> Iterator[Room]:
    room = Room(browser, server, Api(server.base_url))
    yield room
    room.close()
    assert room.blocked == [], "the pages tried to leave 127.0.0.1"
    assert room.errors == [], "uncaught errors in the pages"


REPORT: dict[str, Any] = {}


def play(room: Room, host: Phone) -> None:
    """The host listens and presses play; returns once the host's own player is in sync."""
    host.tap_to_listen()
    before = room.instant()
    host.page.get_by_role("button", name="Play", exact=True).click()
    converged([host], room.wait_for_change(before))


def test_browser_sync_four_phones_stay_together_through_everything(room: Room) -> None:
    host = room.open("Maya", host=True)
    friends = [room.open(name) for name in ("Ann", "Ben")]
    phones = [host, *friends]
    for phone in phones:
        phone.tap_to_listen()
    report: dict[str, Any] = {}

    before = room.instant()
    host.page.get_by_role("button", name="Play", exact=True).click()
    report["play"] = converged(phones, room.wait_for_change(before))

    before = room.instant()
    host.page.locator("#progress").click(position={"x": 120, "y": 4})  # about a third into the song
    report["seek"] = converged(phones, room.wait_for_change(before))

    before = room.instant()
    host.page.get_by_role("button", name="Skip to the next track").click()
    report["skip"] = converged(phones, room.wait_for_change(before))

    before = room.instant()
    host.page.get_by_role("button", name="Pause").click()
    report["pause"] = converged(phones, room.wait_for_change(before))
    paused = [phone.sample() for phone in phones]
    assert all(s["fake"]["state"] == 2 for s in paused), "every phone stopped"
    stops = [s["fake"]["positionMs"] for s in paused]
    assert max(stops) - min(stops) <= 2 * TOLERANCE_MS, f"stopped at {stops}"

    before = room.instant()
    host.page.get_by_role("button", name="Play", exact=True).click()
    report["resume"] = converged(phones, room.wait_for_change(before))

    # A friend joins late: on their tap they come in where the room is, and nobody else moves.
    late = room.open("Cleo")
    tapped = late.sample()["serverNow"]
    late.tap_to_listen()
    report["late_join"] = converged([late], tapped)
    phones.append(late)
    steady_errors(phones, 1.0)

    # Ben's network stalls for 3 s: he catches up by himself, the others play on untouched.
    ben = friends[1]
    others = [p for p in phones if p is not ben]
    seeks_before = {p.name: len(corrections(p)) for p in others}
    ben.page.evaluate("window.__fakeYT.stall(3000)")
    stall_end = ben.sample()["serverNow"] + 3000
    steady_errors(others, 3.0)
    report["stall"] = converged([ben], stall_end)
    assert {p.name: len(corrections(p)) for p in others} == seeks_before, "nobody else was seeked"

    # Steady state: the band holds without corrective seeks (at most a couple a minute).
    counted = {p.name: len(corrections(p)) for p in phones}
    report["steady_errors"] = steady_errors(phones, 20.0)
    extra = {p.name: len(corrections(p)) - counted[p.name] for p in phones}
    assert all(n <= 1 for n in extra.values()), f"corrective seeks in 20 s of steady play: {extra}"
    report["steady_corrections_per_phone_20s"] = extra
    report["final"] = {
        p.name: [round(error_of(p.sample()) or 0), p.page.evaluate("window.__roomsDebug.leads()"), corrections(p)]
        for p in phones
    }
    print("FINAL", json.dumps(report["final"]))
    REPORT.update(report)
    print("SYNC-REPORT", json.dumps(summarise(report)))


def summarise(report: dict[str, Any]) -> dict[str, Any]:
    errors = sorted(abs(e) for e in report.get("steady_errors", []))
    out: dict[str, Any] = {
        step: round(max(times.values()))
        for step, times in report.items()
        if isinstance(times, dict) and step not in ("steady_corrections_per_phone_20s", "final")
    }
    if errors:
        out["steady_abs_error_p50_ms"] = round(errors[len(errors) // 2], 1)
        out["steady_abs_error_p95_ms"] = round(errors[int(len(errors) * 0.95)], 1)
        out["steady_abs_error_max_ms"] = round(errors[-1], 1)
    out["steady_corrections"] = report.get("steady_corrections_per_phone_20s")
    return out


def test_browser_sync_speaker_mode_plays_only_on_the_speaker(room: Room) -> None:
    host = room.open("Maya", host=True)
    friend = room.open("Ann")
    host.page.get_by_text("One speaker").click()
    friend.page.locator("#listen-note", has_text="The room plays on its speaker").wait_for()
    host.page.get_by_label("This device is the room's speaker").check()
    friend.page.locator("#people .speaker-badge").wait_for()
    host.tap_to_listen()
    before = room.instant()
    host.page.get_by_role("button", name="Play", exact=True).click()
    converged([host], room.wait_for_change(before))
    time.sleep(1.0)
    assert friend.page.evaluate("window.__fakeYT ? window.__fakeYT.players.length : 0") == 0, "a remote has no player"
    assert friend.page.locator("#player-area").is_hidden()
    assert (
        friend.page.locator("#listen-status").inner_text() == "This phone is a remote: the room plays on its speaker."
    )
    assert friend.page.locator("#play-state").inner_text() == "Playing"
    # Back to every phone: the friend joins in (after the tap its browser asks for).
    host.page.get_by_text("Every phone").click()
    friend.tap_to_listen()
    converged([host, friend], friend.sample()["serverNow"])


def test_browser_sync_muted_phone_stays_silent_and_remembers_it(room: Room) -> None:
    host = room.open("Maya", host=True)
    play(room, host)
    host.page.get_by_label("Listen on this phone").uncheck()
    host.page.locator("#player-area").wait_for(state="hidden")
    assert host.page.evaluate("window.__fakeYT.players.length") == 0
    host.page.reload()
    host.page.locator("#status[data-state=connected]").wait_for()
    assert not host.page.get_by_label("Listen on this phone").is_checked()
    assert host.page.locator("#player-area").is_hidden()


def test_browser_sync_refused_autoplay_shows_tap_to_listen_and_joins_on_the_tap(room: Room) -> None:
    host = room.open("Maya", host=True)
    play(room, host)
    # A friend arrives while the room plays. No evaluate() before the tap: Playwright's evaluate
    # counts as a user gesture, and the point is a page that has had none.
    friend = room.open("Ann", untouched=True)
    tap = friend.page.get_by_role("button", name="Tap to listen")
    tap.wait_for()
    time.sleep(1.0)  # the page does not start anything by itself meanwhile
    assert tap.is_visible()
    friend.tap_to_listen()
    tapped = friend.sample()["serverNow"]
    reached = converged([friend], tapped)
    assert reached["Ann"] <= WITHIN_MS
    calls = friend.page.evaluate("window.__fakeYT.calls.map(c => c.name)")
    assert "playVideo" in calls and friend.page.evaluate("window.__fakeYT.refused") == 0


# The Spotify embed lives in the /embed/spotify frame (same origin): its stand-in is read from there.
SPOTIFY_SAMPLE = """() => {
  const s = window.__roomsDebug.sample();
  const frame = document.querySelector("iframe.spotify-frame");
  const fake = frame && frame.contentWindow.__fakeSpotify ? frame.contentWindow.__fakeSpotify.current() : null;
  return { ...s, fake: fake && { positionMs: fake.positionMs, state: fake.paused ? 2 : fake.buffering ? 3 : 1 } };
}"""


def test_browser_sync_spotify_tracks_play_in_sync_in_the_embed_frame(room: Room) -> None:
    room.api.add_track(room.host_token, room.group_id, "Daft Punk – Digital Love", 301, SPOTIFY_TRACK)
    host = room.open("Maya", host=True)
    friend = room.open("Ann")
    for phone in (host, friend):
        phone.tap_to_listen()
        phone.probe = SPOTIFY_SAMPLE
    host.page.get_by_role("button", name="Play Daft Punk – Digital Love now").click()
    before = room.instant()
    host.page.get_by_role("button", name="Play", exact=True).click()
    since = room.wait_for_change(before)
    for phone in (host, friend):
        phone.page.locator("#player-area[data-service=spotify]").wait_for()
        phone.page.frame_locator("iframe.spotify-frame").locator(".fake-spotify").wait_for()
    settled = converged([host, friend], since)
    assert max(settled.values()) <= WITHIN_MS
    assert friend.page.locator("#listen-status").inner_text().startswith("Not logged in to Spotify")


SPOTIFY_TRACK = "https://open.spotify.com/track/2VEZx7NWsZ1D0eJ4uv5Fym"
