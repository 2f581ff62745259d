"""``GroupQueues`` on its own: batches form from what is queued, even when a batch never yields
(SQLite runs on the loop's thread, so a commit may not give other tasks a turn)."""

from __future__ import annotations

import asyncio

from rooms_server.group_commit import GroupQueues, Pending


class Recorder:
    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    async def run(self, _group_id: str, batch: list[Pending[int, int]]) -> None:
        self.batches.append([p.ask for p in batch])  # no await: a commit that never yields
        for pending in batch:
            pending.resolve(pending.ask * 10)


def always(_first: int, _second: int) -> bool:
    return True


async def test_group_commit_queue_a_pipelining_socket_fills_batches_though_commits_never_yield() -> None:
    """One producer submits a command, then the next one a loop pass later (as a socket's worker
    does once the previous command is queued): the commands still go in batches, not one by one."""
    recorder = Recorder()
    queues: GroupQueues[int, int] = GroupQueues(recorder.run, always, max_batch=16)
    answers: list[asyncio.Future[int]] = []
    for n in range(64):
        answers.append(asyncio.ensure_future(queues.submit("g", n)))
        await asyncio.sleep(0)
    assert [await a for a in answers] == [n * 10 for n in range(64)]
    assert [n for batch in recorder.batches for n in batch] == list(range(64))  # in order, each once
    assert len(recorder.batches) <= 8, recorder.batches  # one by one would be 64 batches
    assert all(len(batch) <= 16 for batch in recorder.batches)


async def test_group_commit_queue_a_lone_command_waits_only_two_passes() -> None:
    recorder = Recorder()
    queues: GroupQueues[int, int] = GroupQueues(recorder.run, always)
    answer = asyncio.ensure_future(queues.submit("g", 7))
    for _ in range(8):  # the task starting, the leader starting, its two quiet passes, the answer back
        await asyncio.sleep(0)
    assert answer.done() and answer.result() == 70
    assert recorder.batches == [[7]]
