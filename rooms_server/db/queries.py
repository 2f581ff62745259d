"""Queries on groups, memberships and playlists. Each takes a session and does one thing;
the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Any, NamedTuple

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from rooms_server.auth import new_id
from rooms_server.db.models import (
    ChatMessage,
    CommandResult,
    Group,
    GroupQR,
    GroupSpeaker,
    InviteLink,
    Membership,
    PlaybackHistory,
    Playlist,
    Track,
    User,
    utcnow,
)
from rooms_server.db.prepared import Prepared
from rooms_server.db.session import Transaction
from rooms_server.room_state import Member
from rooms_server.roster import Roster

ADMIN = "admin"
MEMBER = "member"
LISTENER = "listener"


async def create_group(
    session: AsyncSession, name: str, is_public: bool, creator_id: str, listening_mode: str = "everyone"
) -> Group:
    """The group, its playlist and the creator's admin membership, in the caller's transaction."""
    group = Group(id=new_id(), name=name, is_public=is_public, listening_mode=listening_mode, host_user_id=creator_id)
    session.add(group)
    await session.flush()
    session.add(Playlist(id=new_id(), group_id=group.id, current_track_index=0, version=0))
    session.add(Membership(id=new_id(), user_id=creator_id, group_id=group.id, joined_at=utcnow(), role=ADMIN))
    await session.flush()
    return group


async def get_group(session: AsyncSession, group_id: str) -> Group | None:
    return await session.get(Group, group_id)


async def group_name_taken(session: AsyncSession, name: str, *, except_id: str | None = None) -> bool:
    query = select(Group.id).where(Group.name == name)
    if except_id is not None:
        query = query.where(Group.id != except_id)
    return (await session.execute(query.limit(1))).first() is not None


async def update_group(session: AsyncSession, group: Group, *, name: str | None, is_public: bool | None) -> None:
    """Rename and/or change the visibility of ``group`` (the fields left None are kept)."""
    group.name = name if name is not None else group.name
    group.is_public = is_public if is_public is not None else group.is_public
    await session.flush()


async def delete_group(session: AsyncSession, group_id: str) -> None:
    """Everything of the group goes: tracks, playlist, memberships, invites, speakers, chat,
    playback history, remembered command answers, then the group."""
    playlist_ids = select(Playlist.id).where(Playlist.group_id == group_id).scalar_subquery()
    await session.execute(delete(Track).where(Track.playlist_id.in_(playlist_ids)))
    await session.execute(delete(Playlist).where(Playlist.group_id == group_id))
    await session.execute(delete(Membership).where(Membership.group_id == group_id))
    await session.execute(delete(GroupQR).where(GroupQR.group_id == group_id))
    await session.execute(delete(InviteLink).where(InviteLink.group_id == group_id))
    await session.execute(delete(GroupSpeaker).where(GroupSpeaker.group_id == group_id))
    await session.execute(delete(ChatMessage).where(ChatMessage.group_id == group_id))
    await session.execute(delete(PlaybackHistory).where(PlaybackHistory.group_id == group_id))
    await session.execute(delete(CommandResult).where(CommandResult.group_id == group_id))
    await session.execute(delete(Group).where(Group.id == group_id))


async def list_public_groups(
    session: AsyncSession, search: str | None, limit: int, offset: int
) -> tuple[list[tuple[Group, int]], int]:
    """Public groups by name (case-insensitive substring search), with member counts, and the total."""
    where = [Group.is_public.is_(True)]
    if search:
        escaped = search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.append(func.lower(Group.name).like(f"%{escaped}%", escape="\\"))
    total = (await session.execute(select(func.count()).select_from(Group).where(*where))).scalar_one()
    members = select(Membership.group_id, func.count().label("n")).group_by(Membership.group_id).subquery()
    query = (
        select(Group, func.coalesce(members.c.n, 0))
        .outerjoin(members, members.c.group_id == Group.id)
        .where(*where)
        .order_by(Group.name, Group.id)
        .limit(limit)
        .offset(offset)
    )
    return [(group, int(count)) for group, count in (await session.execute(query)).all()], int(total)


async def membership(session: AsyncSession, group_id: str, user_id: str) -> Membership | None:
    query = select(Membership).where(Membership.group_id == group_id, Membership.user_id == user_id)
    return (await session.execute(query)).scalar_one_or_none()


async def role_in(session: Transaction, group_id: str, user_id: str) -> str | None:
    """The user's role in the group; None when not a member."""
    role: str | None = await _ROLE_IN.scalar(session, group_id=group_id, user_id=user_id)
    return role


