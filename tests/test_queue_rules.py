"""Pure queue rules (rooms_server/queue_rules.py): fair turns, shuffle, repeat, autoplay, limits."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, strategies as st

from rooms_server import queue_rules as q

ADDERS = st.sampled_from(["ann", "bob", "cat", "dan"])
# A party: people add tracks (an adder's name) and the head of the queue plays ("play").
OPERATIONS = st.lists(st.one_of(ADDERS, st.just("play")), max_size=60)


def fair_queue(operations: list[str]) -> list[tuple[str, int]]:
    """The upcoming queue after ``operations``: (adder, their n-th add) per track."""
    upcoming: list[tuple[str, int]] = []
    added: dict[str, int] = {}
    for op in operations:
        if op == "play":
            upcoming = upcoming[1:]
            continue
        added[op] = added.get(op, 0) + 1
        at = q.fair_position([adder for adder, _ in upcoming], op)
        upcoming.insert(at, (op, added[op]))
    return upcoming


@given(OPERATIONS)
def test_queue_rules_fair_turns_never_put_one_adder_twice_in_a_row_before_another(operations: list[str]) -> None:
    adders = [adder for adder, _ in fair_queue(operations)]
    for i in range(len(adders) - 1):
        if adders[i] == adders[i + 1]:
            assert all(later == adders[i] for later in adders[i + 2 :]), adders


@given(OPERATIONS)
def test_queue_rules_fair_turns_keep_each_adders_own_order(operations: list[str]) -> None:
    upcoming = fair_queue(operations)
    for adder in {a for a, _ in upcoming}:
        mine = [n for a, n in upcoming if a == adder]
        assert mine == sorted(mine)


def test_queue_rules_fair_turns_round_robin_between_adders() -> None:
    assert [a for a, _ in fair_queue(["ann", "ann", "ann", "bob", "cat", "bob"])] == [
        "ann", "bob", "cat", "ann", "bob", "ann"
    ]  # fmt: skip


def test_queue_rules_in_order_appends_and_fair_turns_insert() -> None:
    upcoming = ["ann", "ann"]
    assert q.insert_position(q.QueueSettings(), upcoming, "bob") == 2
    assert q.insert_position(q.QueueSettings(queue_mode=q.FAIR_TURNS), upcoming, "bob") == 1
    assert q.next_turn(upcoming) == "ann" and q.next_turn([]) is None


@given(st.lists(st.integers(min_value=1, max_value=10**6), unique=True, max_size=40), st.integers())
def test_queue_rules_shuffle_is_a_seeded_permutation_and_unshuffle_restores_the_added_order(
    ids: list[int], seed: int
) -> None:
    order = q.shuffled(ids, seed)
    assert sorted(order) == sorted(ids)
    assert q.shuffled(ids, seed) == order
    assert q.unshuffled(order) == sorted(ids)


@given(st.integers(min_value=1, max_value=50), st.data())
def test_queue_rules_repeat_all_wraps_exactly_once_per_cycle(count: int, data: st.DataObject) -> None:
    start = data.draw(st.integers(min_value=0, max_value=count - 1))
    visited, index = [], start
    for _ in range(count):
        index = q.after_end(index, count, q.REPEAT_ALL)
        visited.append(index)
    assert sorted(visited) == list(range(count))  # every track once
    assert visited[-1] == start  # and back where the cycle began
    assert visited.count(0) == 1


@given(st.integers(min_value=1, max_value=50), st.data())
def test_queue_rules_repeat_off_ends_and_repeat_one_replays(count: int, data: st.DataObject) -> None:
    start = data.draw(st.integers(min_value=0, max_value=count - 1))
    assert q.after_end(start, count, q.REPEAT_ONE) == start
    assert q.after_skip(start, count, q.REPEAT_ONE) == start + 1 if start + 1 < count else count
    index, steps = start, 0
    while index < count:
        index, steps = q.after_end(index, count, q.REPEAT_OFF), steps + 1
    assert (index, steps) == (count, count - start)
    assert q.after_end(count, count, q.REPEAT_ALL) == count  # an ended queue stays ended
    assert q.after_end(0, 0, q.REPEAT_ALL) == 0


@given(st.lists(st.sampled_from("abcdefgh"), max_size=30), st.integers(min_value=0, max_value=10), st.integers())
def test_queue_rules_autoplay_avoids_the_last_played_when_it_can(played: list[str], avoid: int, seed: int) -> None:
    pick = q.autoplay_pick(played, avoid, seed)
    if not played:
        assert pick is None
        return
    assert pick in played
    recent = list(dict.fromkeys(played))[:avoid]
    if len(set(played)) > avoid:
        assert pick not in recent
    else:
        assert pick == list(dict.fromkeys(played))[-1]  # the one played longest ago


NOW = 10_000_000


def refusal(settings: q.QueueSettings, **kwargs: object) -> str | None:
    args: dict[str, object] = {
        "is_host": False, "queued_by_adder": 0, "duration_s": 200, "last_played_ms": None, "now_ms": NOW
    }  # fmt: skip
    args.update(kwargs)
    found = q.refuse_add(settings, **args)  # type: ignore[arg-type]
    return None if found is None else found.code


@pytest.mark.parametrize(
    ("change", "kwargs", "code"),
    [
        ({"who_may_add": q.HOSTS_ADD}, {}, "hosts_only"),
        ({"max_queued_per_member": 3}, {"queued_by_adder": 3}, "member_queue_limit"),
        ({"max_track_s": 600}, {"duration_s": 601}, "track_too_long"),
        ({"replay_block_min": 30}, {"last_played_ms": NOW - 29 * 60_000}, "recently_played"),
    ],
)
def test_queue_rules_limits_refuse_members_with_a_stable_code_and_spare_hosts(
    change: dict[str, object], kwargs: dict[str, object], code: str
) -> None:
    settings = replace(q.QueueSettings(), **change)  # type: ignore[arg-type]
    assert refusal(settings, **kwargs) == code
    assert code in q.REFUSAL_CODES
    assert refusal(settings, is_host=True, **kwargs) is None


def test_queue_rules_limits_allow_what_is_within_them_and_zero_turns_a_limit_off() -> None:
    settings = q.QueueSettings(max_queued_per_member=3, max_track_s=600, replay_block_min=30)
    assert refusal(settings, queued_by_adder=2, duration_s=600, last_played_ms=NOW - 30 * 60_000) is None
    off = q.QueueSettings(max_queued_per_member=0, max_track_s=0, replay_block_min=0)
    assert refusal(off, queued_by_adder=500, duration_s=10**6, last_played_ms=NOW) is None
