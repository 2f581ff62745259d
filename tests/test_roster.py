"""``Roster.pick``: the snapshot's list drawn from a kept roster, or None when it must be read again."""

from __future__ import annotations

from rooms_server.room_state import Member
from rooms_server.roster import Roster

HOSTS = [Member("h1", "Hana", "admin"), Member("h2", "Hugo", "admin")]
OTHERS = [Member(f"m{n}", f"Guest {n}", "member") for n in range(6)]


def ids(members: list[Member] | None) -> list[str] | None:
    return None if members is None else [member.user_id for member in members]


def test_roster_pick_lists_present_hosts_first_then_joining_order() -> None:
    roster = Roster(3, HOSTS, OTHERS, complete=True)
    assert ids(roster.pick({"m4", "h2", "m1", "m2"}, 3)) == ["h2", "m1", "m2"]
    assert ids(roster.pick({"h1", "h2", "m0"}, 1)) == ["h1"]
    assert roster.host_ids == {"h1", "h2"}


def test_roster_pick_a_full_list_ignores_whoever_joined_after_it() -> None:
    roster = Roster(0, HOSTS, OTHERS[:3], complete=False)
    # "new" joined after the read: in joining order after every member kept, so not in a full list.
    assert ids(roster.pick({"m0", "m1", "m2", "new"}, 3)) == ["m0", "m1", "m2"]


def test_roster_pick_reads_again_when_the_members_kept_may_not_be_all() -> None:
    roster = Roster(0, HOSTS, OTHERS[:3], complete=False)
    assert roster.pick({"m0", "m5"}, 3) is None  # m5 is beyond what was read


def test_roster_pick_reads_again_for_someone_present_who_joined_after_it() -> None:
    roster = Roster(0, HOSTS, OTHERS, complete=True)
    assert roster.pick({"h1", "m3", "new"}, 5) is None
    assert ids(roster.pick({"h1", "m3"}, 5)) == ["h1", "m3"]  # everyone present is kept: exact
    # Read in the same transaction as the presence: whoever it lacks is no member (a removed one).
    assert ids(roster.pick({"h1", "m3", "gone"}, 5, fresh=True)) == ["h1", "m3"]


def test_roster_pick_of_nobody_present_is_empty() -> None:
    assert Roster(0, HOSTS, OTHERS, complete=True).pick(set(), 4) == []
    assert Roster(0, [], [], complete=True).pick({"m0"}, 4, fresh=True) == []
