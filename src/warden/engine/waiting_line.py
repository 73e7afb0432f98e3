"""The bounded waiting line per model: a few requests generate, a bounded number wait, FIFO.

When the waiting line is full the caller is told at once (503 + Retry-After) rather than
queued without limit: accepted work is work we can finish.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass


class QueueFull(Exception):
    def __init__(self, waiting: int, retry_after_s: int) -> None:
        super().__init__(f"{waiting} requests already waiting")
        self.waiting = waiting
        self.retry_after_s = retry_after_s


@dataclass
class Slot:
    """A place in the engine, held from admission until the generation closes."""

    line: WaitingLine
    released: bool = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.line.free_one()


class WaitingLine:
    def __init__(self, max_concurrency: int, queue_size: int,
                 expected_service_s: float = 2.0) -> None:
        self.max_concurrency = max_concurrency
        self.queue_size = queue_size
        self.waiting = 0
        self.running = 0
        self._semaphore = asyncio.Semaphore(max_concurrency)
        self._expected_service_s = expected_service_s

    def retry_after_s(self) -> int:
        """A rough time until a place frees up: the line ahead, served max_concurrency at once."""
        ahead = self.waiting + self.running
        return max(1, round(ahead * self._expected_service_s / self.max_concurrency))

    async def acquire(self, timeout_s: float) -> Slot:
        if self.waiting >= self.queue_size:
            raise QueueFull(self.waiting, self.retry_after_s())
        self.waiting += 1
        try:
            async with asyncio.timeout(timeout_s):
                await self._semaphore.acquire()
        finally:
            self.waiting -= 1
        self.running += 1
        return Slot(self)

    def observe_service_time(self, seconds: float) -> None:
        # An exponential average keeps Retry-After honest as load and prompt sizes change.
        self._expected_service_s = 0.8 * self._expected_service_s + 0.2 * seconds

    def free_one(self) -> None:
        self.running -= 1
        self._semaphore.release()
