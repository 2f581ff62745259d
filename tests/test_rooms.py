from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from rooms_server import rooms
from rooms_server.rooms import (
    ADMIN,
    ADMIN_ONLY,
    MEMBER,
    Change,
    Clock,
    LiveState,
    Playback,
    RoomError,
    Speaker,
    Track,
)

NOW = 1_700_000_000_000
LEAD = 800
HOST = rooms.Adding(is_host=True, now_ms=NOW)  # hosts are exempt from the queue limits


def make_track(track_id: int, *, by: str = "u1", duration_s: int = 180) -> Track:
    return Track(
        id=track_id,
        service="youtube",
        title=f"Track {track_id} ☃",
        duration_s=duration_s,
        url=f"https://www.youtube.com/watch?v=vid{track_id:08d}",
        added_by=by,
        added_by_name=f"name of {by}",
        added_at="2026-01-01T12:00:00Z",
    )


def make_state(
    ids: tuple[int, ...] = (1, 2, 3),
    *,
    current: int = 0,
    playing: bool = False,
    position_ms: int = 0,
    server_time_ms: int = NOW,
    votes: frozenset[str] = frozenset(),
) -> LiveState:
    return LiveState(
        group_id="g" * 32,
        name="Friday",
        is_public=False,
        playlist_id="p" * 32,
        version=7,
        tracks=tuple(make_track(i, by=f"u{i}") for i in ids),
        current_index=current,
        playback=Playback(is_playing=playing, position_ms=position_ms, server_time_ms=server_time_ms),
        votes=votes,
    )


def ids_of(state: LiveState) -> list[int]:
    return [t.id for t in state.tracks]


def types_of(change: Change) -> list[str]:
    return [e["type"] for e in change.events]


def current_id(state: LiveState) -> int | None:
    track = rooms.current_track(state)
    return None if track is None else track.id


def assert_noop(before: LiveState, change: Change) -> None:
    assert change.state is before
    assert change.events == []


# -- values -------------------------------------------------------------------------------------


def test_playback_position_at_paused_is_the_stored_position() -> None:
    assert Playback(False, 5_000, NOW).position_at(NOW + 60_000, 180_000) == 5_000


def test_playback_position_at_playing_adds_elapsed_time() -> None:
    assert Playback(True, 5_000, NOW).position_at(NOW + 2_500, 180_000) == 7_500


def test_playback_position_at_scheduled_start_stays_until_it_starts() -> None:
    playback = Playback(True, 1_000, NOW + LEAD)
    assert playback.position_at(NOW, 180_000) == 1_000
    assert playback.position_at(NOW + LEAD + 10, 180_000) == 1_010


def test_playback_position_at_clamps_to_the_track() -> None:
    assert Playback(True, 170_000, NOW).position_at(NOW + 60_000, 180_000) == 180_000
    assert Playback(False, -5, NOW).position_at(NOW, 180_000) == 0


def test_current_track_is_none_when_the_index_is_past_the_end() -> None:
    assert make_state(current=3).current_track is None
    assert make_state((), current=0).current_track is None
    assert make_state(current=1).current_track == make_track(2, by="u2")


def test_encode_state_round_trip_is_exact() -> None:
    state = make_state(current=1, playing=True, position_ms=1234, votes=frozenset({"b", "a", "ü"}))
    data = rooms.encode_state(state)
    assert rooms.decode_state(data) == state
    assert rooms.encode_state(rooms.decode_state(data)) == data


@given(
    ids=st.lists(st.integers(1, 2**53 - 1), unique=True, max_size=5),
    name=st.text(),
    votes=st.frozensets(st.text()),
    position=st.integers(0, 10**9),
)
def test_encode_state_round_trip_holds_for_any_state(
    ids: list[int], name: str, votes: frozenset[str], position: int
) -> None:
    state = replace(make_state(tuple(ids), current=len(ids), position_ms=position, votes=votes), name=name)
    assert rooms.decode_state(rooms.encode_state(state)) == state


def test_decode_state_refuses_another_format() -> None:
    data = rooms.encode_state(make_state()).replace(b'"format":3', b'"format":99')
    with pytest.raises(ValueError):
        rooms.decode_state(data)


# -- roles --------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", sorted(ADMIN_ONLY))
def test_require_role_member_is_forbidden_host_commands(command: str) -> None:
    with pytest.raises(RoomError) as exc:
        rooms.require_role(command, MEMBER)
    assert exc.value.code == "forbidden"
    rooms.require_role(command, ADMIN)


@pytest.mark.parametrize("command", ["add", "remove", "vote_skip", "chat", "react", "ping", "hello", "follow"])
def test_require_role_member_may_use_member_commands(command: str) -> None:
    rooms.require_role(command, MEMBER)


def test_require_role_host_commands_are_exactly_these() -> None:
    assert ADMIN_ONLY == {
        "skip",
        "previous",
        "jump",
        "play",
        "pause",
        "seek",
        "move",
        "listening_mode",
        "mark_speaker",
        "unmark_speaker",
        "queue_settings",
        "shuffle",
        "unshuffle",
    }


# -- add ----------------------------------------------------------------------------------------


def test_add_track_appends_and_bumps_version() -> None:
    state = make_state()
    change = rooms.add_track(state, make_track(9), max_queue=10, by=HOST)
    assert ids_of(change.state) == [1, 2, 3, 9]
    assert change.state.version == state.version + 1
    assert change.state.current_index == 0
    assert change.events == [{"type": "track_added", "track": rooms.track_to_dict(make_track(9)), "index": 3}]


def test_add_track_to_empty_playlist_becomes_current_paused_at_zero() -> None:
    change = rooms.add_track(make_state(()), make_track(5), max_queue=10, by=HOST)
    assert current_id(change.state) == 5
    assert change.state.playback == Playback(False, 0, NOW)
    assert types_of(change) == ["track_added", "index_changed"]
    assert change.events[1] == {
        "type": "index_changed",
        "index": 0,
        "track_id": 5,
        "cause": "added",
        "queue_ended": False,
        "playback": {"is_playing": False, "position_ms": 0, "server_time_ms": NOW},
        "ends_at_ms": None,
    }


