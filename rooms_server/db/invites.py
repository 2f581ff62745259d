"""Queries on invites: the QR invite (``groupqr``: one row per group, the token is its id) and the
invite links (``invite_links``: any number per group, each with its own token).

Each query takes a session and the caller owns the transaction; the purge of expired rows runs in
``rooms_server.housekeeping``. A join counts its use with one conditional UPDATE (``count_use``),
which is what makes a use limit hold under concurrent joins: SQLite serialises write
transactions, and PostgreSQL re-checks the WHERE on the row it waited for.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from rooms_server.db.models import Group, GroupQR, InviteLink

Invitation = GroupQR | InviteLink  # what a token admits with: a group, a role, a use limit, an expiry


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
    session: AsyncSession,
    group_id: str,
    token: str,
    url: str,
    expired_at: datetime,
    code: str | None = None,
    *,
    role: str = "member",
    max_uses: int | None = None,
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
    row = GroupQR(
        id=token, group_id=group_id, url=url, expired_at=expired_at, code=code, role=role, max_uses=max_uses, uses=0
    )
    session.add(row)
    await session.flush()
    return row


async def delete_invite(session: AsyncSession, group_id: str) -> bool:
    result = await session.execute(delete(GroupQR).where(GroupQR.group_id == group_id))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def delete_expired_invites(session: AsyncSession, now: datetime) -> int:
    """One ``DELETE … WHERE expired_at < now`` per table, served by their ``expired_at`` indexes."""
    count = 0
    for table in (GroupQR, InviteLink):
        result = await session.execute(delete(table).where(table.expired_at < now))
        count += int(result.rowcount)  # type: ignore[attr-defined]
    return count


async def invitation(session: AsyncSession, token: str) -> Invitation | None:
    """The QR invite or the invite link of ``token``, expired or not."""
    qr = await invite_by_token(session, token)
    if qr is not None:
        return qr
    query = select(InviteLink).where(InviteLink.token == token)
    return (await session.execute(query)).scalar_one_or_none()


def used_up(invite: Invitation) -> bool:
    return invite.max_uses is not None and invite.uses >= invite.max_uses


async def count_use(session: AsyncSession, invite: Invitation, now: datetime) -> bool:
    """Count one use of ``invite``; False when it was used up (or expired) meanwhile."""
    table = type(invite)
    key = GroupQR.id == invite.id if table is GroupQR else InviteLink.id == invite.id
    statement = (
        update(table)
        .where(key, table.expired_at > now, or_(table.max_uses.is_(None), table.uses < table.max_uses))
        .values(uses=table.uses + 1)
        .execution_options(synchronize_session=False)
    )
    counted = bool((await session.execute(statement)).rowcount)  # type: ignore[attr-defined]
    if counted:
        await session.refresh(invite, ["uses"])
    return counted


async def add_link(session: AsyncSession, link: InviteLink) -> InviteLink:
    session.add(link)
    await session.flush()
    return link


async def links_of_group(session: AsyncSession, group_id: str, now: datetime) -> list[InviteLink]:
    """The group's invite links that have not expired, newest first."""
    query = (
        select(InviteLink)
        .where(InviteLink.group_id == group_id, InviteLink.expired_at > now)
        .order_by(InviteLink.created_at.desc(), InviteLink.id)
    )
    return list((await session.execute(query)).scalars())


async def delete_link(session: AsyncSession, group_id: str, link_id: str) -> bool:
    result = await session.execute(delete(InviteLink).where(InviteLink.group_id == group_id, InviteLink.id == link_id))
    return bool(result.rowcount)  # type: ignore[attr-defined]
