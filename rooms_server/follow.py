""" "Play on my Spotify": a member's own active Spotify device follows the room.

Only members who opted in (the ``follow`` command, per room; checked against their Spotify
connection first) are in ``LiveState.followers``, and only they are ever driven. After every
commit that changes what the room plays, the process that committed it works out one step per
follower (``step_for``) and runs it at the change's scheduled instant: start the room's track at
the room's position, seek, or pause (a YouTube track, the end of the queue, a paused room). A
member's next step replaces their pending one.

Any refusal (no active device, not Premium, rate limited, the connection gone) switches that
member's opt-in off and tells only them why: the message is put in the engine's cache under a
random id, the ``follow_changed`` event carries just that id, and each process hands the message
to the member's own sockets as a ``notice`` frame.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from rooms_server import protocol
from rooms_server.engine.base import Engine
from rooms_server.hub import Hub
from rooms_server.live import LiveGroups
from rooms_server.rooms import LiveState, RoomError, current_track
from rooms_server.sources.base import SourceError
from rooms_server.sources.spotify_player import HARMLESS, PlayerError, SpotifyPlayer, track_uri

log = logging.getLogger(__name__)

NOTICE_TTL_S = 60.0


@dataclass(frozen=True, slots=True)
class Step:
    kind: str  # start | seek | pause
    at_ms: int  # server time at which to make the call
    uri: str | None = None
    duration_ms: int = 0


def step_for(before: LiveState, after: LiveState, user_id: str, *, now_ms: int) -> Step | None:
    """What the follower's Spotify must do after the change from ``before`` to ``after``, if anything."""
    joined = user_id not in before.followers
    track, old_track = current_track(after), current_track(before)
    track_changed = (track.id if track else None) != (old_track.id if old_track else None)
    playback_changed = after.playback != before.playback
    if not (joined or track_changed or playback_changed):
        return None
    at = max(after.playback.server_time_ms, now_ms)
    if track is None or track.service != "spotify" or not after.playback.is_playing:
        return Step("pause", at)
    prior = after.playback.prior
    if not joined and not track_changed and prior is not None and prior.is_playing:
        return Step("seek", at, track_uri(track.url), track.duration_ms)
    return Step("start", at, track_uri(track.url), track.duration_ms)


class SpotifyFollow:
    def __init__(self, live: LiveGroups, player: SpotifyPlayer, hub: Hub, engine: Engine) -> None:
        self.live = live
        self.player = player
        self.hub = hub
        self.engine = engine
        self._pending: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._delivering: set[asyncio.Task[None]] = set()

    async def check(self, user_id: str) -> None:
        """Before an opt-in: the member's Spotify is connected with the playback scopes."""
        try:
            await self.player.devices(user_id)
        except PlayerError as exc:
            raise RoomError(exc.code, exc.message) from None
        except SourceError as exc:
            message = "connect Spotify again (allow playback control) to play on your Spotify"
            raise RoomError(exc.code, message if exc.code == "reconnect_required" else exc.hint) from None

    async def stop(self) -> None:
        for task in [*self._pending.values(), *self._delivering]:
            task.cancel()
        self._pending.clear()

    # -- driving ---------------------------------------------------------------------------------

    def on_commit(self, group_id: str, before: LiveState, after: LiveState) -> None:
        for user_id in before.followers - after.followers:
            task = self._pending.pop((group_id, user_id), None)
            if task is not None:
                task.cancel()
        now = self.live.clock.now_ms()
        for user_id in after.followers:
            step = step_for(before, after, user_id, now_ms=now)
            if step is not None:
                self._schedule(group_id, user_id, step, after)

    def _schedule(self, group_id: str, user_id: str, step: Step, state: LiveState) -> None:
        key = (group_id, user_id)
        old = self._pending.pop(key, None)
        if old is not None:
            old.cancel()
        task = asyncio.create_task(self._run(group_id, user_id, step, state), name=f"follow-{user_id}")
        self._pending[key] = task
        task.add_done_callback(lambda done: self._pending.pop(key, None) if self._pending.get(key) is done else None)

    async def _run(self, group_id: str, user_id: str, step: Step, state: LiveState) -> None:
        delay_ms = step.at_ms - self.live.clock.now_ms()
        if delay_ms > 0:
            await asyncio.sleep(delay_ms / 1000)
        try:
            if step.kind == "pause":
                await self.player.pause(user_id)
                return
            assert step.uri is not None
            position = state.playback.position_at(self.live.clock.now_ms(), step.duration_ms)
            if step.kind == "seek":
                await self.player.seek(user_id, position)
            else:
                await self.player.start(user_id, step.uri, position)
        except PlayerError as exc:
            if exc.code not in HARMLESS:
                await self._opt_out(group_id, user_id, exc.code, exc.message)
        except SourceError as exc:
            await self._opt_out(group_id, user_id, exc.code, exc.hint)
        except Exception:
            log.exception("driving the Spotify of user %s failed", user_id)

    async def _opt_out(self, group_id: str, user_id: str, code: str, message: str) -> None:
        notice_id = secrets.token_hex(8)
        body = {"user_id": user_id, "code": code, "message": f"Play on my Spotify is off: {message}."}
        await self.engine.cache.set(f"notice:{notice_id}", orjson.dumps(body), NOTICE_TTL_S)
        await self.live.set_follow(group_id, user_id, False, notice=notice_id)

    # -- the member's notice -----------------------------------------------------------------------

    def react(self, group_id: str, event: Mapping[str, Any]) -> None:
        """The hub's reactor (wired in app.py): an opt-out's notice goes to the member's sockets."""
        if event.get("type") == "follow_changed" and isinstance(event.get("notice"), str):
            self._deliver_notice(group_id, str(event.get("user_id")), str(event["notice"]))

    def _deliver_notice(self, group_id: str, user_id: str, notice_id: str) -> None:
        if not any(conn.user_id == user_id for conn in self.hub.connections(group_id)):
            return
        task = asyncio.create_task(self._deliver(group_id, user_id, notice_id), name=f"notice-{notice_id}")
        self._delivering.add(task)
        task.add_done_callback(self._delivering.discard)

    async def _deliver(self, group_id: str, user_id: str, notice_id: str) -> None:
        raw = await self.engine.cache.get(f"notice:{notice_id}")
        body = orjson.loads(raw) if raw is not None else None
        if not isinstance(body, dict) or body.get("user_id") != user_id:
            return
        frame = protocol.notice(str(body["code"]), str(body["message"]))
        for conn in self.hub.connections(group_id):
            if conn.user_id == user_id and not conn.closed:
                conn.push("", 0, frame)
