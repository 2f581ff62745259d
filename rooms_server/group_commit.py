"""Group commit: the commands of one group that arrive while its last batch commits wait, then go together.

A command of a group joins that group's queue; when nobody is working on the group, a leader task
starts and takes batches off the queue until it is empty. Each batch pays the group lock, the SQL
transaction and the engine commit once instead of once per command, which is what lets a busy room
take thousands of commands per second (a database's group commit, per room). The leader is a task
of its own, not one of the callers: a caller that gives up (its socket closed) never strands the
commands queued behind it. ``in_queue`` tells the socket's worker that its command has its place in
the group's order, so it may start the next one (web/ws_loop.py pipelines on it).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")  # what a command asks
R = TypeVar("R")  # what it gets back

MAX_BATCH = 128  # commands of one batch: bounds how long one batch holds the group's lock

# Set by a socket's worker around one command: resolved once that command has its place in its
# group's queue (or finished without one), so the worker may start the next one while this commits.
in_queue: ContextVar[asyncio.Future[None] | None] = ContextVar("in_queue", default=None)


def placed(signal: asyncio.Future[None]) -> None:
    """Resolve an ``in_queue`` signal (once; later calls do nothing)."""
    if not signal.done():
        signal.set_result(None)


@dataclass(slots=True)
class Pending(Generic[T, R]):
    """One queued command and the future its caller awaits."""

    ask: T
    future: asyncio.Future[R] = field(default_factory=lambda: asyncio.get_running_loop().create_future())

    def resolve(self, result: R) -> None:
        if not self.future.done():  # a caller that gave up cancelled its future
            self.future.set_result(result)

    def fail(self, exc: BaseException) -> None:
        if not self.future.done():
            self.future.set_exception(exc)


RunBatch = Callable[[str, list[Pending[T, R]]], Awaitable[None]]
Joins = Callable[[T, T], bool]  # whether the second command may share a batch with the first


class GroupQueues(Generic[T, R]):
    """One FIFO queue and at most one leader per group; ``run_batch`` must resolve every future it gets."""

    def __init__(self, run_batch: RunBatch[T, R], joins: Joins[T], max_batch: int = MAX_BATCH) -> None:
        self._run_batch = run_batch
        self._joins = joins
        self._max_batch = max_batch
        self._queues: dict[str, deque[Pending[T, R]]] = {}
        self._leaders: dict[str, asyncio.Task[None]] = {}

    async def submit(self, group_id: str, ask: T) -> R:
        pending: Pending[T, R] = Pending(ask)
        self._queues.setdefault(group_id, deque()).append(pending)
        if group_id not in self._leaders:
            self._leaders[group_id] = asyncio.create_task(self._lead(group_id), name=f"group-commit-{group_id}")
        signal = in_queue.get()
        if signal is not None:
            placed(signal)
        return await pending.future

    def _next_batch(self, queue: deque[Pending[T, R]]) -> list[Pending[T, R]]:
        batch = [queue.popleft()]
        while queue and len(batch) < self._max_batch and self._joins(batch[0].ask, queue[0].ask):
            batch.append(queue.popleft())
        return [p for p in batch if not p.future.done()]  # nobody waits for a cancelled one: skip it

    async def _gather(self, queue: deque[Pending[T, R]]) -> None:
        """Let the commands already on their way join the batch: yield to the loop while the queue
        still grows (a socket pipelining its commands adds one every other pass of the loop).

        With SQLite on the loop's thread (db/session.py) a batch's commit never yields, so without
        this the next batch would start with whatever one pass had queued: one command, and every
        command paid the whole commit alone. Two passes with nothing new end the wait.
        """
        quiet = 0
        for _ in range(2 * self._max_batch):
            before = len(queue)
            await asyncio.sleep(0)
            quiet = quiet + 1 if len(queue) == before else 0
            if quiet >= 2 or len(queue) >= self._max_batch:
                return

    async def _lead(self, group_id: str) -> None:
        queue = self._queues[group_id]
        try:
            while queue:
                await self._gather(queue)
                batch = self._next_batch(queue)
                if batch:
                    await self._run(group_id, batch)
        finally:
            del self._leaders[group_id]
            if queue:  # cancelled with commands left (shutdown): nobody will run them
                for pending in queue:
                    pending.fail(asyncio.CancelledError())
                queue.clear()
            del self._queues[group_id]

    async def _run(self, group_id: str, batch: list[Pending[T, R]]) -> None:
        try:
            await self._run_batch(group_id, batch)
        except BaseException as exc:
            # run_batch answers each command itself; whatever escapes it fails those still waiting.
            waiting = [p for p in batch if not p.future.done()]
            for pending in waiting:
                pending.fail(exc)
            if not waiting and isinstance(exc, Exception):
                log.error("group %s: a batch failed after answering its commands", group_id, exc_info=exc)
            if not isinstance(exc, Exception):
                raise