async def insert_member(session: Transaction, group_id: str, user_id: str, role: str) -> Membership:
    """A new membership (a Conflict when there is one already); the object is not in the session."""
    row = Membership(id=new_id(), user_id=user_id, group_id=group_id, joined_at=utcnow(), role=role)
    await _INSERT_MEMBER.run(session, id=row.id, group_id=group_id, user_id=user_id, now=row.joined_at, role=role)
    return row


async def add_member(session: AsyncSession, group_id: str, user_id: str, role: str = MEMBER) -> Membership:
    """Idempotent: an existing membership is returned unchanged."""
    existing = await membership(session, group_id, user_id)
    if existing is not None:
        return existing
    return await insert_member(session, group_id, user_id, role)


async def remove_member(session: AsyncSession, group_id: str, user_id: str) -> None:
    await session.execute(delete(Membership).where(Membership.group_id == group_id, Membership.user_id == user_id))


async def set_role(session: Transaction, group_id: str, user_id: str, role: str) -> None:
    await _SET_ROLE.run(session, in_group=group_id, of_user=user_id, new_role=role)


async def count_admins(session: AsyncSession, group_id: str) -> int:
    query = (
        select(func.count()).select_from(Membership).where(Membership.group_id == group_id, Membership.role == ADMIN)
    )
    return int((await session.execute(query)).scalar_one())


async def count_members(session: Transaction, group_id: str) -> int:
    return int(await _COUNT_MEMBERS.scalar(session, group_id=group_id))


async def members(session: AsyncSession, group_id: str) -> list[tuple[Membership, User]]:
    query = (
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.group_id == group_id)
        .order_by(Membership.joined_at, User.name)
    )
    return [(conn, user) for conn, user in (await session.execute(query)).all()]


async def playlist_of(session: AsyncSession, group_id: str) -> Playlist | None:
    query = select(Playlist).where(Playlist.group_id == group_id)
    return (await session.execute(query)).scalar_one_or_none()


async def tracks_of(session: AsyncSession, playlist_id: str) -> list[tuple[Track, str]]:
    """The playlist's tracks in order, each with the name of who added it."""
    query = (
        select(Track, User.name)
        .join(User, User.id == Track.added_by_user_id)
        .where(Track.playlist_id == playlist_id)
        .order_by(Track.position, Track.id)
    )
    return [(track, name) for track, name in (await session.execute(query)).all()]


class Present(NamedTuple):
    rows: list[Member]  # the members listed
    hosts: frozenset[str]  # the ids of every host of the group
    roster: Roster | None  # what the rows were picked from, to keep (None: looked up by id)


async def present_members(
    session: Transaction, group_id: str, present: Collection[str], limit: int, *, version: int = 0
) -> Present:
    """At most ``limit`` of the ``present`` users, hosts first, then in joining order (three
    columns, no ORM objects), and the roster they were picked from, of ``version`` (roster.py)."""
    roster = await read_roster(session, group_id, present, limit, version=version)
    if roster is None:
        hosts = _members(await _HOSTS.all(session, group_id=group_id))
        rows = await _present_by_id(session, group_id, hosts, present, limit)
        return Present(rows, frozenset(host.user_id for host in hosts), None)
    picked = roster.pick(present, limit, fresh=True)
    assert picked is not None  # a fresh roster holds everyone present who is a member
    return Present(picked, roster.host_ids, roster)


async def read_roster(
    session: Transaction, group_id: str, present: Collection[str], limit: int, *, version: int
) -> Roster | None:
    """The group's hosts and its first other members in joining order, read until ``limit`` of
    the ``present`` users are among them (or every member is); None when few are present among
    many members (``present_members`` looks those few up by id instead).

    Every socket's snapshot lists the members present; reading them all made N sockets joining
    read O(N²) rows (docs/BENCHMARKS.md, join storm). The hosts are a handful of rows (an index).
    The other members are read in joining order (an index: no sort), in pages that double — in a
    party nearly everyone present is a member, so the first page is enough, and no parameter is
    bound per person present (binding them was the next O(N) per join).
    """
    hosts = _members(await _HOSTS.all(session, group_id=group_id))
    wanted = limit - sum(1 for host in hosts if host.user_id in present)
    others: list[Member] = []
    page = limit
    while True:
        rows = await _OTHER_MEMBERS_PAGE.all(session, group_id=group_id, limit=page, offset=len(others))
        found = sum(1 for user_id, _, _ in rows if user_id in present)
        if not others and len(rows) == page and found < wanted and len(present) <= 2 * limit:
            return None  # few present among many members: cheaper by id
        others.extend(_members(rows))
        wanted -= found
        if len(rows) < page or wanted <= 0:
            return Roster(version, hosts, others, complete=len(rows) < page)
        page *= 2