def test_add_track_after_queue_ended_becomes_current() -> None:
    change = rooms.add_track(make_state(current=3), make_track(4), max_queue=10, by=HOST)
    assert current_id(change.state) == 4
    assert change.events[1] == {
        "type": "index_changed",
        "index": 3,
        "track_id": 4,
        "cause": "added",
        "queue_ended": False,
        "playback": {"is_playing": False, "position_ms": 0, "server_time_ms": NOW},
        "ends_at_ms": None,
    }


def test_add_track_resets_a_stray_playback_when_it_becomes_current() -> None:
    change = rooms.add_track(make_state((), position_ms=500), make_track(5), max_queue=10, by=HOST)
    assert change.state.playback.position_ms == 0
    assert types_of(change) == ["track_added", "index_changed"]  # the new playback comes with the index
    assert change.events[1]["playback"]["position_ms"] == 0


def test_add_track_refuses_a_full_queue() -> None:
    with pytest.raises(RoomError) as exc:
        rooms.add_track(make_state(), make_track(9), max_queue=3, by=HOST)
    assert exc.value.code == "queue_full"


def test_add_track_duplicate_id_is_a_caller_bug() -> None:
    with pytest.raises(ValueError):
        rooms.add_track(make_state(), make_track(2), max_queue=10, by=HOST)


# -- remove -------------------------------------------------------------------------------------


def remove(state: LiveState, track_id: int, *, by: str = "admin", admin: bool = True) -> Change:
    return rooms.remove_track(state, track_id, by_user=by, is_admin=admin, now_ms=NOW, lead_ms=LEAD)


def test_remove_track_before_current_keeps_the_same_track_current() -> None:
    state = make_state(current=2, playing=True, server_time_ms=NOW - 1000)
    change = remove(state, 1)
    assert ids_of(change.state) == [2, 3]
    assert current_id(change.state) == 3
    assert change.state.current_index == 1
    assert change.state.playback == state.playback  # nothing restarts: no seek on any phone
    assert change.events == [
        {"type": "track_removed", "track_id": 1},
        {"type": "index_changed", "index": 1, "track_id": 3, "cause": "removed", "queue_ended": False},
    ]


def test_remove_track_after_current_changes_only_the_list() -> None:
    state = make_state(current=0)
    change = remove(state, 3)
    assert change.state.current_index == 0
    assert change.events == [{"type": "track_removed", "track_id": 3}]
    assert change.state.version == state.version + 1


def test_remove_current_track_while_playing_starts_the_next_one_scheduled() -> None:
    state = make_state(current=0, playing=True, position_ms=40_000, server_time_ms=NOW - 5_000)
    change = remove(state, 1)
    assert current_id(change.state) == 2
    assert change.state.current_index == 0
    assert change.state.playback == Playback(True, 0, NOW + LEAD)
    assert types_of(change) == ["track_removed", "index_changed"]
    assert change.events[1]["playback"] == rooms.playback_to_dict(change.state.playback)
    assert change.state.version == state.version + 1


def test_remove_current_track_while_paused_leaves_the_next_one_paused_at_zero() -> None:
    change = remove(make_state(current=1, position_ms=9_000), 2)
    assert current_id(change.state) == 3
    assert change.state.playback == Playback(False, 0, NOW)


def test_remove_current_last_track_ends_the_queue() -> None:
    change = remove(make_state(current=2, playing=True), 3)
    assert change.state.current_index == 2 == len(change.state.tracks)
    assert change.state.playback == Playback(False, 0, NOW)
    assert change.events[1] == {
        "type": "index_changed",
        "index": 2,
        "track_id": None,
        "cause": "queue_end",
        "queue_ended": True,
        "playback": {"is_playing": False, "position_ms": 0, "server_time_ms": NOW},
        "ends_at_ms": None,
    }
    assert len(change.events) == 2


def test_remove_current_track_clears_its_votes() -> None:
    change = remove(make_state(current=0, votes=frozenset({"u2"})), 1)
    assert change.state.votes == frozenset()
    assert types_of(change)[-1] == "index_changed"  # a new track has no votes: no votes_changed


def test_remove_track_after_the_queue_ended_keeps_nothing_current() -> None:
    change = remove(make_state(current=3), 2)
    assert change.state.current_index == 2 == len(change.state.tracks)
    assert change.events[1] == {
        "type": "index_changed",
        "index": 2,
        "track_id": None,
        "cause": "removed",
        "queue_ended": True,
    }


def test_remove_track_member_cannot_remove_others_tracks() -> None:
    with pytest.raises(RoomError) as exc:
        remove(make_state(), 2, by="u1", admin=False)
    assert exc.value.code == "forbidden"


def test_remove_track_member_can_remove_own_track() -> None:
    assert ids_of(remove(make_state(), 2, by="u2", admin=False).state) == [1, 3]


def test_remove_track_host_can_remove_any_track() -> None:
    assert ids_of(remove(make_state(), 3, by="someone", admin=True).state) == [1, 2]


def test_remove_track_unknown_id_is_track_not_found() -> None:
    with pytest.raises(RoomError) as exc:
        remove(make_state(), 42)
    assert exc.value.code == "track_not_found"


# -- move ---------------------------------------------------------------------------------------


def test_move_track_to_the_front() -> None:
    change = rooms.move_track(make_state((1, 2, 3, 4), current=0), 3, None)
    assert ids_of(change.state) == [3, 1, 2, 4]
    assert change.events[0] == {"type": "track_moved", "track_id": 3, "after_track_id": None, "index": 0}


def test_move_track_after_another_track() -> None:
    state = make_state((1, 2, 3, 4), current=3)
    change = rooms.move_track(state, 1, 3)
    assert ids_of(change.state) == [2, 3, 1, 4]
    assert change.events == [{"type": "track_moved", "track_id": 1, "after_track_id": 3, "index": 2}]
    assert change.state.version == state.version + 1


