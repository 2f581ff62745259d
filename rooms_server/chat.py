"""The room's chat history: kept in SQL for phones that join later, never at the cost of delivery.

A chat message is written to ``chat_messages`` and then published; when the database cannot take
it (an outage, a locked SQLite file), the failure is logged and counted and the message is still
delivered to everyone in the room: the history misses it, the conversation does not.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from rooms_server import failures, protocol
from rooms_server.db import chat as chat_queries
from rooms_server.db.models import utcnow
from rooms_server.db.session import Database, Transaction
from rooms_server.metrics import Metrics

log = logging.getLogger(__name__)


def now_ms_precision() -> datetime:
    """Now, cut to the millisecond the wire shows, so the event and the history say the same."""
    now = utcnow()
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


async def keep(
    db: Database, metrics: Metrics, *, group_id: str, user_id: str, name: str, text: str, at: datetime
) -> bool:
    """Store one message; False (logged) when the database refused it."""
    try:
        async with db.write() as session:
            await chat_queries.add_message(session, group_id, user_id, name, text, at)
    except failures.BACKEND_ERRORS as exc:
        metrics.backend_error(exc, "chat")
        log.warning(
            "group %s: chat message not kept in the history (%s); delivered anyway", group_id, type(exc).__name__
        )
        return False
    return True


async def history(session: Transaction, group_id: str) -> list[dict[str, Any]]:
    """The snapshot's ``chat``: the last messages, oldest first (read in the snapshot's transaction)."""
    rows = await chat_queries.recent(session, group_id)
    return [protocol.chat_line(r.user_id, r.name, r.text, r.sent_at) for r in rows]