async def _present_by_id(
    session: Transaction, group_id: str, hosts: Sequence[Member], present: Collection[str], limit: int
) -> list[Member]:
    """The present hosts, then the other present members looked up by id, in joining order."""
    found = [host for host in hosts if host.user_id in present][:limit]
    by_id = await _PRESENT_BY_ID.all(session, group_id=group_id, ids=list(present), limit=limit)
    found.extend(_members(by_id))
    return found[:limit]


def _members(rows: Iterable[Sequence[Any]]) -> list[Member]:
    """(user id, name, role) rows as the members a snapshot lists, built once per read."""
    return [Member(user_id, name, role) for user_id, name, role in rows]


async def roster_version(session: Transaction, group_id: str) -> int | None:
    """The group's ``roster_version`` (roster.py); None when the group does not exist."""
    version: int | None = await _ROSTER_VERSION.scalar(session, group_id=group_id)
    return version


_MEMBERS_IN_ORDER = (
    select(User.id, User.name, Membership.role)
    .join(User, User.id == Membership.user_id)
    .order_by(Membership.joined_at, User.name)
)
_HOSTS = Prepared(_MEMBERS_IN_ORDER.where(Membership.group_id == bindparam("group_id"), Membership.role == ADMIN))
_OTHER_MEMBERS = _MEMBERS_IN_ORDER.where(Membership.role != ADMIN)
_ROSTER_VERSION = Prepared(select(Group.roster_version).where(Group.id == bindparam("group_id")))
_OTHER_MEMBERS_PAGE = Prepared(
    _OTHER_MEMBERS.where(Membership.group_id == bindparam("group_id"))
    .limit(bindparam("limit"))
    .offset(bindparam("offset"))
)
_PRESENT_BY_ID = Prepared(
    _OTHER_MEMBERS.where(
        Membership.group_id == bindparam("group_id"), Membership.user_id.in_(bindparam("ids", expanding=True))
    ).limit(bindparam("limit"))
)


async def admin_ids(session: AsyncSession, group_id: str) -> set[str]:
    """The group's hosts and co-hosts (a handful of rows: every other count is presence minus these)."""
    query = select(Membership.user_id).where(Membership.group_id == group_id, Membership.role == ADMIN)
    return set((await session.execute(query)).scalars().all())


async def keep_newest_per_group(
    session: AsyncSession, id_column: InstrumentedAttribute[int], group_column: InstrumentedAttribute[str], keep: int
) -> int:
    """Delete every row older than its group's newest ``keep`` (by id); one statement for all groups."""
    ranked = select(
        id_column, func.row_number().over(partition_by=group_column, order_by=id_column.desc()).label("rank")
    ).subquery()
    old = select(ranked.c[id_column.key]).where(ranked.c.rank > keep)
    result = await session.execute(delete(id_column.class_).where(id_column.in_(old)))
    return int(result.rowcount)  # type: ignore[attr-defined]


# Run once per phone of a join storm (db/prepared.py).
_ROLE_IN = Prepared(
    select(Membership.role).where(
        Membership.group_id == bindparam("group_id"), Membership.user_id == bindparam("user_id")
    )
)
_INSERT_MEMBER = Prepared(
    insert(Membership).values(
        id=bindparam("id"),
        group_id=bindparam("group_id"),
        user_id=bindparam("user_id"),
        joined_at=bindparam("now"),
        role=bindparam("role"),
    )
)
_SET_ROLE = Prepared(
    update(Membership)
    .where(Membership.group_id == bindparam("in_group"), Membership.user_id == bindparam("of_user"))
    .values(role=bindparam("new_role"))  # names apart from the columns: an UPDATE reserves those
)
_COUNT_MEMBERS = Prepared(
    select(func.count()).select_from(Membership).where(Membership.group_id == bindparam("group_id"))
)
