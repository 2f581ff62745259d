"""The room's queue as transitions of the live state: placement, limits, shuffle, repeat, plays, autoplay."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings, strategies as st

from rooms_server import queue_transitions, rooms
from rooms_server.queue_rules import FAIR_TURNS, HOSTS_ADD, REPEAT_ALL, REPEAT_ONE, QueueSettings
from rooms_server.room_state import ENDED, REMOVED, SKIPPED, VOTED, LiveState, decode_state, encode_state
from rooms_server.rooms import RoomError
from tests.test_rooms import HOST, LEAD, NOW, current_id, ids_of, make_state, make_track

MEMBER = rooms.Adding(is_host=False, now_ms=NOW)


def with_queue(state: LiveState, **settings: object) -> LiveState:
    return replace(state, queue=QueueSettings(**settings))  # type: ignore[arg-type]


def started(state: LiveState, *, at: int = NOW) -> LiveState:
    """The room playing its current track since ``at`` (the play began then)."""
    playback = rooms.Playback(is_playing=True, position_ms=0, server_time_ms=at)
    return replace(state, playback=playback, play_started_ms=at)


# -- fair turns ---------------------------------------------------------------------------------

adders = st.lists(st.sampled_from(["ann", "bo", "cy"]), min_size=1, max_size=25)


@settings(max_examples=200, deadline=None)
@given(adders)
def test_add_track_fair_turns_never_put_one_adder_twice_in_a_row_while_another_waits(sequence: list[str]) -> None:
    state = with_queue(make_state((1,), current=0), queue_mode=FAIR_TURNS, max_queued_per_member=0)
    for n, adder in enumerate(sequence, start=100):
        state = rooms.add_track(state, make_track(n, by=adder), max_queue=1000, by=HOST).state
    upcoming = [t.added_by for t in state.tracks[1:]]
    for i in range(len(upcoming) - 1):
        if upcoming[i] == upcoming[i + 1]:
            assert set(upcoming[i + 1 :]) == {upcoming[i]}, upcoming  # only once nobody else waits
    assert current_id(state) == 1  # the current track never moves


def test_add_track_fair_turns_event_names_the_mid_queue_index() -> None:
    state = with_queue(make_state((1,), current=0), queue_mode=FAIR_TURNS)
    for n, adder in enumerate(["ann", "ann", "bo"], start=10):
        change = rooms.add_track(state, make_track(n, by=adder), max_queue=100, by=HOST)
        state = change.state
    assert [t.added_by for t in state.tracks[1:]] == ["ann", "bo", "ann"]
    assert change.events[0]["index"] == 2 and ids_of(state) == [1, 10, 12, 11]


def test_add_track_in_order_appends() -> None:
    state = make_state((1,), current=0)
    for n, adder in enumerate(["ann", "ann", "bo"], start=10):
        state = rooms.add_track(state, make_track(n, by=adder), max_queue=100, by=HOST).state
    assert ids_of(state) == [1, 10, 11, 12]


# -- limits -------------------------------------------------------------------------------------


def test_add_track_limits_refuse_members_with_stable_codes_and_spare_hosts() -> None:
    state = with_queue(make_state((1, 2), current=0), max_queued_per_member=1, max_track_s=60)
    state = replace(state, tracks=(state.tracks[0], make_track(2, by="bo")))
    cases = [
        (make_track(9, by="bo"), MEMBER, "member_queue_limit"),
        (make_track(9, by="cy", duration_s=61), MEMBER, "track_too_long"),
        (
            replace(make_track(9, by="cy", duration_s=30), url="https://youtu.be/played"),
            rooms.Adding(is_host=False, now_ms=NOW, last_played_ms=NOW - 59 * 60_000),
            "recently_played",
        ),
    ]
    for track, by, code in cases:
        with pytest.raises(RoomError) as refused:
            rooms.add_track(state, track, max_queue=100, by=by)
        assert refused.value.code == code
        assert rooms.add_track(state, track, max_queue=100, by=HOST).state.tracks[-1] == track
    curated = with_queue(state, who_may_add=HOSTS_ADD)
    with pytest.raises(RoomError) as refused:
        rooms.add_track(curated, make_track(9, by="cy", duration_s=30), max_queue=100, by=MEMBER)
    assert refused.value.code == "hosts_only"


def test_add_track_the_track_playing_now_counts_as_just_played() -> None:
    state = started(make_state((1,), current=0))
    again = make_track(1, by="cy")
    with pytest.raises(RoomError) as refused:
        rooms.add_track(state, replace(again, id=9), max_queue=100, by=MEMBER)
    assert refused.value.code == "recently_played"
    not_started = make_state((1,), current=0)  # current but never played: may be queued again
    assert len(rooms.add_track(not_started, replace(again, id=9), max_queue=100, by=MEMBER).state.tracks) == 2


# -- shuffle ------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=1, max_value=12), st.integers(min_value=0, max_value=11), st.integers())
def test_shuffle_is_a_permutation_of_the_upcoming_tracks_and_unshuffle_restores_them(
    count: int, current: int, seed: int
) -> None:
    current = min(current, count - 1)
    state = make_state(tuple(range(1, count + 1)), current=current)
    change = queue_transitions.shuffle(state, seed)
    after = change.state
    assert ids_of(after)[: current + 1] == ids_of(state)[: current + 1]
    assert sorted(ids_of(after)[current + 1 :]) == ids_of(state)[current + 1 :]
    assert current_id(after) == current_id(state)
    if count - current - 1 >= 2:  # two or more always move, as one event
        assert ids_of(after) != ids_of(state)
        assert [e["type"] for e in change.events] == ["queue_reordered"]
        assert change.events[0]["track_ids"] == ids_of(after) and after.version == state.version + 1
    else:
        assert change.state is state and change.events == []
    restored = queue_transitions.unshuffle(after).state
    assert ids_of(restored) == ids_of(state)


def test_shuffle_of_two_upcoming_tracks_always_swaps_them() -> None:
    # Eight seeded identities in a row happen for about 1 seed in 256; none may leave the order.
    state = make_state((1, 2, 3), current=0)
    for seed in range(3_000):
        assert ids_of(queue_transitions.shuffle(state, seed).state) == [1, 3, 2], seed


def test_shuffle_seed_differs_per_version() -> None:
    state = make_state(tuple(range(1, 9)))
    assert queue_transitions.shuffle_seed(state) != queue_transitions.shuffle_seed(replace(state, version=8))


# -- repeat -------------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=1, max_value=8), st.integers(min_value=1, max_value=4))
def test_advance_repeat_all_plays_every_track_once_per_cycle_and_wraps(count: int, cycles: int) -> None:
    state = started(with_queue(make_state(tuple(range(1, count + 1))), repeat=REPEAT_ALL))
    played: list[int] = []
    now = NOW
    for _ in range(count * cycles):
        track = rooms.current_track(state)
        assert track is not None
        now = now + track.duration_ms + LEAD + 1
        change = rooms.advance_if_ended(state, now_ms=now, lead_ms=LEAD)
        assert [p.outcome for p in change.played] == [ENDED]
        played.append(change.played[0].track.id)
        state = change.state
    assert played == list(range(1, count + 1)) * cycles
    assert current_id(state) == 1 and state.playback.is_playing


def test_advance_repeat_one_replays_the_track_as_a_new_play() -> None:
    state = started(with_queue(make_state((1, 2)), repeat=REPEAT_ONE))
    end = NOW + 180_000
    change = rooms.advance_if_ended(state, now_ms=end, lead_ms=LEAD)
    assert current_id(change.state) == 1
    assert change.state.playback == rooms.Playback(True, 0, end + LEAD)
    assert change.state.play_started_ms == end + LEAD
    assert [(p.track.id, p.outcome, p.played_ms) for p in change.played] == [(1, ENDED, 180_000)]
    assert change.events[-1]["cause"] == "repeat"
    skipped = rooms.skip(change.state, 1, now_ms=end + LEAD + 5_000, lead_ms=LEAD)  # a host's skip moves on
    assert current_id(skipped.state) == 2


def test_skip_under_repeat_all_wraps_from_the_last_track() -> None:
    state = with_queue(make_state((1, 2), current=1), repeat=REPEAT_ALL)
    assert current_id(rooms.skip(state, 2, now_ms=NOW, lead_ms=LEAD).state) == 1


# -- plays, for the history ---------------------------------------------------------------------


def test_transitions_end_the_current_play_with_its_outcome_and_position() -> None:
    state = started(make_state((1, 2, 3)))
    at = NOW + 42_000
    ended_by = {
        SKIPPED: rooms.skip(state, 1, now_ms=at, lead_ms=LEAD),
        VOTED: rooms.vote_skip(state, "u9", 1, present_users=1, ratio=0.5, now_ms=at, lead_ms=LEAD),
        REMOVED: rooms.remove_track(state, 1, by_user="u1", is_admin=True, now_ms=at, lead_ms=LEAD),
    }
    for outcome, change in ended_by.items():
        (play,) = change.played
        assert (play.track.id, play.outcome, play.started_ms, play.ended_ms, play.played_ms) == (
            1,
            outcome,
            NOW,
            at,
            42_000,
        )
        assert change.state.play_started_ms == at + LEAD  # the next track's play starts with it
    jumped = rooms.jump(state, 3, now_ms=at, lead_ms=LEAD)
    assert [p.outcome for p in jumped.played] == [SKIPPED]
    restarted = rooms.previous(state, 1, now_ms=at, lead_ms=LEAD)  # at the first track: a restart
    assert [p.outcome for p in restarted.played] == [SKIPPED] and restarted.state.play_started_ms == at + LEAD


def test_transitions_record_no_play_for_a_track_that_never_started() -> None:
    paused = make_state((1, 2))
    assert rooms.skip(paused, 1, now_ms=NOW, lead_ms=LEAD).played == ()
    scheduled = rooms.play(paused, now_ms=NOW, lead_ms=LEAD).state  # starts LEAD from now
    assert scheduled.play_started_ms == NOW + LEAD
    assert rooms.skip(scheduled, 1, now_ms=NOW + LEAD - 1, lead_ms=LEAD).played == ()


def test_pause_and_resume_keep_one_play() -> None:
    state = rooms.play(make_state((1, 2)), now_ms=NOW, lead_ms=0).state
    state = rooms.pause(state, now_ms=NOW + 10_000, lead_ms=0).state
    state = rooms.play(state, now_ms=NOW + 60_000, lead_ms=0).state
    assert state.play_started_ms == NOW
    (play,) = rooms.skip(state, 1, now_ms=NOW + 65_000, lead_ms=LEAD).played
    assert play.played_ms == 15_000


def test_restamp_moves_the_start_of_the_play_with_the_playback() -> None:
    before = started(make_state((1, 2)))
    change = rooms.skip(before, 1, now_ms=NOW + 1_000, lead_ms=LEAD)
    later = rooms.restamp(before, change, now_ms=NOW + 1_500, lead_ms=LEAD)
    assert later.state.play_started_ms == later.state.playback.server_time_ms == NOW + 1_500 + LEAD
    assert later.played == change.played


def test_state_with_queue_settings_and_a_play_survives_encoding() -> None:
    state = started(with_queue(make_state(), queue_mode=FAIR_TURNS, repeat=REPEAT_ALL, autoplay=True))
    assert decode_state(encode_state(state)) == state


# -- settings and autoplay ----------------------------------------------------------------------


def test_set_queue_settings_announces_all_settings_once() -> None:
    state = make_state()
    change = queue_transitions.set_queue_settings(state, {"repeat": "all", "max_track_s": 300})
    assert change.state.queue == QueueSettings(repeat="all", max_track_s=300)
    assert change.events == [{"type": "queue_settings_changed", "queue": rooms.queue_to_dict(change.state.queue)}]
    same = queue_transitions.set_queue_settings(change.state, {"repeat": "all"})
    assert same.state is change.state and same.events == []
    with pytest.raises(ValueError):
        queue_transitions.set_queue_settings(state, {"volume": 3})


def test_needs_autoplay_when_the_queue_runs_out_or_autoplay_is_turned_on_with_nothing_current() -> None:
    on = with_queue(make_state((1,)), autoplay=True)
    ended = replace(on, current_index=1)
    assert queue_transitions.needs_autoplay(on, ended)
    assert not queue_transitions.needs_autoplay(ended, ended)  # already ran out: nothing to retry
    off_and_ended = replace(ended, queue=QueueSettings())
    assert queue_transitions.needs_autoplay(off_and_ended, ended)  # turned on in a room that ran out
    assert not queue_transitions.needs_autoplay(on, on)
    assert not queue_transitions.needs_autoplay(make_state((1,)), replace(make_state((1,)), current_index=1))


def test_autoplay_makes_the_re_added_track_current_and_playing() -> None:
    ended = replace(make_state((1, 2), current=2), queue=QueueSettings(autoplay=True))
    change = queue_transitions.autoplay(ended, make_track(9), playing=True, now_ms=NOW, lead_ms=LEAD, max_tracks=500)
    assert current_id(change.state) == 9 and change.state.playback == rooms.Playback(True, 0, NOW + LEAD)
    assert change.state.play_started_ms == NOW + LEAD
    assert [e["type"] for e in change.events] == ["track_added", "index_changed"]
    assert {e.get("cause") for e in change.events} == {"autoplay"}
    with pytest.raises(ValueError):
        queue_transitions.autoplay(make_state(), make_track(9), playing=True, now_ms=NOW, lead_ms=LEAD, max_tracks=500)


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=1, max_value=12), st.integers(min_value=1, max_value=10))
def test_autoplay_never_grows_the_playlist_past_its_limit(count: int, max_tracks: int) -> None:
    ended = replace(make_state(tuple(range(1, count + 1)), current=count), queue=QueueSettings(autoplay=True))
    change = queue_transitions.autoplay(
        ended, make_track(99), playing=True, now_ms=NOW, lead_ms=LEAD, max_tracks=max_tracks
    )
    after = change.state
    assert len(after.tracks) == min(count + 1, max_tracks) and current_id(after) == 99
    assert after.current_index == len(after.tracks) - 1
    dropped = [e["track_id"] for e in change.events if e["type"] == "track_removed"]
    assert dropped == list(range(1, count + 2 - len(after.tracks)))  # the oldest played go first
    assert ids_of(after) == [*range(len(dropped) + 1, count + 1), 99]
