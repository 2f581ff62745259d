"""Queries on users and their auth sessions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from rooms_server.auth import new_id
from rooms_server.db.models import AuthSession, Group, Membership, User, utcnow
from rooms_server.db.prepared import Prepared
from rooms_server.db.session import Transaction

# A guest and their token are written once per phone of a join storm (db/prepared.py).
_INSERT_USER = Prepared(insert(User).values(id=bindparam("id"), name=bindparam("name")))
_INSERT_SESSION = Prepared(
    insert(AuthSession).values(
        id=bindparam("id"),
        user_id=bindparam("user_id"),
        token_hash=bindparam("token_hash"),
        created_at=bindparam("now"),
        expires_at=bindparam("expires_at"),
    )
)


async def create_user(session: Transaction, name: str) -> User:
    """The new user, inserted in the caller's transaction (the object is not in the session)."""
    user = User(id=new_id(), name=name)
    await _INSERT_USER.run(session, id=user.id, name=user.name)
    return user


async def create_auth_session(session: Transaction, user_id: str, token_hash: str, ttl_s: int) -> datetime:
    """A session of ``user_id`` for the token of ``token_hash``; when it expires."""
    now = utcnow()
    expires_at = now + timedelta(seconds=ttl_s)
    await _INSERT_SESSION.run(
        session, id=new_id(), user_id=user_id, token_hash=token_hash, now=now, expires_at=expires_at
    )
    return expires_at


async def user_for_token(session: AsyncSession, token_hash: str, now: datetime) -> User | None:
    query = (
        select(User)
        .join(AuthSession, AuthSession.user_id == User.id)
        .where(AuthSession.token_hash == token_hash, AuthSession.expires_at > now)
    )
    return (await session.execute(query)).scalar_one_or_none()


async def live_token_hashes(session: AsyncSession, token_hashes: set[str], now: datetime) -> set[str]:
    """Which of these token hashes still belong to an unexpired, unrevoked session."""
    if not token_hashes:
        return set()
    query = select(AuthSession.token_hash).where(AuthSession.token_hash.in_(token_hashes), AuthSession.expires_at > now)
    return set((await session.execute(query)).scalars().all())


async def revoke_auth_session(session: AsyncSession, token_hash: str) -> None:
    await session.execute(delete(AuthSession).where(AuthSession.token_hash == token_hash))


async def purge_expired_sessions(session: AsyncSession, now: datetime) -> int:
    result = await session.execute(delete(AuthSession).where(AuthSession.expires_at <= now))
    return int(result.rowcount)  # type: ignore[attr-defined]


async def groups_of_user(session: AsyncSession, user_id: str) -> list[tuple[Group, str]]:
    query = (
        select(Group, Membership.role)
        .join(Membership, Membership.group_id == Group.id)
        .where(Membership.user_id == user_id)
        .order_by(Membership.joined_at, Group.name)
    )
    return [(group, role) for group, role in (await session.execute(query)).all()]


@dataclass(frozen=True, slots=True)
class RoomAccess:
    """What a room socket's handshake needs about its token, in one query (web/ws.py)."""

    user_id: str
    name: str
    expires_at: datetime
    group_exists: bool
    group_is_public: bool
    role: str | None  # None: not a member


async def room_access(session: Transaction, token_hash: str, group_id: str, now: datetime) -> RoomAccess | None:
    """The token's user, its expiry, the group and the user's membership of it, as one statement:
    a join storm opens a socket per phone, and three round trips each were a third of its cost.
    None for an unknown, expired or revoked token."""
    row = await _ROOM_ACCESS.first(session, token_hash=token_hash, group_id=group_id, now=now)
    if row is None:
        return None
    user_id, name, expires_at, found_group, is_public, role = row
    return RoomAccess(user_id, name, expires_at, found_group is not None, bool(is_public), role)


_ROOM_ACCESS = Prepared(
    select(User.id, User.name, AuthSession.expires_at, Group.id, Group.is_public, Membership.role)
    .join(AuthSession, AuthSession.user_id == User.id)
    .outerjoin(Group, Group.id == bindparam("group_id"))
    .outerjoin(Membership, (Membership.group_id == bindparam("group_id")) & (Membership.user_id == User.id))
    .where(AuthSession.token_hash == bindparam("token_hash"), AuthSession.expires_at > bindparam("now"))
)
