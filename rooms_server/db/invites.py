"""Queries on invites: the QR invite (``groupqr``: one row per group, the token is its id) and the
invite links (``invite_links``: any number per group, each with its own token).

Each query takes a session and the caller owns the transaction; the purge of expired rows runs in
``rooms_server.housekeeping``. A join counts its use with one conditional UPDATE (``count_use``),
which is what makes a use limit hold under concurrent joins: SQLite serialises write
transactions, and PostgreSQL re-checks the WHERE on the row it waited for.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, String, bindparam, delete, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from rooms_server.db.models import Group, GroupQR, InviteLink
from rooms_server.db.prepared import Prepared
from rooms_server.db.session import Transaction


@dataclass(frozen=True, slots=True)
class QrInvite:
    """A ``groupqr`` row as read, not an ORM object: every snapshot reads one, and building a
    ``GroupQR`` for it cost more than the query (1.5 % of a join storm)."""

    id: str
    group_id: str
    url: str
    expired_at: datetime
    code: str | None
    role: str
    max_uses: int | None
    uses: int


async def invite_of_group(session: Transaction, group_id: str) -> QrInvite | None:
    """The group's QR invite, expired or not (every snapshot reads it)."""
    row = await _QR_OF_GROUP.first(session, group_id=group_id)
    return None if row is None else QrInvite(*row)


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


@dataclass(frozen=True, slots=True)
class GroupSummary:
    """What joining shows of a group."""

    id: str
    name: str
    is_public: bool
    listening_mode: str


@dataclass(frozen=True, slots=True)
class InviteTarget:
    """An invite (the QR invite or an invite link) and the group it admits to: what using it needs."""

    is_qr: bool
    id: str
    code: str | None
    role: str
    max_uses: int | None
    uses: int
    expired_at: datetime
    group: GroupSummary

    @property
    def used_up(self) -> bool:
        return self.max_uses is not None and self.uses >= self.max_uses


def _target(
    table: type[GroupQR] | type[InviteLink], code: ColumnElement[str | None] | InstrumentedAttribute[str | None]
) -> Select[*tuple[Any, ...]]:
    query: Select[*tuple[Any, ...]] = select(
        literal(table is GroupQR),
        table.id,
        code,
        table.role,
        table.max_uses,
        table.uses,
        table.expired_at,
        Group.id,
        Group.name,
        Group.is_public,
        Group.listening_mode,
    ).join(Group, Group.id == table.group_id)
    return query


_QR_COLUMNS = tuple(field.name for field in fields(QrInvite))
_QR_OF_GROUP = Prepared(
    select(*(getattr(GroupQR, c) for c in _QR_COLUMNS)).where(GroupQR.group_id == bindparam("group_id"))
)

# Read and counted once per phone of a join storm (db/prepared.py).
_QR_BY_TOKEN = Prepared(_target(GroupQR, GroupQR.code).where(GroupQR.id == bindparam("token")))
_QR_BY_CODE = Prepared(_target(GroupQR, GroupQR.code).where(GroupQR.code == bindparam("code")))
_LINK_BY_TOKEN = Prepared(_target(InviteLink, literal(None, String)).where(InviteLink.token == bindparam("token")))


def _use_of(table: type[GroupQR] | type[InviteLink]) -> Prepared:
    return Prepared(
        update(table)
        .where(
            table.id == bindparam("invite_id"),
            table.expired_at > bindparam("now"),
            or_(table.max_uses.is_(None), table.uses < table.max_uses),
        )
        .values(uses=table.uses + 1)
    )


_QR_USE, _LINK_USE = _use_of(GroupQR), _use_of(InviteLink)


async def invite_target(session: Transaction, token: str) -> InviteTarget | None:
    """The QR invite or the invite link of ``token``, expired or not, with its group."""
    row = await _QR_BY_TOKEN.first(session, token=token) or await _LINK_BY_TOKEN.first(session, token=token)
    return None if row is None else _as_target(row)


async def invite_target_by_code(session: Transaction, code: str) -> InviteTarget | None:
    """The QR invite of a short join code, expired or not, with its group."""
    row = await _QR_BY_CODE.first(session, code=code)
    return None if row is None else _as_target(row)


def _as_target(row: tuple[Any, ...]) -> InviteTarget:
    is_qr, invite_id, code, role, max_uses, uses, expired_at, *group = row
    return InviteTarget(
        bool(is_qr),
        invite_id,
        code,
        role,
        max_uses,
        uses,
        expired_at,
        GroupSummary(*group),
    )


async def count_use(session: Transaction, invite: InviteTarget, now: datetime) -> bool:
    """Count one use of ``invite``; False when it was used up (or expired) meanwhile."""
    return bool(await (_QR_USE if invite.is_qr else _LINK_USE).run(session, invite_id=invite.id, now=now))


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
