"""The bounded waiting line in front of an engine: FIFO, bounded, honest Retry-After."""

from __future__ import annotations

import asyncio

import pytest

from warden.engine.waiting_line import QueueFull, WaitingLine


def test_places_then_a_bounded_line_then_queue_full() -> None:
    async def scenario() -> None:
        line = WaitingLine(max_concurrency=2, queue_size=1, expected_service_s=4.0)
        first, second = await line.acquire(1), await line.acquire(1)
        assert line.running == 2
        waiter = asyncio.ensure_future(line.acquire(5))
        await asyncio.sleep(0.01)
        assert line.waiting == 1
        with pytest.raises(QueueFull) as full:
            await line.acquire(1)
        # three ahead (two running, one waiting), served two at a time, ~4 s each
        assert full.value.waiting == 1 and full.value.retry_after_s == 6
        first.release()
        third = await asyncio.wait_for(waiter, 1)
        assert line.running == 2 and line.waiting == 0
        second.release()
        third.release()
        third.release()  # idempotent: a slot is freed once
        assert line.running == 0

    asyncio.run(scenario())


def test_a_waiter_that_times_out_leaves_the_line() -> None:
    async def scenario() -> None:
        line = WaitingLine(max_concurrency=1, queue_size=4)
        held = await line.acquire(1)
        with pytest.raises(TimeoutError):
            await line.acquire(0.05)
        assert line.waiting == 0
        held.release()
        (await line.acquire(1)).release()

    asyncio.run(scenario())


def test_first_come_first_served() -> None:
    async def scenario() -> list[int]:
        line = WaitingLine(max_concurrency=1, queue_size=10)
        held = await line.acquire(1)
        order: list[int] = []

        async def take(i: int) -> None:
            slot = await line.acquire(5)
            order.append(i)
            slot.release()

        tasks = [asyncio.ensure_future(take(i)) for i in range(5)]
        await asyncio.sleep(0.01)
        held.release()
        await asyncio.gather(*tasks)
        return order

    assert asyncio.run(scenario()) == [0, 1, 2, 3, 4]


def test_retry_after_follows_observed_service_time() -> None:
    line = WaitingLine(max_concurrency=1, queue_size=1, expected_service_s=1.0)
    line.waiting = 1
    before = line.retry_after_s()
    for _ in range(20):
        line.observe_service_time(10.0)
    assert line.retry_after_s() > before
