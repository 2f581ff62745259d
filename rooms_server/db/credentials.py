"""Queries on ``user_credentials``. Values arrive here already encrypted: this module never sees a token.

One row per user and service (``user_credentials_user_id_service_unique``); ``token`` and
``refresh_token`` hold Fernet ciphertexts, ``expiry`` is plain UTC so it can be listed and compared.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from rooms_server.db.models import UserCredential


async def get(session: AsyncSession, user_id: str, service: str) -> UserCredential | None:
    query = select(UserCredential).where(UserCredential.user_id == user_id, UserCredential.service == service)
    return (await session.execute(query)).scalar_one_or_none()


async def exists(session: AsyncSession, user_id: str, service: str) -> bool:
    query = select(UserCredential.id).where(UserCredential.user_id == user_id, UserCredential.service == service)
    return (await session.execute(query)).first() is not None


async def upsert(
    session: AsyncSession, user_id: str, service: str, *, token: str, refresh_token: str | None, expiry: datetime | None
) -> None:
    """Insert or replace the user's credential for the service (one statement, race-free)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    values = {"token": token, "refresh_token": refresh_token, "expiry": expiry}
    statement = insert(UserCredential).values(user_id=user_id, service=service, **values)
    statement = statement.on_conflict_do_update(index_elements=["user_id", "service"], set_=values)
    await session.execute(statement)


async def listing(session: AsyncSession, user_id: str) -> list[tuple[str, datetime | None]]:
    """(service, expiry) of each credential of the user: nothing secret."""
    query = (
        select(UserCredential.service, UserCredential.expiry)
        .where(UserCredential.user_id == user_id)
        .order_by(UserCredential.service)
    )
    return [(service, expiry) for service, expiry in (await session.execute(query)).all()]


async def remove(session: AsyncSession, user_id: str, service: str) -> bool:
    statement = delete(UserCredential).where(UserCredential.user_id == user_id, UserCredential.service == service)
    result = await session.execute(statement)
    return bool(getattr(result, "rowcount", 0))


async def reencrypt_all(session: AsyncSession, rotate: Callable[[str], str]) -> int:
    """Re-encrypt every stored token under the newest key (key rotation); the number of rows."""
    rows = (await session.execute(select(UserCredential.id, UserCredential.token, UserCredential.refresh_token))).all()
    for row_id, token, refresh_token in rows:
        values = {"token": rotate(token), "refresh_token": None if refresh_token is None else rotate(refresh_token)}
        await session.execute(update(UserCredential).where(UserCredential.id == row_id).values(**values))
    return len(rows)
