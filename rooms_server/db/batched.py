"""Group commit for small independent writes on SQLite: the joins of a storm, one transaction a batch.

SQLite takes one writer at a time, and a join's COMMIT (writing its pages to the WAL) cost more than
its half-dozen statements: ~300 µs of a phone's ~2.7 ms of server CPU in a join storm
(docs/BENCHMARKS.md, *Join storm*). Writes queued while a batch commits go together in the next one
(``group_commit.GroupQueues``, as a room's commands do), each in a SAVEPOINT of the batch's
transaction: one that raises (an invite used up a moment ago, a conflict) is rolled back alone and
fails its own caller alone, while the others commit. Every caller gets its result only after the
COMMIT, so a reply still means stored; when the COMMIT fails, every write of the batch fails with it.

On PostgreSQL each write is a transaction of its own: its writers do not queue for one lock, and a
savepoint costs the round trips a transaction does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar, cast

from sqlalchemy.ext.asyncio import AsyncConnection

from rooms_server.db.sqlite_lane import SqliteTransaction, savepoint
from rooms_server.group_commit import GroupQueues, Pending

if TYPE_CHECKING:
    from rooms_server.db.session import Database, Direct

R = TypeVar("R")
Write = Callable[["Direct"], Awaitable[Any]]

MAX_BATCH = 64  # writes of one batch: bounds how long one batch holds the writer's turn
_ONE_QUEUE = "sqlite"  # one writer per file, so one queue, whatever the rooms


class BatchedWrites:
    """``run(write)``: ``write`` in a transaction, committed with the writes queued beside it."""

    def __init__(self, db: Database, *, batch: bool, max_batch: int = MAX_BATCH) -> None:
        self.db = db
        self.batch = batch
        self._queues: GroupQueues[Write, Any] = GroupQueues(self._run_batch, _any_two, max_batch)

    async def run(self, write: Callable[[Direct], Awaitable[R]]) -> R:
        if not self.batch:
            async with self.db.write_core() as tx:
                return await write(tx)
        return cast(R, await self._queues.submit(_ONE_QUEUE, write))

    async def _run_batch(self, _queue: str, batch: list[Pending[Write, Any]]) -> None:
        stored: list[tuple[Pending[Write, Any], Any]] = []
        async with self.db.write_core() as tx:
            for pending in batch:
                if pending.future.done():  # its caller gave up before its turn: nothing to store
                    continue
                try:
                    async with _nested(tx):
                        result = await pending.ask(tx)
                except Exception as exc:
                    pending.fail(exc)
                else:
                    stored.append((pending, result))
        # Committed (a failed COMMIT raised: GroupQueues fails every caller still waiting).
        for pending, result in stored:
            pending.resolve(result)


def _any_two(_first: Write, _second: Write) -> bool:
    return True


@asynccontextmanager
async def _nested(tx: Direct) -> AsyncIterator[None]:
    if isinstance(tx, SqliteTransaction):
        async with savepoint(tx):
            yield
    else:
        assert isinstance(tx, AsyncConnection)
        async with tx.begin_nested():
            yield