def test_move_track_across_the_current_track_keeps_it_current() -> None:
    state = make_state((1, 2, 3, 4), current=1, playing=True)
    change = rooms.move_track(state, 4, None)
    assert ids_of(change.state) == [4, 1, 2, 3]
    assert current_id(change.state) == 2
    assert change.state.playback == state.playback
    assert change.events[1] == {
        "type": "index_changed",
        "index": 2,
        "track_id": 2,
        "cause": "moved",
        "queue_ended": False,
    }


def test_move_track_the_current_track_itself_stays_current() -> None:
    change = rooms.move_track(make_state((1, 2, 3, 4), current=0), 1, 4)
    assert ids_of(change.state) == [2, 3, 4, 1]
    assert current_id(change.state) == 1
    assert change.events[1] == {
        "type": "index_changed",
        "index": 3,
        "track_id": 1,
        "cause": "moved",
        "queue_ended": False,
    }


def test_move_track_after_queue_ended_keeps_nothing_current() -> None:
    change = rooms.move_track(make_state(current=3), 3, None)
    assert change.state.current_index == 3
    assert types_of(change) == ["track_moved"]


def test_move_track_to_where_it_is_is_a_noop() -> None:
    state = make_state()
    assert_noop(state, rooms.move_track(state, 2, 1))
    assert_noop(state, rooms.move_track(state, 1, None))
    assert_noop(state, rooms.move_track(state, 2, 2))


@pytest.mark.parametrize(("track_id", "after"), [(42, None), (1, 42)])
def test_move_track_unknown_ids_are_track_not_found(track_id: int, after: int | None) -> None:
    with pytest.raises(RoomError) as exc:
        rooms.move_track(make_state(), track_id, after)
    assert exc.value.code == "track_not_found"


# -- skip, previous, jump -----------------------------------------------------------------------


def test_skip_with_a_stale_expected_track_is_refused() -> None:
    with pytest.raises(RoomError) as exc:
        rooms.skip(make_state(current=1), 1, now_ms=NOW, lead_ms=LEAD)
    assert exc.value.code == "stale_track"


def test_skip_two_hosts_at_once_exactly_one_wins() -> None:
    state = make_state(current=0, playing=True)
    first = rooms.skip(state, 1, now_ms=NOW, lead_ms=LEAD)
    with pytest.raises(RoomError) as exc:
        rooms.skip(first.state, 1, now_ms=NOW, lead_ms=LEAD)
    assert exc.value.code == "stale_track"
    assert current_id(first.state) == 2


def test_skip_while_playing_starts_the_next_track_scheduled() -> None:
    state = make_state(current=0, playing=True, position_ms=30_000, server_time_ms=NOW - 10_000)
    change = rooms.skip(state, 1, now_ms=NOW, lead_ms=LEAD)
    assert change.state.current_index == 1
    assert change.state.playback == Playback(True, 0, NOW + LEAD)
    assert change.state.version == state.version + 1
    assert change.events == [  # one frame per skip
        {
            "type": "index_changed",
            "index": 1,
            "track_id": 2,
            "cause": "host",
            "queue_ended": False,
            "playback": rooms.playback_to_dict(Playback(True, 0, NOW + LEAD)),
            "ends_at_ms": NOW + LEAD + 180_000,
        },
    ]


def test_skip_while_paused_stays_paused_at_zero() -> None:
    change = rooms.skip(make_state(current=0, position_ms=5_000), 1, now_ms=NOW, lead_ms=LEAD)
    assert change.state.playback == Playback(False, 0, NOW)


def test_skip_the_last_track_ends_the_queue_paused() -> None:
    change = rooms.skip(make_state(current=2, playing=True), 3, now_ms=NOW, lead_ms=LEAD)
    assert change.state.current_index == 3
    assert change.state.current_track is None
    assert change.state.playback == Playback(False, 0, NOW)
    assert change.events[0] == {
        "type": "index_changed",
        "index": 3,
        "track_id": None,
        "cause": "queue_end",
        "queue_ended": True,
        "playback": {"is_playing": False, "position_ms": 0, "server_time_ms": NOW},
        "ends_at_ms": None,
    }
    assert len(change.events) == 1


def test_skip_after_the_queue_ended_is_stale() -> None:
    with pytest.raises(RoomError) as exc:
        rooms.skip(make_state(current=3), 3, now_ms=NOW, lead_ms=LEAD)
    assert exc.value.code == "stale_track"


def test_skip_expecting_nothing_current_never_runs_past_the_end() -> None:
    """Defensive: the type says int, but an untyped caller passing None must not break the index."""
    with pytest.raises(RoomError) as exc:
        rooms.skip(make_state(current=3), None, now_ms=NOW, lead_ms=LEAD)  # type: ignore[arg-type]
    assert exc.value.code == "stale_track"


def test_skip_clears_votes_and_says_so() -> None:
    change = rooms.skip(make_state(votes=frozenset({"u1", "u2"})), 1, now_ms=NOW, lead_ms=LEAD)
    assert change.state.votes == frozenset()
    assert types_of(change)[-1] == "index_changed"  # a new track has no votes: no votes_changed


def test_previous_goes_back_one_track() -> None:
    change = rooms.previous(make_state(current=2, playing=True), 3, now_ms=NOW, lead_ms=LEAD)
    assert current_id(change.state) == 2
    assert change.state.playback == Playback(True, 0, NOW + LEAD)
    assert types_of(change) == ["index_changed"]


def test_previous_at_the_first_track_restarts_it() -> None:
    state = make_state(current=0, position_ms=50_000, votes=frozenset({"u3"}))
    change = rooms.previous(state, 1, now_ms=NOW, lead_ms=LEAD)
    assert change.state.current_index == 0
    assert change.state.playback == Playback(False, 0, NOW)
    assert change.state.version == state.version  # same list, same index
    assert change.state.votes == state.votes  # still the same track to vote on
    assert types_of(change) == ["playback_changed"]


