"""``redis://`` state log: a state hash and a log Stream per group, written by Lua scripts.

The commit script stores the state, appends the events to the log (ids ``<seq>-0``, capped exactly
at ``history_size``) and publishes them on the group's channel in one atomic step, so the broker
needs nothing from this class but reads (``positions``, ``history``) for its catch-up.
"""

from __future__ import annotations

import secrets

from .._util import new_epoch
from ..base import Remembered, StateLog, Stored
from .connection import Connection, as_bytes, ms, text


class RedisStateLog(StateLog):
    """Group state in Redis; every write is a compare-and-set on ``(epoch, seq)``."""

    def __init__(self, connection: Connection, *, history_size: int = 1000) -> None:
        if history_size < 1:
            raise ValueError("history_size must be at least 1")
        self._conn = connection
        self._keys = connection.keys
        self._history_size = history_size

    async def get(self, group_id: str) -> Stored | None:
        fields = ["epoch", "seq", "state"]
        epoch, seq, state = await self._conn.redis.hmget(self._keys.group(group_id, ":state"), fields)
        if epoch is None or seq is None or state is None:
            return None
        return Stored(text(epoch), int(seq), as_bytes(state))

    async def create(self, group_id: str, state: bytes) -> Stored:
        keys = [self._keys.group(group_id, ":state"), self._keys.group(group_id, ":log")]
        epoch, seq, stored = await self._conn.scripts.create(keys=keys, args=[new_epoch(), state])
        return Stored(text(epoch), int(seq), as_bytes(stored))

    async def reset(self, group_id: str, state: bytes) -> Stored:
        # Callers hold the group lock, so nobody writes between the delete and the create.
        await self.delete(group_id)
        return await self.create(group_id, state)

    async def delete(self, group_id: str) -> None:
        await self._conn.redis.delete(self._keys.group(group_id, ":state"), self._keys.group(group_id, ":log"))

    async def commit(
        self,
        group_id: str,
        epoch: str,
        seq: int,
        state: bytes,
        events: list[bytes],
        *,
        remember: Remembered | None = None,
    ) -> bool:
        keys = [self._keys.group(group_id, ":state"), self._keys.group(group_id, ":log"), self._keys.group(group_id)]
        answer: list[bytes | str | int] = [0, b""]
        if remember is not None:
            keys.append(self._keys.answer(group_id, remember.key))
            answer = [ms(remember.ttl_s), remember.answer]
        args: list[bytes | str | int] = [epoch, seq, state, self._history_size, secrets.token_hex(8), *answer, *events]
        return bool(await self._conn.scripts.commit(keys=keys, args=args))

    async def history(self, group_id: str, epoch: str, after_seq: int) -> list[bytes] | None:
        keys = [self._keys.group(group_id, ":state"), self._keys.group(group_id, ":log")]
        events = await self._conn.scripts.history(keys=keys, args=[epoch, after_seq])
        return None if events is None else [as_bytes(data) for data in events]

    async def recall(self, group_id: str, key: str) -> bytes | None:
        value = await self._conn.redis.get(self._keys.answer(group_id, key))
        return None if value is None else as_bytes(value)

    async def remember(self, group_id: str, item: Remembered) -> None:
        await self._conn.redis.set(self._keys.answer(group_id, item.key), item.answer, px=ms(item.ttl_s))

    async def positions(self, group_ids: list[str]) -> list[tuple[str, int] | None]:
        """The stored (epoch, seq) of each group, in one round trip (the broker's catch-up)."""
        async with self._conn.redis.pipeline(transaction=False) as pipe:
            for group_id in group_ids:
                pipe.hmget(self._keys.group(group_id, ":state"), ["epoch", "seq"])
            rows = await pipe.execute()
        return [None if epoch is None or seq is None else (text(epoch), int(seq)) for epoch, seq in rows]
