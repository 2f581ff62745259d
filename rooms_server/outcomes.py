"""Exactly-once client commands: the answer of each command id, kept for a window.

A command whose client ``id`` has at least MIN_ID_CHARS characters is answered once: the same
``(user, group, id)`` again within ``COMMAND_ID_WINDOW_S`` gets the first answer back (marked
``duplicate``) and changes nothing, on any process. Shorter ids are only echoed: a client that
numbers its commands ``c1``, ``c2``… from each page load must not find a new command taken for an
old one; a client that retries generates a unique id (a UUID) per command and resends it as is.

Where the answer is kept depends on what the command changed, so that the answer exists exactly
when the change does:

- a durable command (playlist, current track) records it in its own SQL transaction;
- a live-only command (chat, play, seek, …) records it in the engine's atomic commit;
- a refused command (``queue_full``, ``forbidden``, …) changed nothing and records it in the engine.

Retryable refusals (``unavailable``, ``busy``, ``conflict``, ``rate_limited``, a provider's outage
or rate limit) are never recorded:
nothing happened, and the retry must run. Lookups happen under the group lock, so two copies of
one command on two processes cannot both miss.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from rooms_server.db.live import LiveWrite
from rooms_server.engine.base import Engine, Remembered

log = logging.getLogger(__name__)

MIN_ID_CHARS = 16  # ids this long are idempotency keys (a UUID has 32 hex digits or 36 characters)

# Refusals that say "try again": recording one would turn a retry into a replay of the refusal.
RETRYABLE_CODES = frozenset(
    {
        "unavailable",
        "busy",
        "conflict",
        "rate_limited",
        "provider_rate_limited",
        "provider_quota_exceeded",
        "provider_unavailable",
        "provider_error",
    }
)


@dataclass(frozen=True, slots=True)
class CommandId:
    user_id: str
    group_id: str
    id: str

    @classmethod
    def of(cls, user_id: str, group_id: str, frame_id: str | None) -> CommandId | None:
        """The command's idempotency key, or None for a command without one (no id, or a short id)."""
        if frame_id is None or len(frame_id) < MIN_ID_CHARS:
            return None
        return cls(user_id, group_id, frame_id)

    @property
    def key(self) -> str:
        return f"{self.user_id}:{self.id}"  # user ids are hex: the first colon separates


class Duplicate(Exception):
    """The command id was answered before; ``answer`` is that answer (``{"seq"}`` or ``{"code", "message"}``)."""

    def __init__(self, answer: dict[str, Any]) -> None:
        super().__init__("duplicate command id")
        self.answer = answer


def acked(seq: int) -> bytes:
    return orjson.dumps({"seq": seq})


def refused(code: str, message: str) -> bytes:
    return orjson.dumps({"code": code, "message": message})


class Outcomes:
    """The dedup store: engine entries with a TTL, SQL rows read within the window."""

    def __init__(self, engine: Engine, window_s: float) -> None:
        self.engine = engine
        self.window_s = window_s

    async def check_live(self, command: CommandId) -> None:
        """Raise Duplicate when the engine holds an answer for the command."""
        answer = await self.engine.state.recall(command.group_id, command.key)
        if answer is not None:
            raise Duplicate(orjson.loads(answer))

    async def check_durable(self, write: LiveWrite, command: CommandId) -> None:
        """Raise Duplicate when SQL holds an answer for the command (within the window)."""
        since = datetime.now(UTC) - timedelta(seconds=self.window_s)
        answer = await write.find_answer(command.user_id, command.group_id, command.id, since)
        if answer is not None:
            raise Duplicate(orjson.loads(answer))

    async def record_durable(self, write: LiveWrite, command: CommandId, answer: bytes) -> None:
        """In the command's own transaction: the answer exists exactly when the change does."""
        await write.record_answer(command.user_id, command.group_id, command.id, answer.decode())

    def with_commit(self, command: CommandId | None, answer: bytes) -> Remembered | None:
        """What the engine commit keeps for the command, atomically with its events."""
        return None if command is None else Remembered(command.key, answer, self.window_s)

    async def record_refusal(self, command: CommandId, code: str, message: str) -> None:
        """Best effort: a refusal changed nothing, so a retry that runs again (the record lost) is harmless."""
        if code in RETRYABLE_CODES:
            return
        try:
            await self.engine.state.remember(
                command.group_id, Remembered(command.key, refused(code, message), self.window_s)
            )
        except Exception as exc:
            log.warning("refusal of command %s not recorded (%s)", command.id, type(exc).__name__)
