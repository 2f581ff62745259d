"""The backstop that ends sockets whose token no longer holds.

A logout ends the token's sockets at once (a broadcast, ``Hub.on_signal``) and a token's expiry at
its moment (a timer, web/ws.py); this periodic check catches a broadcast lost in an engine outage
or a session deleted straight in the database.
"""

from __future__ import annotations

import asyncio
import logging

from rooms_server import failures
from rooms_server.db import identity
from rooms_server.db.models import utcnow
from rooms_server.db.session import Database
from rooms_server.hub import Hub
from rooms_server.protocol import CloseCode

log = logging.getLogger(__name__)

SESSION_CHECK_S = 10.0  # read at every round, so tests can shorten it


class SessionCheck:
    def __init__(self, hub: Hub, db: Database) -> None:
        self.hub = hub
        self.db = db
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="session-check")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(SESSION_CHECK_S)
            try:
                await self.end_revoked_sessions()
            except Exception as exc:
                failures.log_error(log, exc, "checking the sessions of open sockets failed")

    async def end_revoked_sessions(self) -> None:
        """Close sockets whose token was revoked (logout) or has expired since they connected."""
        clients = [c for group in self.hub.groups.values() for c in group if not c.closed]
        if not clients:
            return
        async with self.db.read() as session:
            alive = await identity.live_token_hashes(session, {c.token_hash for c in clients}, utcnow())
        for client in clients:
            if client.token_hash not in alive:
                await client.shut(CloseCode.UNAUTHORIZED, "the token was revoked or has expired")
