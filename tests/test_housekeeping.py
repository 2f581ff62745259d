"""Housekeeping: expired invites and guest sessions are purged on a schedule, a failed round is survived.

The schedule is driven by an injected sleep, so nothing here waits on the clock.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError
from starlette.testclient import TestClient

from rooms_server.db import history
from rooms_server.db.models import AuthSession, GroupQR, InviteLink, PlaybackHistory
from rooms_server.housekeeping import Job, purge_jobs, run_forever
from rooms_server.metrics import Metrics
from tests.helpers import Guest, make_group

LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


class Rounds:
    """A sleep that returns at once and ends the loop (CancelledError) after ``count`` rounds."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.asked: list[float] = []

    async def __call__(self, seconds: float) -> None:
        if len(self.asked) == self.count:
            raise asyncio.CancelledError
        self.asked.append(seconds)


def _counts(client: TestClient) -> tuple[int, int]:
    async def count() -> tuple[int, int]:
        async with client.app_state["db"].read() as session:
            sessions = (await session.execute(sa.select(sa.func.count()).select_from(AuthSession))).scalar_one()
            invites = (await session.execute(sa.select(sa.func.count()).select_from(GroupQR))).scalar_one()
            links = (await session.execute(sa.select(sa.func.count()).select_from(InviteLink))).scalar_one()
            return int(sessions), int(invites) + int(links)

    assert client.portal is not None
    return client.portal.call(count)


def _expire(client: TestClient, user_id: str, group_id: str) -> None:
    async def expire() -> None:
        async with client.app_state["db"].write() as session:
            await session.execute(
                sa.update(AuthSession).where(AuthSession.user_id == user_id).values(expires_at=LONG_AGO)
            )
            await session.execute(sa.update(GroupQR).where(GroupQR.group_id == group_id).values(expired_at=LONG_AGO))
            await session.execute(
                sa.update(InviteLink).where(InviteLink.group_id == group_id).values(expired_at=LONG_AGO)
            )

    assert client.portal is not None
    client.portal.call(expire)


def test_housekeeping_purges_expired_invites_and_sessions_every_round(client: TestClient) -> None:
    ann, bob = Guest(client, "Ann"), Guest(client, "Bob")
    old, kept = make_group(client, ann, "Old"), make_group(client, bob, "Kept")
    for owner, group in ((ann, old), (bob, kept)):
        assert client.post(f"/api/groups/{group['id']}/invite", headers=owner.headers).status_code == 201
        link = client.post(f"/api/groups/{group['id']}/invites", json={"role": "member"}, headers=owner.headers)
        assert link.status_code == 201
    _expire(client, ann.id, old["id"])
    assert _counts(client) == (2, 4)  # a QR invite and an invite link each

    jobs = purge_jobs(client.app_state["db"], invites_every_s=600, sessions_every_s=3600)
    sleeps = {job.name: Rounds(2) for job in jobs}

    async def run_all() -> None:
        for job in jobs:
            with pytest.raises(asyncio.CancelledError):
                await run_forever(job, Metrics(), sleep=sleeps[job.name])

    assert client.portal is not None
    client.portal.call(run_all)
    assert {name: rounds.asked for name, rounds in sleeps.items()} == {
        "expired invites": [600, 600],
        "expired sessions": [3600, 3600],
        "old command answers": [300.0, 300.0],  # half the COMMAND_ID_WINDOW_S
        "old chat messages": [600, 600],
        "old plays": [600, 600],
    }
    assert _counts(client) == (1, 2)  # Bob's session, invite and link stay
    assert client.get("/api/me", headers=ann.headers).status_code == 401
    assert client.get("/api/me", headers=bob.headers).status_code == 200


async def test_housekeeping_survives_a_failed_round_and_counts_it(caplog: pytest.LogCaptureFixture) -> None:
    calls = 0

    async def failing() -> int:
        nonlocal calls
        calls += 1
        raise OperationalError("DELETE", {}, Exception("database is locked"))

    metrics = Metrics()
    with pytest.raises(asyncio.CancelledError):
        await run_forever(Job("expired invites", 60, failing), metrics, sleep=Rounds(3))
    assert calls == 3
    assert caplog.text.count("purging expired invites failed") == 3
    assert b'rooms_backend_errors_total{backend="database",where="housekeeping"} 3.0' in metrics.render()


def test_housekeeping_tasks_run_with_the_app(client: TestClient) -> None:
    async def names() -> set[str]:
        return {task.get_name() for task in asyncio.all_tasks()}

    assert client.portal is not None
    assert {"purge expired invites", "purge expired sessions", "purge old command answers", "purge old plays"} <= (
        client.portal.call(names)
    )


def _store_plays(client: TestClient, group_id: str, user_id: str, count: int) -> None:
    async def store() -> None:
        async with client.app_state["db"].write() as session:
            for n in range(count):
                session.add(
                    PlaybackHistory(
                        group_id=group_id,
                        track_id=None,
                        added_by_user_id=user_id,
                        service="youtube",
                        title=f"play {n}",
                        duration=180,
                        external_url=f"https://youtu.be/{n:0>11}",
                        artwork_url=None,
                        started_at=LONG_AGO,
                        ended_at=LONG_AGO,
                        played_ms=1_000,
                        outcome="ended",
                    )
                )

    assert client.portal is not None
    client.portal.call(store)


def test_housekeeping_keeps_the_last_thousand_plays_per_room(client: TestClient) -> None:
    ann, bob = Guest(client, "Ann"), Guest(client, "Bob")
    busy, quiet = make_group(client, ann, "Busy")["id"], make_group(client, bob, "Quiet")["id"]
    _store_plays(client, busy, ann.id, history.KEPT + 5)
    _store_plays(client, quiet, bob.id, 3)
    (job,) = [
        job
        for job in purge_jobs(client.app_state["db"], invites_every_s=600, sessions_every_s=3600)
        if job.name == "old plays"
    ]

    async def purge_and_read() -> tuple[int, list[str], int]:
        deleted = await job.run()
        async with client.app_state["db"].read() as session:
            kept = await history.page(session, busy, before_id=None, limit=history.KEPT + 10)
            others = await history.page(session, quiet, before_id=None, limit=10)
        return deleted, [row.title for row, _ in kept.entries], len(others.entries)

    assert client.portal is not None
    deleted, kept, others = client.portal.call(purge_and_read)
    assert deleted == 5 and others == 3
    assert kept == [f"play {n}" for n in range(history.KEPT + 4, 4, -1)]  # newest first, the oldest five gone
