"""The waiting line with two classes of work: interactive first, batch into idle capacity."""

from __future__ import annotations

import asyncio

import pytest

from warden.engine.waiting_line import Priority, QueueFull, Slot, WaitingLine, batch_priority


async def batch_acquire(line: WaitingLine, timeout_s: float = 5) -> Slot:
    with batch_priority():
        return await line.acquire(timeout_s)


def test_interactive_requests_are_not_held_back_by_batch_slots() -> None:
    async def scenario() -> None:
        line = WaitingLine(max_concurrency=2, queue_size=4)
        held = [await batch_acquire(line), await batch_acquire(line)]
        assert line.running == 2 and line.batch_running == 2
        # the engine pauses or preempts batch sequences, so interactive work goes in at once
        live = await asyncio.wait_for(line.acquire(1), 0.5)
        assert live.priority is Priority.INTERACTIVE and line.running == 3
        for slot in (*held, live):
            slot.release()
        assert line.running == 0 and line.batch_running == 0

    asyncio.run(scenario())


def test_batch_enters_only_idle_capacity_and_after_waiting_interactive_work() -> None:
    async def scenario() -> list[str]:
        line = WaitingLine(max_concurrency=1, queue_size=4)
        order: list[str] = []
        first = await line.acquire(1)

        async def take(name: str, batch: bool) -> None:
            slot = await (batch_acquire(line) if batch else line.acquire(5))
            order.append(name)
            await asyncio.sleep(0.01)
            slot.release()

        tasks = [asyncio.ensure_future(take("batch-1", True))]
        await asyncio.sleep(0.01)
        tasks.append(asyncio.ensure_future(take("live-1", False)))
        tasks.append(asyncio.ensure_future(take("batch-2", True)))
        tasks.append(asyncio.ensure_future(take("live-2", False)))
        await asyncio.sleep(0.01)
        assert line.batch_waiting == 2 and line.waiting == 2
        first.release()
        await asyncio.gather(*tasks)
        return order

    # the batch line that came first still waits for both interactive requests
    assert asyncio.run(scenario()) == ["live-1", "live-2", "batch-1", "batch-2"]


def test_batch_waiters_never_fill_the_bounded_interactive_line() -> None:
    async def scenario() -> None:
        line = WaitingLine(max_concurrency=1, queue_size=1)
        held = await line.acquire(1)
        batch = [asyncio.ensure_future(batch_acquire(line)) for _ in range(5)]
        await asyncio.sleep(0.01)
        waiter = asyncio.ensure_future(line.acquire(5))  # one interactive place is still free
        await asyncio.sleep(0.01)
        with pytest.raises(QueueFull):
            await line.acquire(1)
        held.release()
        (await asyncio.wait_for(waiter, 1)).release()
        for task in batch:
            (await asyncio.wait_for(task, 1)).release()
        assert line.running == 0

    asyncio.run(scenario())


def test_a_batch_waiter_that_times_out_leaves_no_trace() -> None:
    async def scenario() -> None:
        line = WaitingLine(max_concurrency=1, queue_size=1)
        held = await line.acquire(1)
        with pytest.raises(TimeoutError):
            await batch_acquire(line, timeout_s=0.05)
        assert line.batch_waiting == 0
        held.release()
        (await batch_acquire(line)).release()
        assert line.running == 0 and line.batch_running == 0

    asyncio.run(scenario())


def test_room_for_batch_waits_for_idle_capacity_without_taking_it() -> None:
    async def scenario() -> None:
        line = WaitingLine(max_concurrency=1, queue_size=4)
        await asyncio.wait_for(line.room_for_batch(), 0.1)  # idle: room at once
        held = await line.acquire(1)
        room = asyncio.ensure_future(line.room_for_batch())
        await asyncio.sleep(0.01)
        assert not room.done()
        held.release()
        await asyncio.wait_for(room, 0.5)
        assert line.running == 0  # waiting for room takes no place

    asyncio.run(scenario())
