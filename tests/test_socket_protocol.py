"""rooms_server.socket_protocol: the Inbox and the Flag that stand in for uvicorn's asyncio.Queue and
asyncio.Event on a room socket (asyncio's own rules, nothing held while idle). The protocol itself
on real uvicorn is tested in tests/test_fast_path.py (the socket works, the fast path stays on, an
accepted socket keeps no handshake)."""

from __future__ import annotations

import asyncio

import pytest

from rooms_server.socket_protocol import Flag, Inbox


async def test_inbox_gives_items_in_order_and_keeps_no_deque_once_empty() -> None:
    inbox: Inbox[int] = Inbox()
    assert inbox.empty() and inbox._items is None
    for n in range(3):
        inbox.put_nowait(n)
    assert not inbox.empty() and inbox.qsize() == 3
    assert [await inbox.get() for _ in range(3)] == [0, 1, 2]
    assert inbox.empty() and inbox._items is None


async def test_inbox_a_waiting_get_is_woken_by_a_put() -> None:
    inbox: Inbox[str] = Inbox()
    getter = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    assert not getter.done()
    inbox.put_nowait("connect")
    assert await asyncio.wait_for(getter, 5) == "connect"
    assert inbox._getters == []


async def test_inbox_wakes_one_getter_per_item_in_arrival_order() -> None:
    inbox: Inbox[int] = Inbox()
    first, second = asyncio.create_task(inbox.get()), asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    inbox.put_nowait(1)
    assert await asyncio.wait_for(first, 5) == 1
    await asyncio.sleep(0)
    assert not second.done()
    inbox.put_nowait(2)
    assert await asyncio.wait_for(second, 5) == 2


async def test_inbox_a_cancelled_waiting_get_is_forgotten() -> None:
    inbox: Inbox[int] = Inbox()
    getter = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    getter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await getter
    assert inbox._getters == []
    inbox.put_nowait(7)
    assert await inbox.get() == 7


async def test_inbox_a_get_cancelled_after_its_wake_passes_the_item_on() -> None:
    # As asyncio.Queue: woken, then cancelled before it ran, the getter must not take the item
    # with it; the next getter gets it.
    inbox: Inbox[int] = Inbox()
    first, second = asyncio.create_task(inbox.get()), asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    inbox.put_nowait(1)  # wakes first
    first.cancel()  # before first runs
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await asyncio.wait_for(second, 5) == 1


async def test_flag_wait_returns_at_once_while_set() -> None:
    flag = Flag(True)
    assert flag.is_set()
    assert await asyncio.wait_for(flag.wait(), 5) is True
    assert flag._waiters is None


async def test_flag_wait_blocks_until_set_and_then_holds_no_waiter() -> None:
    flag = Flag(True)
    flag.clear()
    waiters = [asyncio.create_task(flag.wait()) for _ in range(2)]
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters) and not flag.is_set()
    flag.set()
    assert await asyncio.wait_for(asyncio.gather(*waiters), 5) == [True, True]
    assert flag._waiters is None


async def test_flag_a_cancelled_waiter_is_forgotten() -> None:
    flag = Flag()
    waiter = asyncio.create_task(flag.wait())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert not flag._waiters
    flag.set()
    assert flag.is_set()
