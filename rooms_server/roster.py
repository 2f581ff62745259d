"""The members a snapshot lists, drawn from the roster a process read and kept.

A room socket's snapshot lists up to SNAPSHOT_MEMBERS members present: every host present first,
then the others in joining order (docs/PROTOCOL.md). Reading them from SQL for every snapshot was
a sixth of a join storm's server CPU: 1000 phones joining read the same hundred rows a thousand
times. A ``Roster`` is what one read found (the hosts, and the first members after them in joining
order), kept with the group's ``roster_version``; the next snapshot of an unchanged version picks
from it instead of reading again.

What may change while a roster is kept, and how ``pick`` stays exact:
- a membership changed (role, removal) or a host added: the database moves the version (migration
  0014), and the roster is read again;
- a member joined: they come after every member kept (joining order), so they matter only when
  the kept members do not fill the list — and then they are present but not kept, and ``pick``
  answers None (read again).
Two members joining in the same microsecond are ordered by name; one joining at the instant the
roster was read may then belong before its last kept member and be listed a snapshot late.

Pure: no I/O (the reading is db/queries.py, the keeping presence.py).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from rooms_server.room_state import Member


@dataclass(frozen=True, slots=True)
class Roster:
    version: int  # the group's roster_version when this was read
    hosts: Sequence[Member]  # every host of the group, in joining order
    others: Sequence[Member]  # the first members who are not hosts, in joining order
    complete: bool  # ``others`` held every such member when this was read
    known: frozenset[str] = field(init=False)
    host_ids: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "host_ids", frozenset(member.user_id for member in self.hosts))
        object.__setattr__(self, "known", self.host_ids | {member.user_id for member in self.others})

    def pick(self, present: Collection[str], limit: int, *, fresh: bool = False) -> list[Member] | None:
        """Up to ``limit`` of the ``present``, hosts first, then in joining order; None when a member
        this roster does not hold may belong in the list (read again). ``fresh``: read in the same
        transaction as ``present``, so nobody present is missing from it but non-members."""
        found = [member for member in self.hosts if member.user_id in present][:limit]
        for member in self.others:
            if len(found) >= limit:
                return found
            if member.user_id in present:
                found.append(member)
        if len(found) >= limit:
            return found
        if not self.complete:
            return None  # the members after those kept may be present
        if fresh or all(user_id in self.known for user_id in present):
            return found
        return None  # someone present joined after this was read
