"""Queries on invites (``groupqr``: one row per group, the token is its id).

Each query takes a session and the caller owns the transaction; the purge of expired rows runs in
``rooms_server.housekeeping``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from rooms_server.db.models import Group, GroupQR


async def invite_of_group(session: AsyncSession, group_id: str) -> GroupQR | None:
    query = select(GroupQR).where(GroupQR.group_id == group_id)
    return (await session.execute(query)).scalar_one_or_none()


async def invite_by_token(session: AsyncSession, token: str) -> GroupQR | None:
    return await session.get(GroupQR, token)


async def invite_by_code(session: AsyncSession, code: str) -> GroupQR | None:
    query = select(GroupQR).where(GroupQR.code == code)
    return (await session.execute(query)).scalar_one_or_none()


async def code_taken(session: AsyncSession, code: str) -> bool:
    """Whether a row holds ``code``, expired or not (an unpurged row still owns its code)."""
    return await invite_by_code(session, code) is not None


async def replace_invite(
    session: AsyncSession, group_id: str, token: str, url: str, expired_at: datetime, code: str | None = None
) -> GroupQR | None:
    """The group's new invite; the old one, if any, is deleted in the same transaction.

    The group row is locked first (``FOR UPDATE`` on PostgreSQL; SQLite write transactions are
    already serial), so two admins rotating at once, or a rotation racing the group's deletion,
    queue instead of colliding on ``groupqr_group_id_unique`` or the foreign key.
    Returns None when the group is gone.
    """
    locked = await session.execute(select(Group.id).where(Group.id == group_id).with_for_update())
    if locked.first() is None:
        return None
    await session.execute(delete(GroupQR).where(GroupQR.group_id == group_id))
    row = GroupQR(id=token, group_id=group_id, url=url, expired_at=expired_at, code=code)
    session.add(row)
    await session.flush()
    return row


async def delete_invite(session: AsyncSession, group_id: str) -> bool:
    result = await session.execute(delete(GroupQR).where(GroupQR.group_id == group_id))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def delete_expired_invites(session: AsyncSession, now: datetime) -> int:
    """One ``DELETE … WHERE expired_at < now``, served by ``idx_groupqr_expired_at``."""
    result = await session.execute(delete(GroupQR).where(GroupQR.expired_at < now))
    return int(result.rowcount)  # type: ignore[attr-defined]