def test_previous_from_the_ended_queue_goes_to_the_last_track() -> None:
    change = rooms.previous(make_state(current=3), None, now_ms=NOW, lead_ms=LEAD)
    assert current_id(change.state) == 3
    assert change.state.playback == Playback(False, 0, NOW)


def test_previous_with_a_stale_expected_track_is_refused() -> None:
    with pytest.raises(RoomError) as exc:
        rooms.previous(make_state(current=1), None, now_ms=NOW, lead_ms=LEAD)
    assert exc.value.code == "stale_track"


def test_previous_on_an_empty_playlist_has_nothing_to_play() -> None:
    with pytest.raises(RoomError) as exc:
        rooms.previous(make_state(()), None, now_ms=NOW, lead_ms=LEAD)
    assert exc.value.code == "nothing_to_play"


def test_jump_makes_the_track_current_from_zero() -> None:
    state = make_state(current=0, playing=True, position_ms=1_000)
    change = rooms.jump(state, 3, now_ms=NOW, lead_ms=LEAD)
    assert current_id(change.state) == 3
    assert change.state.playback == Playback(True, 0, NOW + LEAD)
    assert change.state.version == state.version + 1


def test_jump_to_the_current_track_restarts_it() -> None:
    change = rooms.jump(make_state(current=1, position_ms=7_000), 2, now_ms=NOW, lead_ms=LEAD)
    assert change.state.current_index == 1
    assert change.state.playback.position_ms == 0
    assert types_of(change) == ["playback_changed"]


def test_jump_unknown_track_is_track_not_found() -> None:
    with pytest.raises(RoomError) as exc:
        rooms.jump(make_state(), 99, now_ms=NOW, lead_ms=LEAD)
    assert exc.value.code == "track_not_found"


# -- play, pause, seek --------------------------------------------------------------------------


def test_play_with_nothing_current_has_nothing_to_play() -> None:
    for state in (make_state(()), make_state(current=3)):
        with pytest.raises(RoomError) as exc:
            rooms.play(state, now_ms=NOW, lead_ms=LEAD)
        assert exc.value.code == "nothing_to_play"


def test_play_schedules_the_start_from_the_paused_position() -> None:
    state = make_state(position_ms=12_000, server_time_ms=NOW - 99_000)
    change = rooms.play(state, now_ms=NOW, lead_ms=LEAD)
    assert change.state.playback == Playback(True, 12_000, NOW + LEAD)
    assert change.events == [
        {
            "type": "playback_changed",
            "playback": rooms.playback_to_dict(change.state.playback),
            "track_id": 1,
            "ends_at_ms": NOW + LEAD + 180_000 - 12_000,
        }
    ]
    assert change.state.version == state.version


def test_play_while_playing_is_a_noop() -> None:
    state = make_state(playing=True)
    assert_noop(state, rooms.play(state, now_ms=NOW, lead_ms=LEAD))


def test_play_paused_at_the_very_end_restarts_the_track() -> None:
    change = rooms.play(make_state(position_ms=180_000), now_ms=NOW, lead_ms=LEAD)
    assert change.state.playback == Playback(True, 0, NOW + LEAD, prior=Playback(False, 180_000, NOW))


def test_pause_without_lead_freezes_the_current_position() -> None:
    state = make_state(playing=True, position_ms=1_000, server_time_ms=NOW - 4_000)
    change = rooms.pause(state, now_ms=NOW, lead_ms=0)
    assert change.state.playback == Playback(False, 5_000, NOW)
    assert types_of(change) == ["playback_changed"]


def test_pause_is_scheduled_like_a_start_and_keeps_playing_until_then() -> None:
    state = make_state(playing=True, position_ms=1_000, server_time_ms=NOW - 4_000)
    playback = rooms.pause(state, now_ms=NOW, lead_ms=LEAD).state.playback
    # Every phone stops at NOW + LEAD, all at the position the room reaches then.
    assert playback == Playback(False, 5_000 + LEAD, NOW + LEAD, prior=Playback(True, 1_000, NOW - 4_000))
    assert playback.position_at(NOW, 180_000) == 5_000  # still playing now
    assert playback.position_at(NOW + LEAD - 1, 180_000) == 5_000 + LEAD - 1
    assert playback.position_at(NOW + 60_000, 180_000) == 5_000 + LEAD  # then frozen
    assert playback.playing_at(NOW) and not playback.playing_at(NOW + LEAD)


