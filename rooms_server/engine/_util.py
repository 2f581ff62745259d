"""Helpers shared by the engine backends."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TypeVarTuple

from .base import EngineBusy

logger = logging.getLogger("rooms_server.engine")

Ts = TypeVarTuple("Ts")


def new_epoch() -> str:
    return secrets.token_hex(8)


def call_safely(callback: Callable[[*Ts], None], *args: *Ts) -> None:
    """Run a consumer callback; a failing consumer must not stop delivery to the others."""
    try:
        callback(*args)
    except Exception:
        logger.exception("engine callback %r failed", callback)


@dataclass(slots=True)
class _Entry:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


class KeyedLocks:
    """One asyncio.Lock per key, forgotten when nobody holds or waits for it (groups come and go)."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}

    @asynccontextmanager
    async def hold(self, key: str, timeout_s: float) -> AsyncIterator[None]:
        entry = self._entries.setdefault(key, _Entry())
        entry.users += 1
        try:
            try:
                async with asyncio.timeout(timeout_s):
                    await entry.lock.acquire()
            except TimeoutError:
                raise EngineBusy(key) from None
            try:
                yield
            finally:
                entry.lock.release()
        finally:
            entry.users -= 1
            if entry.users == 0:
                del self._entries[key]
