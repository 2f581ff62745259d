"""Queries on who hosts a room: the hosting columns of ``groups`` and the roles they move.

``apply_step`` is the compare-and-set that makes a failover happen once across processes: it
updates the group only while its hosting columns still hold what the step was decided from.
The caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import ColumnElement, and_, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from rooms_server.db.models import Group, Membership
from rooms_server.db.prepared import Prepared
from rooms_server.db.session import Transaction
from rooms_server.hosting import Candidate, Hosting, Step


def hosting_of(group: Group) -> Hosting:
    return Hosting(
        host_user_id=group.host_user_id,
        grace_s=group.host_grace_s,
        failover_to_members=group.failover_to_members,
        on_return=group.host_on_return,
        away_since=group.host_away_since,
        away_host_user_id=group.away_host_user_id,
        stand_in_role=group.stand_in_role,
    )


_COLUMNS = (
    Group.id,
    Group.host_user_id,
    Group.host_grace_s,
    Group.failover_to_members,
    Group.host_on_return,
    Group.host_away_since,
    Group.away_host_user_id,
    Group.stand_in_role,
)


async def hostings(session: AsyncSession, group_ids: Iterable[str]) -> dict[str, Hosting]:
    """The hosting of each group that exists, in one query (a watch tick reads all its groups)."""
    ids = list(group_ids)
    if not ids:
        return {}
    rows = (await session.execute(select(*_COLUMNS).where(Group.id.in_(ids)))).all()
    return {row[0]: Hosting(*row[1:]) for row in rows}


async def hosting(session: Transaction, group_id: str) -> Hosting | None:
    """The group's hosting; None when it does not exist (every snapshot reads it)."""
    row = await _HOSTING.first(session, group_id=group_id)
    return None if row is None else Hosting(*row[1:])


async def candidates(session: AsyncSession, group_id: str) -> list[Candidate]:
    """The room's members, oldest membership first: the order a successor is chosen in."""
    query = (
        select(Membership.user_id, Membership.role)
        .where(Membership.group_id == group_id)
        .order_by(Membership.joined_at, Membership.user_id)
    )
    return [Candidate(user_id, role) for user_id, role in (await session.execute(query)).all()]


_HOSTING = Prepared(select(*_COLUMNS).where(Group.id == bindparam("group_id")))


def _unchanged(hosting: Hosting) -> ColumnElement[bool]:
    return and_(
        Group.host_user_id.is_not_distinct_from(hosting.host_user_id),
        Group.host_away_since.is_not_distinct_from(hosting.away_since),
        Group.away_host_user_id.is_not_distinct_from(hosting.away_host_user_id),
    )


async def apply_step(session: AsyncSession, group_id: str, was: Hosting, step: Step) -> bool:
    """Write ``step`` if the group's hosting is still ``was``; False when another writer came first."""
    new = step.hosting
    values = {
        "host_user_id": new.host_user_id,
        "host_away_since": new.away_since,
        "away_host_user_id": new.away_host_user_id,
        "stand_in_role": new.stand_in_role,
    }
    result = await session.execute(update(Group).where(Group.id == group_id, _unchanged(was)).values(**values))
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    await set_roles(session, group_id, step.roles)
    return True


async def set_roles(session: AsyncSession, group_id: str, roles: Sequence[tuple[str, str]]) -> None:
    for user_id, role in roles:
        await session.execute(
            update(Membership).where(Membership.group_id == group_id, Membership.user_id == user_id).values(role=role)
        )


async def set_settings(
    session: AsyncSession, group: Group, *, grace_s: int | None, failover_to_members: bool | None, on_return: str | None
) -> Hosting:
    if grace_s is not None:
        group.host_grace_s = grace_s
    if failover_to_members is not None:
        group.failover_to_members = failover_to_members
    if on_return is not None:
        group.host_on_return = on_return
    await session.flush()
    return hosting_of(group)
