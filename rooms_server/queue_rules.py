"""The rules of a room's queue (pure): who may add what, where a new track goes, what plays next.

Not wired yet: issue 16 adds them to the room through the one command path (``commands.py``);
this module is the domain half, with property tests (tests/test_queue_rules.py).

- *Fair turns* place a new track the way JMusicBot's FairQueue does: after the adder's last
  upcoming track, then past one track of each other adder met on the way, so the upcoming queue
  round-robins between the people who added to it.
- *Shuffle* permutes the upcoming tracks only (the current one stays current); *unshuffle* puts
  them back in the order they were added, which is the order of their ids (SQL row ids only grow).
- *Repeat* decides what follows a track that played to its end: ``one`` replays it, ``all``
  wraps to the first track once past the last, ``off`` ends the queue. A host's skip always
  moves on (repeat one replays only a track that ended by itself).
- *Autoplay* picks a track from the room's history when the queue ran out, avoiding the last
  few played, so the music does not stop at a party.
- *Limits* refuse an add with a stable code; hosts are exempt from every one of them.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

IN_ORDER, FAIR_TURNS = "in_order", "fair_turns"
QUEUE_MODES = (IN_ORDER, FAIR_TURNS)
REPEAT_OFF, REPEAT_ONE, REPEAT_ALL = "off", "one", "all"
REPEAT_MODES = (REPEAT_OFF, REPEAT_ONE, REPEAT_ALL)
EVERYONE_ADDS, HOSTS_ADD = "everyone", "hosts"
WHO_MAY_ADD = (EVERYONE_ADDS, HOSTS_ADD)


@dataclass(frozen=True, slots=True)
class QueueSettings:
    """A room's queue settings; 0 turns a limit off."""

    queue_mode: str = IN_ORDER
    repeat: str = REPEAT_OFF
    autoplay: bool = False
    autoplay_avoid_last: int = 10  # autoplay never picks one of the last N tracks played
    who_may_add: str = EVERYONE_ADDS
    max_queued_per_member: int = 10  # upcoming tracks one member may have waiting
    max_track_s: int = 20 * 60  # longest track a member may add
    replay_block_min: int = 60  # a track that played this recently cannot be added again


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why an add is refused: ``code`` is stable (clients branch on it), ``message`` is for people."""

    code: str
    message: str


REFUSAL_CODES = frozenset({"hosts_only", "member_queue_limit", "track_too_long", "recently_played"})


def fair_position(upcoming_adders: Sequence[str], adder: str) -> int:
    """Where ``adder``'s new track goes among the upcoming tracks (given by who added each)."""
    at = 0
    for index in range(len(upcoming_adders) - 1, -1, -1):
        if upcoming_adders[index] == adder:
            at = index + 1
            break
    passed = {adder}
    while at < len(upcoming_adders) and upcoming_adders[at] not in passed:
        passed.add(upcoming_adders[at])
        at += 1
    return at


def insert_position(settings: QueueSettings, upcoming_adders: Sequence[str], adder: str) -> int:
    """Where a new track goes among the upcoming ones: the end, or the adder's fair turn."""
    if settings.queue_mode == FAIR_TURNS:
        return fair_position(upcoming_adders, adder)
    return len(upcoming_adders)


def next_turn(upcoming_adders: Sequence[str]) -> str | None:
    """Whose track plays next (what the page shows as "whose turn"), or None when nothing waits."""
    return upcoming_adders[0] if upcoming_adders else None


def shuffled(upcoming_ids: Sequence[int], seed: int) -> list[int]:
    """A permutation of the upcoming track ids, the same for the same seed (the command's input)."""
    order = list(upcoming_ids)
    random.Random(seed).shuffle(order)
    return order


def unshuffled(upcoming_ids: Sequence[int]) -> list[int]:
    """The upcoming track ids in the order they were added."""
    return sorted(upcoming_ids)


def after_end(current_index: int, track_count: int, repeat: str) -> int:
    """The index to play once the current track ended by itself; ``track_count`` means the queue ended."""
    if track_count == 0 or current_index >= track_count:
        return track_count
    if repeat == REPEAT_ONE:
        return current_index
    return after_skip(current_index, track_count, repeat)


def after_skip(current_index: int, track_count: int, repeat: str) -> int:
    """The index a skip moves to: the next track, wrapping past the last under repeat all."""
    if track_count == 0 or current_index >= track_count:
        return track_count
    following = current_index + 1
    if following == track_count and repeat == REPEAT_ALL:
        return 0
    return following


def autoplay_pick(played_newest_first: Sequence[str], avoid_last: int, seed: int) -> str | None:
    """A track (by key) to play from the history when the queue ran out; None when nothing was played.

    Picks among the tracks not among the last ``avoid_last`` distinct ones played; when every
    track played is that recent, the one played longest ago, so autoplay never stops the music.
    """
    distinct: list[str] = []
    for key in played_newest_first:
        if key not in distinct:
            distinct.append(key)
    if not distinct:
        return None
    candidates = distinct[avoid_last:]
    if not candidates:
        return distinct[-1]
    return random.Random(seed).choice(sorted(candidates))


def refuse_add(
    settings: QueueSettings,
    *,
    is_host: bool,
    queued_by_adder: int,
    duration_s: int,
    last_played_ms: int | None,
    now_ms: int,
) -> Refusal | None:
    """Why a member may not add this track now, or None; hosts may always add."""
    if is_host:
        return None
    if settings.who_may_add == HOSTS_ADD:
        return Refusal("hosts_only", "only hosts add tracks in this room; vote and chat instead")
    limit = settings.max_queued_per_member
    if limit and queued_by_adder >= limit:
        return Refusal("member_queue_limit", f"you already have {limit} tracks waiting; wait for one to play")
    if settings.max_track_s and duration_s > settings.max_track_s:
        minutes = settings.max_track_s // 60
        return Refusal("track_too_long", f"tracks in this room are at most {minutes} minutes long")
    block_ms = settings.replay_block_min * 60_000
    if block_ms and last_played_ms is not None and now_ms - last_played_ms < block_ms:
        return Refusal("recently_played", f"this track played in the last {settings.replay_block_min} minutes")
    return None
