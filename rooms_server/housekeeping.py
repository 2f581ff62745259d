"""Housekeeping that runs: expired invites, expired guest sessions, old command answers, chat
beyond each room's last 200 messages and playback history beyond each room's last 1000 plays are
purged.

Expired rows are refused whether or not they are purged, so a missed round costs nothing but a few
rows; a failed round is logged (and counted) and the next one comes on time. Every process runs
the same jobs: each is one idempotent ``DELETE … WHERE <expiry> < now``, so running them twice is
harmless and no leader has to be elected.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from rooms_server.db import chat, history, identity, invites, outcomes
from rooms_server.db.models import utcnow
from rooms_server.db.session import Database
from rooms_server.metrics import Metrics

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Job:
    name: str  # what it purges, for the log: "expired invites"
    every_s: float
    run: Callable[[], Awaitable[int]]  # returns how many rows it deleted


def purge_jobs(
    db: Database, *, invites_every_s: float, sessions_every_s: float, command_id_window_s: float = 600
) -> list[Job]:
    async def purge_invites() -> int:
        async with db.write() as session:
            return await invites.delete_expired_invites(session, utcnow())

    async def purge_sessions() -> int:
        async with db.write() as session:
            return await identity.purge_expired_sessions(session, utcnow())

    async def purge_answers() -> int:
        # Answers past the window are ignored whether purged or not (outcomes.find reads within it).
        async with db.write() as session:
            return await outcomes.purge_before(session, utcnow() - timedelta(seconds=command_id_window_s))

    async def purge_chat() -> int:
        async with db.write() as session:
            return await chat.purge_beyond(session, chat.KEPT)

    async def purge_history() -> int:
        async with db.write() as session:
            return await history.purge_beyond(session, history.KEPT)

    return [
        Job("expired invites", invites_every_s, purge_invites),
        Job("old chat messages", invites_every_s, purge_chat),
        Job("old plays", invites_every_s, purge_history),
        Job("expired sessions", sessions_every_s, purge_sessions),
        Job("old command answers", max(command_id_window_s / 2, 1.0), purge_answers),
    ]


async def run_forever(job: Job, metrics: Metrics, sleep: Sleep = asyncio.sleep) -> None:
    """Run ``job`` every ``job.every_s`` seconds until cancelled."""
    while True:
        await sleep(job.every_s)
        try:
            deleted = await job.run()
        except Exception as exc:
            metrics.backend_error(exc, "housekeeping")
            log.warning("purging %s failed (%s: %s); retrying in %s s", job.name, type(exc).__name__, exc, job.every_s)
        else:
            if deleted:
                log.info("purged %d %s", deleted, job.name)


class Housekeeper:
    """The background tasks of the jobs, started and stopped with the app."""

    def __init__(self, jobs: list[Job], metrics: Metrics) -> None:
        self._jobs = jobs
        self._metrics = metrics
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(run_forever(job, self._metrics), name=f"purge {job.name}") for job in self._jobs
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
