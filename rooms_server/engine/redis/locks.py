"""``redis://`` group locks: a lease kept alive while the block runs.

The lock is ``SET NX PX`` with a random token and a short lease (``lock_lease_s``, 1.5 s) that a
keepalive task renews every third of a lease while the block runs, and deleted only by its own
token on exit: a holder that dies blocks the group for at most one lease. A per-process asyncio
lock in front keeps the waiters of one process from polling Redis against each other.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.exceptions import RedisError

from .._util import KeyedLocks
from ..base import EngineBusy, Locks
from .connection import Connection

_LOCK_POLL_S = (0.002, 0.01)  # jittered, so waiters of several processes do not retry in lockstep

logger = logging.getLogger("rooms_server.engine.redis")


class RedisLocks(Locks):
    """One writer per group across every process of the prefix."""

    def __init__(self, connection: Connection, *, lock_timeout_s: float = 5.0, lock_lease_s: float = 1.5) -> None:
        self._conn = connection
        self._lock_timeout_s = lock_timeout_s
        self._lock_lease_ms = max(30, int(1000 * lock_lease_s))
        self._local_locks = KeyedLocks()

    @asynccontextmanager
    async def lock(self, group_id: str) -> AsyncIterator[None]:
        deadline = asyncio.get_running_loop().time() + self._lock_timeout_s
        async with self._local_locks.hold(group_id, self._lock_timeout_s):
            key, token = self._conn.keys.group(group_id, ":lock"), secrets.token_hex(8)
            await self._acquire(group_id, key, token, deadline)
            keepalive = asyncio.create_task(self._keep_alive(group_id, key, token), name=f"lease-{group_id}")
            try:
                yield
            finally:
                keepalive.cancel()
                await self._release(key, token)

    async def _keep_alive(self, group_id: str, key: str, token: str) -> None:
        """Renew the lease every third of it while the lock is held; stop once it is someone else's."""
        interval = self._lock_lease_ms / 3000
        while True:
            await asyncio.sleep(interval)
            try:
                renewed = await self._conn.scripts.lock_renew(keys=[key], args=[token, self._lock_lease_ms])
            except RedisError as exc:
                logger.warning("group %s: lock lease not renewed (%s)", group_id, type(exc).__name__)
                continue
            if not renewed:
                # Stalled past the lease: another process may hold the lock now. Nothing of ours can
                # apply any more (every write is a compare-and-set), so there is nothing to undo.
                logger.warning("group %s: lock lease lost while held", group_id)
                return

    async def _acquire(self, group_id: str, key: str, token: str, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                if await self._conn.scripts.lock_acquire(keys=[key], args=[token, self._lock_lease_ms]):
                    return
            except asyncio.CancelledError:
                # The SET may have landed before the cancellation: release rather than wait out the lease.
                await self._release(key, token)
                raise
            if loop.time() >= deadline:
                raise EngineBusy(group_id)
            await asyncio.sleep(random.uniform(*_LOCK_POLL_S))

    async def _release(self, key: str, token: str) -> None:
        # shield: a cancelled holder still frees the lock instead of blocking the group for a lease.
        # A failed release is only logged: the lease frees the lock, and the caller's own error matters more.
        try:
            await asyncio.shield(self._conn.scripts.lock_release(keys=[key], args=[token]))
        except RedisError as exc:
            logger.warning("releasing %s failed (%s); it frees itself after the lease", key, exc)
