"""From a parsed client frame to a change of the group: permissions, then the right transition.

One small handler per command type; each returns the seq the acknowledgement carries.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from rooms_server import chat, protocol, rooms
from rooms_server.db.models import User
from rooms_server.live import Actor, LiveGroups
from rooms_server.outcomes import CommandId
from rooms_server.protocol import ClientFrame
from rooms_server.rooms import Change, LiveState, RoomError
from rooms_server.sources import SourceError, TrackInfo, described_track

PresentUsers = Callable[[], Awaitable[int]]


class Commands:
    """Executes the commands of one socket: its user, its group, its current role."""

    def __init__(self, live: LiveGroups, group_id: str, actor: Actor, present_users: PresentUsers) -> None:
        self.live = live
        self.group_id = group_id
        self.actor = actor
        self.present_users = present_users
        self.command: CommandId | None = None  # the id of the command being executed, if it has one

    async def execute(self, frame: ClientFrame) -> int:
        """Run one command; raises RoomError (refused), Duplicate (answered before) or a backend failure."""
        kind = type(frame).__name__
        handler = getattr(self, f"_{kind.lower()}", None)
        if handler is None:
            raise RoomError("unsupported", f"{kind} is not a command")
        self.command = CommandId.of(self.actor.user_id, self.group_id, frame.id)
        if self.command is not None:
            # Outside the lock too: a retried add must not resolve its link again. The lookup
            # under the lock (LiveGroups.run) is the one that decides.
            await self.live.outcomes.check_live(self.command)
        try:
            rooms.require_role(_WIRE_NAMES.get(kind, kind.lower()), self.actor.role)
            seq: int = await handler(frame)
        except RoomError as exc:
            if self.command is not None:  # a refusal is an answer too (unless it says "try again")
                await self.live.outcomes.record_refusal(self.command, exc.code, exc.message)
            raise
        return seq

    async def _state_change(self, fn: Callable[[LiveState], Change], *, durable: bool) -> int:
        async def transition(state: LiveState, _: AsyncSession | None) -> Change:
            return fn(state)

        return await self.live.run(self.group_id, transition, durable=durable, command=self.command)

    async def _scheduled(self, fn: Callable[[LiveState, dict[str, int]], Change], *, durable: bool) -> int:
        """A change phones apply at a common instant: the room's current lead ahead of the clock.

        The lead is read before the lock is taken; the instant is stamped as late as possible
        (after the SQL commit of a durable command).
        """
        lead = await self.live.lead_ms(self.group_id)

        async def transition(state: LiveState, _: AsyncSession | None) -> Change:
            return fn(state, {"now_ms": self.live.now_ms(), "lead_ms": lead})

        return await self.live.run(
            self.group_id, transition, durable=durable, lead_ms=lead if durable else None, command=self.command
        )

    async def _add(self, frame: protocol.Add) -> int:
        track = await self._track_of(frame)
        user = User(id=self.actor.user_id, name=self.actor.name)
        return await self.live.add_track(
            self.group_id,
            user,
            service=track.service,
            url=track.url,
            title=track.title,
            duration_s=track.duration_s,
            artwork_url=track.artwork_url,
            command=self.command,
        )

    async def _track_of(self, frame: protocol.Add) -> TrackInfo:
        """Resolve the link before taking the group's lock: the provider's latency never blocks the room."""
        sources = self.live.sources
        try:
            if sources is None:
                return described_track(frame.service, frame.url, frame.title, frame.duration)
            return await sources.for_add(
                frame.service, frame.url, self.actor.user_id, title=frame.title, duration_s=frame.duration
            )
        except SourceError as exc:
            raise RoomError(exc.code, exc.hint) from None

    async def _remove(self, frame: protocol.Remove) -> int:
        is_admin = self.actor.role == rooms.ADMIN
        return await self._scheduled(
            lambda s, t: rooms.remove_track(s, frame.track_id, by_user=self.actor.user_id, is_admin=is_admin, **t),
            durable=True,
        )

    async def _move(self, frame: protocol.Move) -> int:
        return await self._state_change(
            lambda s: rooms.move_track(s, frame.track_id, frame.after_track_id), durable=True
        )

    async def _skip(self, frame: protocol.Skip) -> int:
        return await self._scheduled(
            lambda s, t: rooms.skip(s, frame.expected_track_id, now_ms=t["now_ms"], lead_ms=t["lead_ms"]), durable=True
        )

    async def _previous(self, frame: protocol.Previous) -> int:
        return await self._scheduled(lambda s, t: rooms.previous(s, frame.expected_track_id, **t), durable=True)

    async def _jump(self, frame: protocol.Jump) -> int:
        return await self._scheduled(lambda s, t: rooms.jump(s, frame.track_id, **t), durable=True)

    async def _play(self, frame: protocol.Play) -> int:
        return await self._scheduled(lambda s, t: rooms.play(s, **t), durable=False)

    async def _pause(self, frame: protocol.Pause) -> int:
        return await self._scheduled(lambda s, t: rooms.pause(s, **t), durable=False)

    async def _seek(self, frame: protocol.Seek) -> int:
        return await self._scheduled(lambda s, t: rooms.seek(s, frame.position_ms, **t), durable=False)

    async def _voteskip(self, frame: protocol.VoteSkip) -> int:
        present = max(await self.present_users(), 1)
        ratio = self.live.settings.vote_skip_ratio
        return await self._scheduled(
            lambda s, t: rooms.vote_skip(
                s, self.actor.user_id, frame.track_id, present_users=present, ratio=ratio, **t
            ),
            durable=True,
        )

    async def _listeningmode(self, frame: protocol.ListeningMode) -> int:
        return await self.live.set_listening_mode(self.group_id, frame.mode)

    async def _markspeaker(self, frame: protocol.MarkSpeaker) -> int:
        """The sender's own device becomes a speaker of the room (hosts only)."""
        if self.actor.device_key is None:
            raise RoomError("no_device", "this page sent no device id; reload it to mark it as a speaker")
        speaker = rooms.Speaker(self.actor.device_key, self.actor.user_id, self.actor.name)
        return await self.live.mark_speaker(self.group_id, speaker)

    async def _unmarkspeaker(self, frame: protocol.UnmarkSpeaker) -> int:
        return await self.live.unmark_speaker(self.group_id, frame.device_key)

    async def _follow(self, frame: protocol.Follow) -> int:
        """Opt in (or out) of "play on my Spotify"; opting in first checks the member's connection."""
        follow = self.live.follow
        if frame.following:
            if follow is None:
                raise RoomError("service_not_configured", "this server cannot drive Spotify")
            await follow.check(self.actor.user_id)
        return await self.live.set_follow(self.group_id, self.actor.user_id, frame.following)

    async def _chat(self, frame: protocol.Chat) -> int:
        """Kept in the history first (best effort: an outage there only logs), then delivered."""
        at = chat.now_ms_precision()
        who = {"group_id": self.group_id, "user_id": self.actor.user_id, "name": self.actor.name}
        await chat.keep(self.live.db, self.live.metrics, **who, text=frame.text, at=at)
        event = protocol.chat_event(self.actor.user_id, self.actor.name, frame.text, at)
        return await self.live.publish(self.group_id, event, command=self.command)

    async def _react(self, frame: protocol.React) -> int:
        emoji = protocol.reaction(frame.emoji)
        if emoji is None:
            raise RoomError("invalid_reaction", f"reactions are {' '.join(protocol.REACTIONS)}")
        event = protocol.reaction_event(self.actor.user_id, self.actor.name, emoji, chat.now_ms_precision())
        return await self.live.publish(self.group_id, event, command=self.command)


# Dataclass names that differ from the wire `type` (used for the role check).
_WIRE_NAMES: dict[str, Any] = {
    "VoteSkip": "vote_skip",
    "ListeningMode": "listening_mode",
    "MarkSpeaker": "mark_speaker",
    "UnmarkSpeaker": "unmark_speaker",
}
