"""The failover rules (rooms_server/hosting.py): pure, with the clock passed in."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from rooms_server import hosting
from rooms_server.hosting import Candidate, Hosting

T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
ANN, BOB, CY, DEE = "ann", "bob", "cy", "dee"
# Oldest membership first: Ann hosts, Bob is a member, Cy a co-host who joined later, Dee listens.
MEMBERS = [Candidate(ANN, "admin"), Candidate(BOB, "member"), Candidate(CY, "admin"), Candidate(DEE, "listener")]
ROOM = Hosting(ANN, grace_s=120)


def after(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def away(state: Hosting = ROOM) -> Hosting:
    return replace(state, away_since=T0)


def test_hosting_host_present_changes_nothing() -> None:
    assert hosting.check(ROOM, {ANN, BOB}, MEMBERS, T0) is None


def test_hosting_host_gone_with_others_present_starts_the_grace_period() -> None:
    step = hosting.check(ROOM, {BOB}, MEMBERS, T0)
    assert step is not None and step.hosting == away() and step.cause is None and step.roles == ()


def test_hosting_host_gone_from_an_empty_room_starts_nothing() -> None:
    assert hosting.check(ROOM, set(), MEMBERS, T0) is None
    assert hosting.check(ROOM, {ANN}, MEMBERS, T0) is None


def test_hosting_an_emptied_room_stops_the_grace_period() -> None:
    step = hosting.check(away(), set(), MEMBERS, after(500))
    assert step is not None and step.hosting == ROOM and step.cause is None


def test_hosting_reconnect_within_the_grace_period_never_fails_over() -> None:
    assert hosting.check(away(), {BOB, CY}, MEMBERS, after(119.9)) is None
    back = hosting.check(away(), {ANN, BOB, CY}, MEMBERS, after(119.9))
    assert back is not None and back.hosting == ROOM and back.cause is None
    assert hosting.check(back.hosting, {ANN, BOB, CY}, MEMBERS, after(1000)) is None


def test_hosting_after_the_grace_period_a_present_co_host_takes_over() -> None:
    step = hosting.check(away(), {BOB, CY}, MEMBERS, after(120))
    assert step is not None and step.cause == "failover"
    assert step.hosting == replace(ROOM, host_user_id=CY, away_host_user_id=ANN, stand_in_role="admin")
    assert step.roles == ()  # already an admin


def test_hosting_without_a_co_host_the_member_who_joined_first_takes_over_and_is_promoted() -> None:
    step = hosting.check(away(), {DEE, BOB}, MEMBERS, after(120))
    assert step is not None and step.cause == "failover" and step.hosting.host_user_id == BOB
    assert step.roles == ((BOB, "admin"),) and step.hosting.stand_in_role == "member"


def test_hosting_listeners_never_take_over_and_a_closed_room_waits() -> None:
    assert hosting.check(away(), {DEE}, MEMBERS, after(1000)) is None
    closed = away(replace(ROOM, failover_to_members=False))
    assert hosting.check(closed, {BOB, DEE}, MEMBERS, after(1000)) is None
    assert hosting.check(closed, {BOB, CY}, MEMBERS, after(1000)).hosting.host_user_id == CY  # type: ignore[union-attr]


def test_hosting_grace_zero_never_fails_over() -> None:
    off = replace(ROOM, grace_s=0)
    assert hosting.check(off, {BOB}, MEMBERS, T0) is None
    step = hosting.check(replace(off, away_since=T0), {BOB}, MEMBERS, after(10_000))
    assert step is not None and step.hosting == off and step.cause is None


def _stood_in(on_return: str) -> Hosting:
    failed = hosting.check(away(replace(ROOM, on_return=on_return)), {BOB}, MEMBERS, after(120))
    assert failed is not None
    return failed.hosting


def test_hosting_the_original_host_coming_back_gets_the_room_back_and_the_stand_in_its_role() -> None:
    stood_in = _stood_in("hand_back")
    assert hosting.check(stood_in, {BOB}, MEMBERS, after(200)) is None  # Bob present: settled
    step = hosting.check(stood_in, {ANN, BOB}, [Candidate(ANN, "admin"), Candidate(BOB, "admin")], after(300))
    assert step is not None and step.cause == "handback"
    assert step.hosting == replace(ROOM, on_return="hand_back") and step.roles == ((BOB, "member"),)


def test_hosting_keep_leaves_the_stand_in_host_and_forgets_the_original() -> None:
    stood_in = _stood_in("keep")
    step = hosting.check(stood_in, {ANN, BOB}, MEMBERS, after(300))
    assert step is not None and step.cause == "returned" and step.roles == ()
    assert step.hosting == replace(ROOM, host_user_id=BOB, on_return="keep")


def test_hosting_a_stand_in_away_in_turn_goes_back_to_its_role() -> None:
    stood_in = _stood_in("hand_back")  # Bob, a member, stands in for Ann
    members = [Candidate(ANN, "admin"), Candidate(BOB, "admin"), Candidate(CY, "admin")]
    marked = hosting.check(stood_in, {CY}, members, after(200))
    assert marked is not None and marked.hosting.away_since == after(200)
    step = hosting.check(marked.hosting, {CY}, members, after(320))
    assert step is not None and step.hosting.host_user_id == CY
    assert step.hosting.away_host_user_id == ANN and step.roles == ((BOB, "member"),)


def test_hosting_an_original_host_removed_meanwhile_is_simply_forgotten() -> None:
    stood_in = _stood_in("hand_back")
    step = hosting.check(stood_in, {ANN, BOB}, [Candidate(BOB, "admin")], after(300))
    assert step is not None and step.cause is None and step.hosting.host_user_id == BOB
    assert step.hosting.away_host_user_id is None


def test_hosting_hand_over_promotes_and_forgets_a_failover() -> None:
    stood_in = _stood_in("hand_back")
    step = hosting.hand_over(stood_in, Candidate(DEE, "listener"))
    assert step.cause == "handover" and step.roles == ((DEE, "admin"),)
    assert step.hosting == replace(ROOM, host_user_id=DEE)


def test_hosting_heir_is_a_co_host_then_a_member_then_a_listener() -> None:
    assert hosting.heir(MEMBERS, leaving=ANN) == Candidate(CY, "admin")
    assert hosting.heir(MEMBERS[:2] + MEMBERS[3:], leaving=ANN) == Candidate(BOB, "member")
    assert hosting.heir([MEMBERS[0], MEMBERS[3]], leaving=ANN) == Candidate(DEE, "listener")
    assert hosting.heir(MEMBERS[:1], leaving=ANN) is None


def test_hosting_roles_rank_listener_member_admin() -> None:
    assert hosting.outranks("admin", "member") and hosting.outranks("member", "listener")
    assert not hosting.outranks("member", "member") and not hosting.outranks("listener", "admin")
