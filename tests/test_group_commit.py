"""Group commit (live_batch.py): commands queued in one group commit together, each with its own answer.

The commands are handed to ``LiveGroups.run`` all at once (``asyncio.gather``): every one is queued
before the group's leader task first runs, so they form one batch whatever the machine's speed;
the engine commits are counted to show it. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import exc as sql_errors, select, update

from rooms_server import failures, rooms
from rooms_server.config import Settings
from rooms_server.db import identity, live as db_live, queries
from rooms_server.db.models import CommandResult, Playlist, Track
from rooms_server.db.session import Database
from rooms_server.engine import create_engine
from rooms_server.engine.base import Engine
from rooms_server.live import Inputs, LiveGroups
from rooms_server.outcomes import CommandId, Duplicate
from rooms_server.room_state import NewTrack
from rooms_server.rooms import Change, LiveState, RoomError
from tests.helpers import HandClock
from tests.source_helpers import sqlite_copy


@dataclass
class Room:
    live: LiveGroups
    engine: Engine
    db: Database
    group_id: str
    user_id: str
    events: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)  # (epoch, seq, event)
    commits: int = 0
    base: int = 0  # the seq once the room has its first track


@pytest.fixture
async def room(database_url: str) -> AsyncIterator[Room]:
    seen: list[tuple[str, int, dict[str, Any]]] = []

    def on_event(_group: str, epoch: str, seq: int, data: bytes) -> None:
        seen.append((epoch, seq, orjson.loads(data)))

    engine = create_engine("memory://", on_event=on_event, on_reset=lambda _: None)
    await engine.connect()
    db = Database(database_url)
    live = LiveGroups(engine, db, Settings(database_url=database_url, migrate_on_start=False))
    async with db.write() as session:
        user = await identity.create_user(session, "Ann")
        group = await queries.create_group(session, "Room", False, user.id)
    await engine.broker.subscribe(group.id)
    result = Room(live, engine, db, group.id, user.id, seen)
    result.base = await adding(result, "first")  # the room has a current track: each add is one event now
    seen.clear()
    commit = engine.state.commit

    async def counted(*args: Any, **kwargs: Any) -> bool:
        result.commits += 1
        return await commit(*args, **kwargs)

    engine.state.commit = counted  # type: ignore[method-assign]
    try:
        yield result
    finally:
        await engine.close()
        await db.close()


def track(title: str, user_id: str) -> NewTrack:
    return NewTrack("youtube", title, 60, f"https://youtu.be/{title:0>11}", user_id, "Ann", None)


async def add(state: LiveState, inputs: Inputs) -> Change:
    (new,) = inputs.new_tracks
    return rooms.add_track(state, new, max_queue=1000, by=rooms.Adding(is_host=True, now_ms=0))


async def refuse(_state: LiveState, _inputs: Inputs) -> Change:
    raise RoomError("queue_full", "no room for it")


def adding(room: Room, title: str, *, command: str | None = None, transition: Any = add) -> Any:
    cid = None if command is None else CommandId(room.user_id, room.group_id, command)
    return room.live.run(room.group_id, transition, durable=True, command=cid, new_tracks=[track(title, room.user_id)])


async def titles_in_sql(room: Room) -> list[str]:
    """The tracks SQL holds, after the one every room here starts with."""
    state = await room.live.store.load(room.group_id, 0)
    assert state is not None
    assert state.tracks[0].title == "first"
    return [t.title for t in state.tracks[1:]]


async def test_group_commit_many_commands_one_commit_consecutive_seqs(room: Room) -> None:
    seqs = await asyncio.gather(*(adding(room, f"t{i}") for i in range(20)))

    assert room.commits == 1  # one batch: one engine commit for twenty commands
    b = room.base
    assert list(seqs) == list(range(b + 1, b + 21))  # each caller gets the seq of its own event
    assert [seq for _, seq, _ in room.events] == list(range(b + 1, b + 21))
    assert [e["track"]["title"] for _, _, e in room.events] == [f"t{i}" for i in range(20)]
    assert await titles_in_sql(room) == [f"t{i}" for i in range(20)]
    _, state = await room.live.current(room.group_id)
    assert [t.title for t in state.tracks[1:]] == [f"t{i}" for i in range(20)]


async def test_group_commit_a_refused_command_rolls_back_only_itself(room: Room) -> None:
    runs = [adding(room, "a"), adding(room, "b"), adding(room, "x", transition=refuse), adding(room, "c")]
    results = await asyncio.gather(*runs, return_exceptions=True)

    b = room.base
    assert results[:2] == [b + 1, b + 2] and results[3] == b + 3
    assert isinstance(results[2], RoomError) and results[2].code == "queue_full"
    assert room.commits == 1
    assert await titles_in_sql(room) == ["a", "b", "c"]  # the refused add's row was rolled back
    async with room.db.read() as session:
        rows = (await session.execute(select(Track.title))).scalars().all()
    assert sorted(rows) == ["a", "b", "c", "first"]  # no row of the refused one


async def test_group_commit_a_duplicate_id_inside_a_batch_is_answered_once(room: Room) -> None:
    cid = "dup-0123456789abcdef"
    runs = [adding(room, "a", command=cid), adding(room, "b"), adding(room, "a", command=cid)]
    results = await asyncio.gather(*runs, return_exceptions=True)

    b = room.base
    assert results[:2] == [b + 1, b + 2]
    assert isinstance(results[2], Duplicate) and results[2].answer == {"seq": b + 1}
    assert await titles_in_sql(room) == ["a", "b"]
    async with room.db.read() as session:
        answers = (await session.execute(select(CommandResult.answer))).scalars().all()
    assert answers == [f'{{"seq":{b + 1}}}']


async def test_group_commit_a_database_failure_fails_the_whole_batch(
    room: Room, monkeypatch: pytest.MonkeyPatch
) -> None:
    insert, calls = db_live.LiveWrite.add_tracks, 0

    async def failing_third(self: db_live.LiveWrite, *args: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise sql_errors.OperationalError("INSERT", None, sqlite3.OperationalError("database is locked"))
        return await insert(self, *args)

    monkeypatch.setattr(db_live.LiveWrite, "add_tracks", failing_third)
    results = await asyncio.gather(*(adding(room, f"t{i}") for i in range(5)), return_exceptions=True)

    assert all(isinstance(r, sql_errors.OperationalError) for r in results), results
    assert all(failures.classify(r) is not None for r in results if isinstance(r, BaseException))  # unavailable
    assert room.commits == 0 and room.events == []  # nothing acked, nothing published
    assert await titles_in_sql(room) == []  # and nothing stored
    monkeypatch.setattr(db_live.LiveWrite, "add_tracks", insert)
    assert await adding(room, "after") == room.base + 1  # the room works on


async def test_group_commit_rebuilds_once_when_sql_moved_on(room: Room) -> None:
    stored, _ = await room.live.current(room.group_id)
    async with room.db.write() as session:  # another process committed to SQL, not to the engine
        await session.execute(update(Playlist).values(version=Playlist.version + 5))

    seqs = await asyncio.gather(*(adding(room, f"t{i}") for i in range(4)))

    again, state = await room.live.current(room.group_id)
    assert again.epoch != stored.epoch  # rebuilt from SQL under a new epoch
    assert list(seqs) == [1, 2, 3, 4]
    assert [t.title for t in state.tracks] == ["first", "t0", "t1", "t2", "t3"]
    assert await titles_in_sql(room) == ["t0", "t1", "t2", "t3"]


async def test_group_commit_live_only_commands_keep_their_place_in_the_order(room: Room) -> None:
    async def rename(state: LiveState, _: Inputs) -> Change:
        return rooms.update_group(state, name="Renamed", is_public=False)

    runs = [adding(room, "a"), room.live.run(room.group_id, rename, durable=False), adding(room, "b")]
    b = room.base
    assert list(await asyncio.gather(*runs)) == [b + 1, b + 2, b + 3]
    assert [e["type"] for _, _, e in room.events] == ["track_added", "group_changed", "track_added"]
    assert room.commits == 3  # a live-only command runs alone, between the batches before and after it


async def test_group_commit_a_later_command_keeps_the_start_its_predecessor_was_stamped_to(
    tmp_path: Path, migrated_sqlite_template: Path
) -> None:
    url = sqlite_copy(migrated_sqlite_template, tmp_path)
    db, clock = Database(url), HandClock()
    engine = create_engine("memory://", on_event=lambda *_: None, on_reset=lambda _: None)
    await engine.connect()
    live = LiveGroups(engine, db, Settings(database_url=url, migrate_on_start=False), clock=clock)
    try:
        async with db.write() as session:
            user = await identity.create_user(session, "Ann")
            group = await queries.create_group(session, "Room", False, user.id)
        room = Room(live, engine, db, group.id, user.id)
        for title in ("one", "two", "three"):
            await adding(room, title)
        _, state = await live.current(group.id)
        one, two, three = (t.id for t in state.tracks)

        async def play(state: LiveState, _: Inputs) -> Change:
            return rooms.play(state, now_ms=clock.now_ms(), lead_ms=0)

        async def slow_skip(state: LiveState, _: Inputs) -> Change:
            change = rooms.skip(state, one, now_ms=clock.now_ms(), lead_ms=400)
            clock.advance(0.088)  # the batch's SQL commit takes 88 ms
            return change

        async def move(state: LiveState, _: Inputs) -> Change:
            return rooms.move_track(state, three, one)

        await live.run(group.id, play, durable=False)
        before = clock.now_ms()
        runs = [live.run(group.id, slow_skip, durable=True, lead_ms=400), live.run(group.id, move, durable=True)]
        await asyncio.gather(*runs)

        _, state = await live.current(group.id)
        assert [t.id for t in state.tracks] == [one, three, two] and state.current_index == 2
        # The skip's start was stamped after the commit, and the move after it kept that stamp.
        assert state.playback.server_time_ms == before + 88 + 400
    finally:
        await engine.close()
        await db.close()
