"""The ``command_results`` table: answers of durable client commands, within their window."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from rooms_server.db.models import CommandResult, utcnow


async def find(session: AsyncSession, user_id: str, group_id: str, command_id: str, since: datetime) -> str | None:
    """The answer recorded for this command id after ``since``, or None."""
    query = select(CommandResult.answer).where(
        CommandResult.user_id == user_id,
        CommandResult.group_id == group_id,
        CommandResult.command_id == command_id,
        CommandResult.created_at > since,
    )
    return (await session.execute(query)).scalar_one_or_none()


async def record(session: AsyncSession, user_id: str, group_id: str, command_id: str, answer: str) -> None:
    """Record an answer in the caller's transaction; a row past the window is replaced."""
    await session.execute(
        delete(CommandResult).where(
            CommandResult.user_id == user_id,
            CommandResult.group_id == group_id,
            CommandResult.command_id == command_id,
        )
    )
    session.add(
        CommandResult(user_id=user_id, group_id=group_id, command_id=command_id, answer=answer, created_at=utcnow())
    )
    await session.flush()


async def purge_before(session: AsyncSession, before: datetime) -> int:
    """One ``DELETE … WHERE created_at < before``, served by ``idx_command_results_created_at``."""
    result = await session.execute(delete(CommandResult).where(CommandResult.created_at < before))
    return int(result.rowcount)  # type: ignore[attr-defined]
