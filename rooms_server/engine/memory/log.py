"""``memory://`` state log and broker: the log publishes each commit's events through the broker."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

from .._util import call_safely, new_epoch
from ..base import Broker, EventCallback, Remembered, SignalCallback, StateLog, Stored

SWEEP_AT = 1024  # entries; expired ones are dropped lazily, and in bulk past this size


class MemoryBroker(Broker):
    """Delivers events to ``on_event`` inside the committing call, so delivery keeps seq order."""

    def __init__(self, *, on_event: EventCallback, on_signal: SignalCallback | None = None) -> None:
        self._on_event = on_event
        self._on_signal = on_signal
        self._subscribers: dict[str, int] = {}

    async def subscribe(self, group_id: str) -> None:
        self._subscribers[group_id] = self._subscribers.get(group_id, 0) + 1

    async def unsubscribe(self, group_id: str) -> None:
        refs = self._subscribers.get(group_id, 0) - 1
        if refs > 0:
            self._subscribers[group_id] = refs
        else:
            self._subscribers.pop(group_id, None)

    async def broadcast(self, message: bytes) -> None:
        if self._on_signal is not None:
            call_safely(self._on_signal, message)

    def publish(self, group_id: str, epoch: str, seq: int, events: list[bytes]) -> None:
        """Deliver ``events`` as seq+1..seq+n when the group has subscribers (sync: part of a commit)."""
        if self._subscribers.get(group_id):
            for offset, data in enumerate(events, start=1):
                call_safely(self._on_event, group_id, epoch, seq + offset, data)

    def clear(self) -> None:
        """Drop every subscription (the engine was closed)."""
        self._subscribers.clear()


@dataclass(slots=True)
class _Group:
    stored: Stored
    log: deque[tuple[int, bytes]]


class MemoryStateLog(StateLog):
    """States and logs in dicts and deques. Commits never await, so each one is atomic on the event loop."""

    def __init__(self, broker: MemoryBroker, *, history_size: int = 1000) -> None:
        if history_size < 1:
            raise ValueError("history_size must be at least 1")
        self._broker = broker
        self._history_size = history_size
        self._groups: dict[str, _Group] = {}
        self._answers: dict[str, tuple[bytes, float]] = {}

    async def get(self, group_id: str) -> Stored | None:
        group = self._groups.get(group_id)
        return None if group is None else group.stored

    async def create(self, group_id: str, state: bytes) -> Stored:
        group = self._groups.get(group_id)
        if group is None:
            group = _Group(Stored(new_epoch(), 0, state), deque(maxlen=self._history_size))
            self._groups[group_id] = group
        return group.stored

    async def reset(self, group_id: str, state: bytes) -> Stored:
        self._groups.pop(group_id, None)
        return await self.create(group_id, state)

    async def delete(self, group_id: str) -> None:
        self._groups.pop(group_id, None)

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
        group = self._groups.get(group_id)
        if group is None or (group.stored.epoch, group.stored.seq) != (epoch, seq):
            return False
        if remember is not None:
            self._keep(group_id, remember)
        for offset, data in enumerate(events, start=1):
            group.log.append((seq + offset, data))
        group.stored = Stored(epoch, seq + len(events), state)
        self._broker.publish(group_id, epoch, seq, events)
        return True

    async def history(self, group_id: str, epoch: str, after_seq: int) -> list[bytes] | None:
        group = self._groups.get(group_id)
        if group is None or group.stored.epoch != epoch or not 0 <= after_seq <= group.stored.seq:
            return None
        if after_seq == group.stored.seq:
            return []
        if not group.log or group.log[0][0] > after_seq + 1:
            return None  # trimmed: a partial history would look like a complete one
        return [data for seq, data in group.log if seq > after_seq]

    async def recall(self, group_id: str, key: str) -> bytes | None:
        entry = self._answers.get(f"{group_id}:{key}")
        if entry is None or entry[1] <= time.monotonic():
            return None
        return entry[0]

    async def remember(self, group_id: str, item: Remembered) -> None:
        self._keep(group_id, item)

    def _keep(self, group_id: str, item: Remembered) -> None:
        now = time.monotonic()
        if len(self._answers) >= SWEEP_AT:
            self._answers = {k: entry for k, entry in self._answers.items() if entry[1] > now}
        self._answers[f"{group_id}:{item.key}"] = (item.answer, now + item.ttl_s)
