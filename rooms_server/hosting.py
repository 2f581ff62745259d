"""Who hosts a room, and how host rights pass on when the host is away: pure rules, no I/O.

Roles rank ``listener`` < ``member`` < ``admin``. Every room has one **host** (an admin); its other
admins are **co-hosts**, with the same rights except that only the host hands the room over.

Failover (rooms_server/host_watch.py runs it; docs/PROTOCOL.md §9 tells the rules and why):

- The grace period starts when a check finds the host with no socket open while someone else is
  present (``away_since``); the host coming back before it ends clears it, so a reconnect never
  fails over. A room that empties stops the clock.
- When it ends, the room passes to the co-host present who joined first; with none, and when
  the room allows it, to the member present who joined first (seniority, not the age of a socket:
  a phone that reconnected keeps its place). Listeners never take over. The stand-in's former role
  is kept, and the original host is remembered (``away_host_user_id``) and stays a co-host.
- When the original host comes back: ``hand_back`` makes them the host again and returns the
  stand-in to their former role; ``keep`` leaves the stand-in host and only clears the memory.
- A handover by hand, or a host leaving, forgets any failover in progress.

Each step names the state it started from, so a process applies it with one compare-and-set
(db/hosting.py): two processes deciding at once cannot both succeed.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

ADMIN, MEMBER, LISTENER = "admin", "member", "listener"
ROLES = (ADMIN, MEMBER, LISTENER)
ROLE_RANK = {LISTENER: 0, MEMBER: 1, ADMIN: 2}
HAND_BACK, KEEP = "hand_back", "keep"
ON_RETURN = (HAND_BACK, KEEP)
DEFAULT_GRACE_S = 120
MAX_GRACE_S = 3600

# hosting_changed causes: clients branch on them, so they only ever get added.
CAUSES = ("settings", "handover", "left", "failover", "handback", "returned")


def outranks(role: str, other: str) -> bool:
    return ROLE_RANK[role] > ROLE_RANK[other]


@dataclass(frozen=True, slots=True)
class Hosting:
    host_user_id: str | None
    grace_s: int = DEFAULT_GRACE_S  # 0: never fail over
    failover_to_members: bool = True
    on_return: str = HAND_BACK
    away_since: datetime | None = None  # when a check first found the host away with others present
    away_host_user_id: str | None = None  # the original host while a stand-in holds the room
    stand_in_role: str | None = None  # the stand-in's role before it took over


@dataclass(frozen=True, slots=True)
class Candidate:
    """A member of the room, in the order of ``joined_at`` (oldest first) when listed."""

    user_id: str
    role: str


@dataclass(frozen=True, slots=True)
class Step:
    """What a check decided: the new hosting, the role changes it brings, and its cause (None for
    the bookkeeping of ``away_since``, which announces nothing)."""

    hosting: Hosting
    roles: tuple[tuple[str, str], ...] = ()
    cause: str | None = None


def hosting_to_dict(hosting: Hosting) -> dict[str, Any]:
    """The ``hosting`` object of the snapshot, of ``hosting_changed`` and of the HTTP answers."""
    return {
        "host_user_id": hosting.host_user_id,
        "away_host_user_id": hosting.away_host_user_id,
        "grace_s": hosting.grace_s,
        "failover_to_members": hosting.failover_to_members,
        "on_return": hosting.on_return,
    }


def successor(members: Sequence[Candidate], *, leaving: str, allow_members: bool = True) -> Candidate | None:
    """Who takes the room from ``leaving``: the first co-host, else (if allowed) the first member."""
    others = [m for m in members if m.user_id != leaving]
    for wanted in (ADMIN, MEMBER) if allow_members else (ADMIN,):
        for member in others:
            if member.role == wanted:
                return member
    return None


def check(hosting: Hosting, present: Collection[str], members: Sequence[Candidate], now: datetime) -> Step | None:
    """The one step a check takes, or None. ``members`` are the room's, oldest first."""
    away = hosting.away_host_user_id
    if away is not None and away in present:
        return _returned(hosting, away, members)
    host = hosting.host_user_id
    others_present = any(user_id != host for user_id in present)
    if (host is not None and host in present) or not others_present or hosting.grace_s == 0:
        return Step(replace(hosting, away_since=None)) if hosting.away_since is not None else None
    if hosting.away_since is None:
        return Step(replace(hosting, away_since=now))
    if now - hosting.away_since < timedelta(seconds=hosting.grace_s):
        return None
    present_members = [m for m in members if m.user_id in present]
    chosen = successor(present_members, leaving=host or "", allow_members=hosting.failover_to_members)
    return None if chosen is None else _fail_over(hosting, chosen)


def _fail_over(hosting: Hosting, chosen: Candidate) -> Step:
    roles: list[tuple[str, str]] = []
    original = hosting.away_host_user_id or hosting.host_user_id
    if hosting.away_host_user_id is not None and hosting.host_user_id is not None and hosting.stand_in_role:
        # A stand-in who is away in turn goes back to what it was: only one stand-in holds promoted rights.
        if hosting.stand_in_role != ADMIN:
            roles.append((hosting.host_user_id, hosting.stand_in_role))
    if chosen.role != ADMIN:
        roles.append((chosen.user_id, ADMIN))
    new = replace(
        hosting,
        host_user_id=chosen.user_id,
        away_since=None,
        away_host_user_id=original,
        stand_in_role=chosen.role,
    )
    return Step(new, tuple(roles), "failover")


def _returned(hosting: Hosting, original: str, members: Sequence[Candidate]) -> Step:
    cleared = replace(hosting, away_since=None, away_host_user_id=None, stand_in_role=None)
    if not any(m.user_id == original for m in members):
        return Step(cleared)  # removed from the room meanwhile: nothing to hand back
    if hosting.on_return == KEEP or hosting.host_user_id == original:
        return Step(cleared, (), "returned")
    roles: list[tuple[str, str]] = []
    stand_in = hosting.host_user_id
    if stand_in is not None and hosting.stand_in_role is not None and hosting.stand_in_role != ADMIN:
        roles.append((stand_in, hosting.stand_in_role))
    if any(m.user_id == original and m.role != ADMIN for m in members):
        roles.append((original, ADMIN))
    return Step(replace(cleared, host_user_id=original), tuple(roles), "handback")


def hand_over(hosting: Hosting, to: Candidate, *, cause: str = "handover") -> Step:
    """The host gives the room to ``to`` (promoted to admin if needed); any failover is forgotten.
    ``cause`` is ``left`` when the host is leaving the room."""
    roles = ((to.user_id, ADMIN),) if to.role != ADMIN else ()
    new = replace(hosting, host_user_id=to.user_id, away_since=None, away_host_user_id=None, stand_in_role=None)
    return Step(new, roles, cause)


def heir(members: Sequence[Candidate], *, leaving: str) -> Candidate | None:
    """Who a leaving host's room goes to when they name nobody: the first co-host, else the first
    member, else the first listener (a room is never left without a host while anyone is in it)."""
    return successor(members, leaving=leaving) or next((m for m in members if m.user_id != leaving), None)
