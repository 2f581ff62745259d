"""Queries on the room's chat history (``chat_messages``).

Each query takes a session and the caller owns the transaction; the housekeeping trims every
group to its last ``KEPT`` messages.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from rooms_server.db import queries
from rooms_server.db.models import ChatMessage
from rooms_server.db.prepared import Prepared
from rooms_server.db.session import Transaction

KEPT = 200  # per group; older ones are purged
IN_SNAPSHOT = 50  # what a phone that joins gets


async def add_message(session: AsyncSession, group_id: str, user_id: str, name: str, text: str, at: datetime) -> None:
    session.add(ChatMessage(group_id=group_id, user_id=user_id, name=name, text=text, sent_at=at))
    await session.flush()


class Line(NamedTuple):
    user_id: str
    name: str
    text: str
    sent_at: datetime


# Read by every snapshot (db/prepared.py).
_RECENT = Prepared(
    select(ChatMessage.user_id, ChatMessage.name, ChatMessage.text, ChatMessage.sent_at)
    .where(ChatMessage.group_id == bindparam("group_id"))
    .order_by(ChatMessage.id.desc())
    .limit(bindparam("limit"))
)


async def recent(session: Transaction, group_id: str, limit: int = IN_SNAPSHOT) -> list[Line]:
    """The last ``limit`` messages of the group, oldest first (served by idx_chat_messages_group_id)."""
    rows = [Line(*row) for row in await _RECENT.all(session, group_id=group_id, limit=limit)]
    rows.reverse()
    return rows


async def purge_beyond(session: AsyncSession, keep: int = KEPT) -> int:
    """Delete every message older than its group's last ``keep``; one statement for all groups."""
    return await queries.keep_newest_per_group(session, ChatMessage.id, ChatMessage.group_id, keep)
