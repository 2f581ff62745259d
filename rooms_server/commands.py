"""The one command path, for the socket and HTTP alike: authorize → transition → durable write → publish.

A parsed client frame (``protocol.parse_client_frame`` on the socket; web/playlist.py builds the
same ``protocol.Add`` from an HTTP body) and its ``Actor`` go through ``Commands.execute``: the
role check keyed by the frame's wire type (``rooms.ADMIN_ONLY``), then one small handler per frame
class picked by an exhaustive ``match`` (mypy --strict fails on a frame class without a case,
through ``assert_never``), which hands a pure transition from ``rooms`` to ``LiveGroups.run`` (the
group lock, the durable write, the engine commit that publishes the events). Each handler returns
the seq the acknowledgement carries; a refusal is a ``RoomError`` for the caller to map (the
socket's ``error`` frame, HTTP's ``errors.room_error``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import assert_never

from rooms_server import chat, protocol, queue_transitions, rooms
from rooms_server.live import Inputs, LiveGroups
from rooms_server.outcomes import CommandId
from rooms_server.protocol import ClientFrame
from rooms_server.queue_rules import HOSTS_ADD
from rooms_server.room_state import Actor, NewTrack
from rooms_server.rooms import Change, LiveState, RoomError
from rooms_server.sources import SourceError, TrackInfo, described_track

PresentUsers = Callable[[], Awaitable[int]]


class SourceRefused(RoomError):
    """The link of an add could not be resolved; ``source`` keeps the provider's status and retry hint."""

    def __init__(self, source: SourceError) -> None:
        super().__init__(source.code, source.hint)
        self.source = source


async def _nobody_counted() -> int:
    return 1