def test_pause_before_a_scheduled_start_stops_at_the_start_position() -> None:
    state = make_state(playing=True, position_ms=2_000, server_time_ms=NOW + LEAD)
    playback = rooms.pause(state, now_ms=NOW, lead_ms=LEAD // 2).state.playback
    # Never before the change already scheduled: the start at NOW + LEAD is replaced by the pause.
    assert playback == Playback(False, 2_000, NOW + LEAD)
    assert playback.position_at(NOW, 180_000) == 2_000


def test_pause_near_the_end_stops_at_the_end() -> None:
    state = make_state(playing=True, position_ms=179_900, server_time_ms=NOW)
    assert rooms.pause(state, now_ms=NOW, lead_ms=LEAD).state.playback.position_ms == 180_000


def test_play_before_a_scheduled_pause_cancels_it_seamlessly() -> None:
    playing = make_state(playing=True, position_ms=1_000, server_time_ms=NOW - 4_000)
    paused = rooms.pause(playing, now_ms=NOW, lead_ms=LEAD).state
    resumed = rooms.play(paused, now_ms=NOW + 10, lead_ms=LEAD // 2).state.playback
    # Resumed at the pause's own instant and position: the room never stops.
    assert resumed.server_time_ms == NOW + LEAD and resumed.is_playing
    for t in (NOW, NOW + LEAD, NOW + 5_000):
        assert resumed.position_at(t, 180_000) == playing.playback.position_at(t, 180_000)


def test_pause_while_paused_or_ended_is_a_noop() -> None:
    for state in (make_state(), make_state(current=3)):
        assert_noop(state, rooms.pause(state, now_ms=NOW, lead_ms=LEAD))


@pytest.mark.parametrize("position", [-1, 180_001, 2**53])
def test_seek_outside_the_track_is_bad_position(position: int) -> None:
    with pytest.raises(RoomError) as exc:
        rooms.seek(make_state(), position, now_ms=NOW, lead_ms=LEAD)
    assert exc.value.code == "bad_position"


def test_seek_while_playing_jumps_at_a_scheduled_instant_and_plays_on_until_then() -> None:
    state = make_state(playing=True, position_ms=0, server_time_ms=NOW - 10_000)
    playback = rooms.seek(state, 90_000, now_ms=NOW, lead_ms=LEAD).state.playback
    assert playback == Playback(True, 90_000, NOW + LEAD, prior=Playback(True, 0, NOW - 10_000))
    assert playback.position_at(NOW + LEAD - 1, 180_000) == 10_000 + LEAD - 1  # the old clock runs on
    assert playback.position_at(NOW + LEAD, 180_000) == 90_000
    assert playback.position_at(NOW + LEAD + 500, 180_000) == 90_500


def test_seek_to_the_end_while_playing_is_allowed() -> None:
    change = rooms.seek(make_state(playing=True), 180_000, now_ms=NOW, lead_ms=LEAD)
    assert change.state.playback.clock == Clock(True, 180_000, NOW + LEAD)


def test_seek_while_paused_stays_paused() -> None:
    change = rooms.seek(make_state(), 5_000, now_ms=NOW, lead_ms=LEAD)
    assert change.state.playback == Playback(False, 5_000, NOW)
    assert types_of(change) == ["playback_changed"]


def test_seek_to_where_a_paused_track_already_is_is_a_noop() -> None:
    state = make_state(position_ms=5_000)
    assert_noop(state, rooms.seek(state, 5_000, now_ms=NOW, lead_ms=LEAD))


def test_previous_restart_of_a_track_paused_at_zero_is_a_noop() -> None:
    state = make_state(current=0)
    assert_noop(state, rooms.previous(state, 1, now_ms=NOW, lead_ms=LEAD))


def test_seek_with_nothing_current_has_nothing_to_play() -> None:
    with pytest.raises(RoomError) as exc:
        rooms.seek(make_state(current=3), 0, now_ms=NOW, lead_ms=LEAD)
    assert exc.value.code == "nothing_to_play"


# -- votes --------------------------------------------------------------------------------------


def vote(state: LiveState, user: str, track_id: int = 1, *, present: int = 4, ratio: float = 0.5) -> Change:
    return rooms.vote_skip(state, user, track_id, present_users=present, ratio=ratio, now_ms=NOW, lead_ms=LEAD)


@pytest.mark.parametrize(
    ("present", "ratio", "needed"),
    [(0, 0.5, 1), (1, 0.5, 1), (2, 0.5, 2), (3, 0.5, 2), (4, 0.5, 3), (5, 0.5, 3), (4, 0.0, 1), (4, 1.0, 5)],
)
def test_needed_votes_is_more_than_the_ratio(present: int, ratio: float, needed: int) -> None:
    assert rooms.needed_votes(present, ratio) == needed


@pytest.mark.parametrize("ratio", [-0.1, 1.5, float("nan")])
def test_needed_votes_refuses_a_ratio_outside_zero_one(ratio: float) -> None:
    with pytest.raises(ValueError):
        rooms.needed_votes(3, ratio)


def test_vote_skip_below_the_threshold_reports_the_count() -> None:
    change = vote(make_state(), "u1")
    assert change.state.votes == {"u1"}
    assert change.state.current_index == 0
    assert change.events == [{"type": "votes_changed", "track_id": 1, "votes": 1, "needed": 3}]
    second = vote(change.state, "u2")
    assert second.events == [{"type": "votes_changed", "track_id": 1, "votes": 2, "needed": 3}]


def test_vote_skip_more_than_half_skips() -> None:
    state = make_state(playing=True, votes=frozenset({"u1", "u2"}))
    change = vote(state, "u3")  # 3 of 4 present > 4 × 0.5
    assert current_id(change.state) == 2
    assert change.state.votes == frozenset()
    assert change.state.playback == Playback(True, 0, NOW + LEAD)
    assert types_of(change) == ["index_changed"]


def test_vote_skip_exactly_half_is_not_enough() -> None:
    change = vote(make_state(votes=frozenset({"u1"})), "u2", present=4)
    assert change.state.current_index == 0


def test_vote_skip_twice_by_the_same_user_is_already_voted() -> None:
    with pytest.raises(RoomError) as exc:
        vote(make_state(votes=frozenset({"u1"})), "u1")
    assert exc.value.code == "already_voted"


def test_vote_skip_for_a_track_that_is_not_current_is_stale() -> None:
    for state, track_id in ((make_state(current=1), 1), (make_state(current=3), 3)):
        with pytest.raises(RoomError) as exc:
            vote(state, "u1", track_id)
        assert exc.value.code == "stale_track"


# -- end of track -------------------------------------------------------------------------------


def test_track_ends_at_ms_counts_from_the_playback_clock() -> None:
    assert rooms.track_ends_at_ms(make_state(playing=True, position_ms=30_000)) == NOW + 150_000
    assert rooms.track_ends_at_ms(make_state(playing=True, server_time_ms=NOW + LEAD)) == NOW + LEAD + 180_000
    assert rooms.track_ends_at_ms(make_state(playing=False)) is None
    assert rooms.track_ends_at_ms(make_state(current=3, playing=True)) is None


def test_advance_if_ended_before_the_end_is_a_noop() -> None:
    state = make_state(playing=True)
    assert_noop(state, rooms.advance_if_ended(state, now_ms=NOW + 179_999, lead_ms=LEAD))


def test_advance_if_ended_advances_exactly_once() -> None:
    state = make_state(playing=True)
    end = NOW + 180_000
    first = rooms.advance_if_ended(state, now_ms=end, lead_ms=LEAD)
    assert current_id(first.state) == 2
    assert first.state.playback == Playback(True, 0, end + LEAD)
    assert first.state.version == state.version + 1
    # A second timer (another process, a retry) at the same moment finds nothing to do.
    assert_noop(first.state, rooms.advance_if_ended(first.state, now_ms=end, lead_ms=LEAD))
    assert_noop(first.state, rooms.advance_if_ended(first.state, now_ms=end + LEAD + 1_000, lead_ms=LEAD))


def test_advance_if_ended_equals_skip_of_the_current_track() -> None:
    state = make_state(current=1, playing=True, votes=frozenset({"u1"}))
    end = NOW + 180_000
    skipped = rooms.skip(state, 2, now_ms=end, lead_ms=LEAD, cause="end")
    assert rooms.advance_if_ended(state, now_ms=end, lead_ms=LEAD) == skipped
    assert skipped.events[0]["cause"] == "end"


def test_advance_if_ended_after_the_last_track_stops_the_room() -> None:
    state = make_state(current=2, playing=True)
    change = rooms.advance_if_ended(state, now_ms=NOW + 200_000, lead_ms=LEAD)
    assert change.state.current_track is None
    assert not change.state.playback.is_playing
    assert_noop(change.state, rooms.advance_if_ended(change.state, now_ms=NOW + 400_000, lead_ms=LEAD))


def test_advance_if_ended_while_paused_is_a_noop() -> None:
    state = make_state(position_ms=180_000)
    assert_noop(state, rooms.advance_if_ended(state, now_ms=NOW + 10**9, lead_ms=LEAD))


# -- rebuild, group -----------------------------------------------------------------------------


def test_rebuild_pauses_at_the_current_track_at_zero_without_votes() -> None:
    state = make_state(current=1, playing=True, position_ms=60_000, votes=frozenset({"u1"}))
    rebuilt = rooms.rebuild(state)
    assert rebuilt.current_index == 1
    assert rebuilt.playback == Playback(False, 0, state.playback.server_time_ms)
    assert rebuilt.votes == frozenset()
    assert rebuilt.tracks == state.tracks and rebuilt.version == state.version


@pytest.mark.parametrize(("index", "expected"), [(-1, 0), (3, 3), (10, 3)])
def test_rebuild_clamps_an_index_that_does_not_fit(index: int, expected: int) -> None:
    assert rooms.rebuild(make_state(current=index)).current_index == expected


def test_update_group_reports_group_changed() -> None:
    state = make_state()
    change = rooms.update_group(state, name="Saturday", is_public=True)
    assert (change.state.name, change.state.is_public) == ("Saturday", True)
    assert change.events == [{"type": "group_changed", "name": "Saturday", "is_public": True}]
    assert change.state.version == state.version
    assert_noop(state, rooms.update_group(state, name="Friday", is_public=False))


# -- model: events are enough for a client to follow the room -----------------------------------


class ClientView:
    """What a phone knows, built only from the events it receives."""

    def __init__(self, state: LiveState) -> None:
        self.tracks = list(ids_of(state))
        self.index = state.current_index
        self.playback = rooms.playback_to_dict(state.playback)
        self.votes = len(state.votes)

    def apply(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind == "track_added":
            self.tracks.insert(event["index"], event["track"]["id"])
        elif kind == "track_removed":
            self.tracks.remove(event["track_id"])
        elif kind == "track_moved":
            self.tracks.remove(event["track_id"])
            self.tracks.insert(event["index"], event["track_id"])
        elif kind == "index_changed":
            self.index = event["index"]
            assert event["track_id"] == (self.tracks[self.index] if self.index < len(self.tracks) else None)
            if "playback" in event:  # the track changed: its playback comes along, its votes are none
                self.playback = event["playback"]
                self.votes = 0
        elif kind == "playback_changed":
            self.playback = event["playback"]
        elif kind == "votes_changed":
            self.votes = event["votes"]

    def matches(self, state: LiveState) -> bool:
        return (self.tracks, self.index, self.playback, self.votes) == (
            ids_of(state),
            state.current_index,
            rooms.playback_to_dict(state.playback),
            len(state.votes),
        )


def apply_op(state: LiveState, op: tuple[Any, ...], now: int) -> Change:
    kind, a, b = op
    ids = ids_of(state) or [1]
    new_id = max(ids) + 1
    pick = ids[a % len(ids)]
    cur = current_id(state)
    ops = {
        "add": lambda: rooms.add_track(state, make_track(new_id, by=f"u{a % 3}"), max_queue=8, by=HOST),
        "remove": lambda: remove(state, pick, by=f"u{b % 3}", admin=b % 2 == 0),
        "move": lambda: rooms.move_track(state, pick, None if b % 4 == 0 else ids[b % len(ids)]),
        "skip": lambda: rooms.skip(state, cur if b % 5 and cur is not None else pick, now_ms=now, lead_ms=LEAD),
        "previous": lambda: rooms.previous(state, cur, now_ms=now, lead_ms=LEAD),
        "jump": lambda: rooms.jump(state, pick, now_ms=now, lead_ms=LEAD),
        "play": lambda: rooms.play(state, now_ms=now, lead_ms=LEAD),
        "pause": lambda: rooms.pause(state, now_ms=now, lead_ms=LEAD),
        "seek": lambda: rooms.seek(state, a * 1000, now_ms=now, lead_ms=LEAD),
        "vote": lambda: vote(state, f"u{b % 4}", cur or pick, present=3),
        "tick": lambda: rooms.advance_if_ended(state, now_ms=now, lead_ms=LEAD),
    }
    return ops[kind]()


OPS = st.tuples(
    st.sampled_from(["add", "remove", "move", "skip", "previous", "jump", "play", "pause", "seek", "vote", "tick"]),
    st.integers(0, 200),
    st.integers(0, 20),
)


@settings(max_examples=300, deadline=None)
@given(ops=st.lists(OPS, max_size=40), steps=st.lists(st.integers(0, 120_000), min_size=40, max_size=40))
def test_transitions_keep_invariants_and_events_replay_to_the_same_state(
    ops: list[tuple[Any, ...]], steps: list[int]
) -> None:
    state = make_state((1, 2), current=0)
    view = ClientView(state)
    now = NOW
    for op, step in zip(ops, steps, strict=False):
        now += step
        try:
            change = apply_op(state, op, now)
        except RoomError as exc:
            assert exc.code in rooms.ERROR_CODES
            continue
        before, state = state, change.state
        for event in change.events:
            view.apply(event)
        assert view.matches(state)
        assert 0 <= state.current_index <= len(state.tracks)
        assert len(set(ids_of(state))) == len(state.tracks)
        if state.current_track is None:
            assert state.playback.is_playing is False and state.playback.position_ms == 0
        moved = ids_of(before) != ids_of(state) or before.current_index != state.current_index
        assert state.version == before.version + (1 if moved or current_id(before) != current_id(state) else 0)
        assert (change.events == []) == (state == before)
        assert_events_carry_the_track_end(before, change)


def assert_events_carry_the_track_end(before: LiveState, change: Change) -> None:
    """The track-end timers arm from the last event with a playback: it must hold the change's end,
    and a change without one must leave the end where it was."""
    ends = [e["ends_at_ms"] for e in change.events if "ends_at_ms" in e]
    expected = rooms.track_ends_at_ms(change.state)
    if ends:
        assert ends[-1] == expected
    else:
        assert expected == rooms.track_ends_at_ms(before)


@settings(max_examples=200, deadline=None)
@given(ops=st.lists(OPS, max_size=30), steps=st.lists(st.integers(0, 120_000), min_size=30, max_size=30))
def test_transitions_restamped_carry_the_track_end_in_their_last_playback_event(
    ops: list[tuple[Any, ...]], steps: list[int]
) -> None:
    state, now = make_state((1, 2), current=0), NOW
    for op, step in zip(ops, steps, strict=False):
        now += step
        try:
            change = rooms.restamp(state, apply_op(state, op, now), now_ms=now + 50, lead_ms=LEAD)
        except RoomError:
            continue
        assert_events_carry_the_track_end(state, change)
        state = change.state


# -- scheduling: prior clocks, track ends, restamping ----------------------------------------------


def test_playback_without_prior_holds_its_position_until_its_instant() -> None:
    playback = Playback(True, 4_000, NOW + LEAD)
    assert playback.clock_at(NOW) == Clock(False, 4_000, NOW + LEAD)
    assert playback.position_at(NOW - 10_000, 180_000) == 4_000


def test_track_ends_at_a_pending_pause_only_when_the_track_ends_first() -> None:
    state = make_state(playing=True, position_ms=179_000, server_time_ms=NOW)
    paused = rooms.pause(state, now_ms=NOW, lead_ms=2_000).state
    assert rooms.track_ends_at_ms(paused) == NOW + 1_000  # the track ends before the pause lands
    assert rooms.advance_if_ended(paused, now_ms=NOW + 1_000, lead_ms=LEAD).state.current_index == 1
    early = rooms.pause(make_state(playing=True, server_time_ms=NOW), now_ms=NOW, lead_ms=LEAD).state
    assert rooms.track_ends_at_ms(early) is None


def test_track_ends_at_follows_a_scheduled_seek() -> None:
    state = make_state(playing=True, position_ms=0, server_time_ms=NOW)
    seeked = rooms.seek(state, 170_000, now_ms=NOW, lead_ms=LEAD).state
    assert rooms.track_ends_at_ms(seeked) == NOW + LEAD + 10_000


def test_restamp_moves_a_track_start_to_after_the_durable_write() -> None:
    state = make_state(playing=True, server_time_ms=NOW - 1_000)
    change = rooms.skip(state, 1, now_ms=NOW, lead_ms=LEAD)
    late = rooms.restamp(state, change, now_ms=NOW + 88, lead_ms=LEAD)  # the SQL commit took 88 ms
    assert late.state.playback == Playback(True, 0, NOW + 88 + LEAD)
    assert [e for e in late.events if "playback" in e] == [
        {
            "type": "index_changed",
            "index": 1,
            "track_id": 2,
            "cause": "host",
            "queue_ended": False,
            "playback": rooms.playback_to_dict(late.state.playback),
            "ends_at_ms": NOW + 88 + LEAD + 180_000,
        }
    ]
    assert types_of(late) == types_of(change) and late.state.current_index == change.state.current_index


def test_restamp_rebuilds_only_the_events_that_carry_the_final_playback() -> None:
    state = make_state(playing=True, server_time_ms=NOW - 1_000)
    change = rooms.skip(state, 1, now_ms=NOW, lead_ms=LEAD)
    earlier = {"type": "playback_changed", "track_id": 1, "playback": rooms.playback_to_dict(state.playback)}
    change = Change(change.state, [earlier, *change.events], change.played)
    late = rooms.restamp(state, change, now_ms=NOW + 88, lead_ms=LEAD)
    assert late.events[0] == earlier
    assert late.events[1]["playback"] == rooms.playback_to_dict(late.state.playback)
    assert late.events[1]["playback"]["server_time_ms"] == NOW + 88 + LEAD


def test_restamp_leaves_changes_without_a_new_start_alone() -> None:
    state = make_state(playing=True, server_time_ms=NOW - 1_000)
    for change in (
        rooms.move_track(state, 3, None),
        rooms.pause(state, now_ms=NOW, lead_ms=LEAD),
        Change(state, []),
    ):
        assert rooms.restamp(state, change, now_ms=NOW + 50, lead_ms=LEAD) is change


def test_restamp_of_a_paused_switch_takes_the_later_instant() -> None:
    state = make_state(position_ms=9_000, server_time_ms=NOW - 5_000)
    change = rooms.skip(state, 1, now_ms=NOW, lead_ms=LEAD)
    assert rooms.restamp(state, change, now_ms=NOW + 30, lead_ms=LEAD).state.playback == Playback(False, 0, NOW + 30)


@settings(max_examples=200, deadline=None)
@given(
    ops=st.lists(st.tuples(st.sampled_from(["play", "pause", "seek"]), st.integers(0, 179), st.integers(0, 3_000))),
    leads=st.lists(st.integers(0, 3_000), min_size=20, max_size=20),
)
def test_scheduled_changes_never_move_the_room_before_their_instant(
    ops: list[tuple[str, int, int]], leads: list[int]
) -> None:
    """Whatever the hosts press and whatever the leads: up to a change's instant the room is where
    it was before the change; from it on, where the change says."""
    state = make_state(playing=True, server_time_ms=NOW)
    now = NOW
    for (kind, second, step), lead in zip(ops, leads, strict=False):
        now += step
        if kind == "play":
            change = rooms.play(state, now_ms=now, lead_ms=lead)
        elif kind == "pause":
            change = rooms.pause(state, now_ms=now, lead_ms=lead)
        else:
            change = rooms.seek(state, second * 1000, now_ms=now, lead_ms=lead)
        new = change.state.playback
        assert new.server_time_ms >= state.playback.server_time_ms  # phones apply changes in order
        for t in (now, (now + new.server_time_ms) // 2, new.server_time_ms - 1):
            if now <= t < new.server_time_ms:
                assert new.position_at(t, 180_000) == state.playback.position_at(t, 180_000)
        state = change.state


# -- listening mode, speakers, Spotify followers ------------------------------------------------


def test_listening_mode_changes_with_an_event_and_twice_is_a_noop() -> None:
    state = make_state()
    change = rooms.set_listening_mode(state, rooms.SPEAKER)
    assert change.state.listening_mode == "speaker"
    assert change.events == [{"type": "listening_mode_changed", "listening_mode": "speaker"}]
    assert_noop(change.state, rooms.set_listening_mode(change.state, "speaker"))
    with pytest.raises(ValueError):
        rooms.set_listening_mode(state, "loud")


def test_speakers_are_marked_once_sorted_and_bounded() -> None:
    state = make_state()
    for key in ("b" * 32, "a" * 32, "b" * 32):
        state = rooms.mark_speaker(state, Speaker(key, "u1", "Maya")).state
    assert [s.device_key for s in state.speakers] == ["a" * 32, "b" * 32]
    change = rooms.unmark_speaker(state, "a" * 32)
    assert change.events == [{"type": "speakers_changed", "speakers": [rooms.speaker_to_dict(state.speakers[1])]}]
    with pytest.raises(RoomError) as missing:
        rooms.unmark_speaker(change.state, "a" * 32)
    assert missing.value.code == "speaker_not_found"
    for n in range(rooms.MAX_SPEAKERS - 2):
        state = rooms.mark_speaker(state, Speaker(f"{n:032x}", "u1", "Maya")).state
    with pytest.raises(RoomError) as full:
        rooms.mark_speaker(state, Speaker("f" * 32, "u1", "Maya"))
    assert full.value.code == "too_many_speakers"


def test_follow_is_per_member_and_an_opt_out_may_carry_a_notice() -> None:
    state = make_state()
    on = rooms.set_follow(state, "u1", True)
    assert on.state.followers == {"u1"}
    assert on.events == [{"type": "follow_changed", "user_id": "u1", "following": True}]
    assert_noop(on.state, rooms.set_follow(on.state, "u1", True))
    off = rooms.set_follow(on.state, "u1", False, notice="n1")
    assert off.state.followers == frozenset()
    assert off.events == [{"type": "follow_changed", "user_id": "u1", "following": False, "notice": "n1"}]


def test_encode_state_keeps_prior_mode_speakers_and_followers() -> None:
    state = replace(
        make_state(playing=True),
        playback=Playback(False, 5_000, NOW + LEAD, prior=Playback(True, 1_000, NOW - 4_000)),
        listening_mode="speaker",
        speakers=(Speaker("a" * 32, "u1", "Maya"),),
        followers=frozenset({"u2"}),
    )
    assert rooms.decode_state(rooms.encode_state(state)) == state


def test_decode_state_refuses_the_previous_format() -> None:
    old = rooms.encode_state(make_state()).replace(b'"format":3', b'"format":2')
    with pytest.raises(ValueError):
        rooms.decode_state(old)


def test_vote_skip_that_passes_says_vote_even_at_the_end_of_the_queue() -> None:
    middle = rooms.vote_skip(make_state(current=1), "u2", 2, present_users=1, ratio=0.5, now_ms=NOW, lead_ms=LEAD)
    assert [e.get("cause") for e in middle.events] == ["vote"]
    last = rooms.vote_skip(make_state(current=2), "u2", 3, present_users=1, ratio=0.5, now_ms=NOW, lead_ms=LEAD)
    assert last.events[0]["cause"] == "vote" and last.events[0]["queue_ended"] is True  # and the queue ran out


def test_track_end_of_the_last_track_is_queue_end() -> None:
    state = make_state(current=2, playing=True)
    change = rooms.advance_if_ended(state, now_ms=NOW + 180_000, lead_ms=LEAD)
    assert [e["cause"] for e in change.events] == ["queue_end"]
    assert rooms.queue_ended(change.state) and not change.state.playback.is_playing


def test_queue_ended_is_false_for_an_empty_room() -> None:
    assert not rooms.queue_ended(make_state(()))
    assert not rooms.queue_ended(make_state(current=2))
    assert rooms.queue_ended(make_state(current=3))


def test_voters_leave_out_the_hosts() -> None:
    present, hosts = ["h", "f"], {"h", "co"}
    assert rooms.voters(present, hosts) == 1
    assert rooms.needed_votes(max(rooms.voters(present, hosts), 1), 0.5) == 1  # the friend's vote passes
    assert rooms.needed_votes(max(rooms.voters(present[:1], hosts), 1), 0.5) == 1
    assert rooms.voters([*present, "g"], hosts) == 2