class Commands:
    """Executes the commands of one actor in one group (a socket's user, or one HTTP request's)."""

    def __init__(
        self, live: LiveGroups, group_id: str, actor: Actor, present_users: PresentUsers = _nobody_counted
    ) -> None:
        self.live = live
        self.group_id = group_id
        self.actor = actor
        self.present_users = present_users  # voters present, for vote_skip
        self.command: CommandId | None = None  # the id of the command being executed, if it has one

    async def execute(self, frame: ClientFrame) -> int:
        """Run one command; raises RoomError (refused), Duplicate (answered before) or a backend failure."""
        if isinstance(frame, protocol.Hello | protocol.Ping):
            raise RoomError("unsupported", f"{type(frame).__name__} is not a command")
        self.command = CommandId.of(self.actor.user_id, self.group_id, frame.id)
        if self.command is not None:
            # Outside the lock too: a retried add must not resolve its link again. The lookup
            # under the lock (LiveGroups.run) is the one that decides.
            await self.live.outcomes.check_live(self.command)
        try:
            rooms.require_role(frame.type, self.actor.role)
            seq: int = await self._dispatch(frame)
        except RoomError as exc:
            if self.command is not None:  # a refusal is an answer too (unless it says "try again")
                await self.live.outcomes.record_refusal(self.command, exc.code, exc.message)
            raise
        return seq

    async def _dispatch(self, frame: ClientFrame) -> int:
        """The handler of each frame class; a new ClientFrame member without a case fails mypy."""
        match frame:
            case protocol.Add():
                return await self._add(frame)
            case protocol.Remove():
                return await self._remove(frame)
            case protocol.Move():
                return await self._move(frame)
            case protocol.Skip():
                return await self._skip(frame)
            case protocol.Previous():
                return await self._previous(frame)
            case protocol.Jump():
                return await self._jump(frame)
            case protocol.Play():
                return await self._scheduled(lambda s, t: rooms.play(s, **t), durable=False)
            case protocol.Pause():
                return await self._scheduled(lambda s, t: rooms.pause(s, **t), durable=False)
            case protocol.Seek():
                return await self._seek(frame)
            case protocol.VoteSkip():
                return await self._vote_skip(frame)
            case protocol.ListeningMode():
                return await self._listening_mode(frame)
            case protocol.MarkSpeaker():
                return await self._mark_speaker(frame)
            case protocol.UnmarkSpeaker():
                return await self._unmark_speaker(frame)
            case protocol.Follow():
                return await self._follow(frame)
            case protocol.Chat():
                return await self._chat(frame)
            case protocol.React():
                return await self._react(frame)
            case protocol.QueueSettingsChange():
                return await self._queue_settings(frame)
            case protocol.Shuffle():
                return await self._state_change(
                    lambda s: queue_transitions.shuffle(s, queue_transitions.shuffle_seed(s)), durable=True
                )
            case protocol.Unshuffle():
                return await self._state_change(queue_transitions.unshuffle, durable=True)
            case protocol.Hello() | protocol.Ping():
                raise RoomError("unsupported", f"{type(frame).__name__} is not a command")
            case _:
                assert_never(frame)

    async def _state_change(self, fn: Callable[[LiveState], Change], *, durable: bool) -> int:
        async def transition(state: LiveState, _: Inputs) -> Change:
            return fn(state)

        return await self.live.run(self.group_id, transition, durable=durable, command=self.command)

    async def _scheduled(self, fn: Callable[[LiveState, dict[str, int]], Change], *, durable: bool) -> int:
        """A change phones apply at a common instant: the room's current lead ahead of the clock.

        The lead is read before the lock is taken; the instant is stamped as late as possible
        (after the SQL commit of a durable command).
        """
        lead = await self.live.lead_ms(self.group_id)

        async def transition(state: LiveState, _: Inputs) -> Change:
            return fn(state, {"now_ms": self.live.now_ms(), "lead_ms": lead})

        return await self.live.run(
            self.group_id, transition, durable=durable, lead_ms=lead if durable else None, command=self.command
        )

    async def _add(self, frame: protocol.Add) -> int:
        await self._may_add()
        info = await self._track_of(frame)
        actor, max_queue = self.actor, self.live.settings.limits.max_queue_tracks
        new = NewTrack(info.service, info.title, info.duration_s, info.url, actor.user_id, actor.name, info.artwork_url)

        async def add(state: LiveState, inputs: Inputs) -> Change:
            (track,) = inputs.new_tracks  # its row, inserted in this command's transaction
            by = rooms.Adding(
                is_host=actor.role == rooms.ADMIN,
                now_ms=self.live.now_ms(),
                last_played_ms=inputs.last_played.get(new.url),
            )
            return rooms.add_track(state, track, max_queue=max_queue, by=by)

        return await self.live.run(self.group_id, add, durable=True, command=self.command, new_tracks=[new])

    async def _queue_settings(self, frame: protocol.QueueSettingsChange) -> int:
        """Durable and scheduled: turning autoplay on in a room with nothing current starts a track."""
        changes = frame.changes()
        return await self._scheduled(lambda s, _: queue_transitions.set_queue_settings(s, changes), durable=True)

    async def _may_add(self) -> None:
        """A curated room refuses a guest's add before its link is resolved (the lock's check decides)."""
        if self.actor.role == rooms.ADMIN:
            return
        _, state = await self.live.current(self.group_id)
        if state.queue.who_may_add == HOSTS_ADD:
            raise RoomError("hosts_only", "only hosts add tracks in this room; vote and chat instead")

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
            raise SourceRefused(exc) from None

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

    async def _seek(self, frame: protocol.Seek) -> int:
        return await self._scheduled(lambda s, t: rooms.seek(s, frame.position_ms, **t), durable=False)

    async def _vote_skip(self, frame: protocol.VoteSkip) -> int:
        present = max(await self.present_users(), 1)
        ratio = self.live.settings.vote_skip_ratio
        return await self._scheduled(
            lambda s, t: rooms.vote_skip(
                s, self.actor.user_id, frame.track_id, present_users=present, ratio=ratio, **t
            ),
            durable=True,
        )

    async def _listening_mode(self, frame: protocol.ListeningMode) -> int:
        return await self._state_change(lambda s: rooms.set_listening_mode(s, frame.mode), durable=True)

    async def _mark_speaker(self, frame: protocol.MarkSpeaker) -> int:
        """The sender's own device becomes a speaker of the room (hosts only)."""
        if self.actor.device_key is None:
            raise RoomError("no_device", "this page sent no device id; reload it to mark it as a speaker")
        speaker = rooms.Speaker(self.actor.device_key, self.actor.user_id, self.actor.name)
        return await self._state_change(lambda s: rooms.mark_speaker(s, speaker), durable=True)

    async def _unmark_speaker(self, frame: protocol.UnmarkSpeaker) -> int:
        return await self._state_change(lambda s: rooms.unmark_speaker(s, frame.device_key), durable=True)

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
