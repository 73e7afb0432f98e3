"""The bounded waiting line per model: a few requests generate, a bounded number wait, FIFO.

When the waiting line is full the caller is told at once (503 + Retry-After) rather than
queued without limit: accepted work is work we can finish.

Two classes of work share it. Interactive requests (the default) count only against each
other: up to `max_concurrency` of them run whatever batch work holds, because the engine
pauses or preempts batch sequences for them. Batch work (a `batch_priority()` context, set by
the batch runner around a line) enters only into idle capacity: no interactive request
waiting and fewer than `max_concurrency` running in all. Its own concurrency and rate caps
live with the batch runner, which also bounds how many batch lines wait here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from enum import Enum


class Priority(Enum):
    INTERACTIVE = "interactive"
    BATCH = "batch"


# Read by the waiting line and the in-process engine for the request being served; a context
# variable, so the one generation path needs no extra parameter for it.
current_priority: ContextVar[Priority] = ContextVar("warden_priority",
                                                    default=Priority.INTERACTIVE)


@contextlib.contextmanager
def batch_priority() -> Iterator[None]:
    """Everything awaited inside runs as batch work: idle capacity only, preemptible."""
    token = current_priority.set(Priority.BATCH)
    try:
        yield
    finally:
        current_priority.reset(token)


class QueueFull(Exception):
    def __init__(self, waiting: int, retry_after_s: int) -> None:
        super().__init__(f"{waiting} requests already waiting")
        self.waiting = waiting
        self.retry_after_s = retry_after_s


@dataclass
class Slot:
    """A place in the engine, held from admission until the generation closes."""

    line: WaitingLine
    priority: Priority = Priority.INTERACTIVE
    released: bool = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.line.free_one(self.priority)


class WaitingLine:
    def __init__(self, max_concurrency: int, queue_size: int,
                 expected_service_s: float = 2.0) -> None:
        self.max_concurrency = max_concurrency
        self.queue_size = queue_size
        self.waiting = 0            # interactive requests waiting (the bounded part)
        self.running = 0            # everything holding a slot, batch included
        self.batch_waiting = 0
        self.batch_running = 0
        self._waiters: dict[Priority, deque[asyncio.Future[None]]] = {
            Priority.INTERACTIVE: deque(), Priority.BATCH: deque()}
        self._room: list[asyncio.Future[None]] = []  # room_for_batch() callers
        self._expected_service_s = expected_service_s

    def retry_after_s(self) -> int:
        """A rough time until a place frees up: the line ahead, served max_concurrency at once."""
        ahead = self.waiting + self.running - self.batch_running
        return max(1, round(ahead * self._expected_service_s / self.max_concurrency))

    def _may_enter(self, priority: Priority) -> bool:
        if priority is Priority.INTERACTIVE:
            return self.running - self.batch_running < self.max_concurrency
        return not self._waiters[Priority.INTERACTIVE] and self.running < self.max_concurrency

    def _admit(self, priority: Priority) -> None:
        self.running += 1
        if priority is Priority.BATCH:
            self.batch_running += 1

    async def acquire(self, timeout_s: float) -> Slot:
        priority = current_priority.get()
        interactive = priority is Priority.INTERACTIVE
        if interactive and self.waiting >= self.queue_size:
            raise QueueFull(self.waiting, self.retry_after_s())
        waiters = self._waiters[priority]
        if not waiters and self._may_enter(priority):
            self._admit(priority)
            return Slot(self, priority)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiters.append(future)
        self._count_waiting(interactive, +1)
        try:
            async with asyncio.timeout(timeout_s):
                await future
        except BaseException:
            if future.done() and not future.cancelled():
                self.free_one(priority)  # granted as we gave up: hand it on
            else:
                if future in waiters:
                    waiters.remove(future)
                self._wake()  # a batch waiter may have been held back by this one
            raise
        finally:
            self._count_waiting(interactive, -1)
        return Slot(self, priority)

    async def room_for_batch(self) -> None:
        """Return once a batch line could enter now. The batch runner waits here, without a
        deadline, before it starts a line, whose own wait for a place has one."""
        while self._waiters[Priority.BATCH] or not self._may_enter(Priority.BATCH):
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._room.append(future)
            try:
                await future
            finally:
                if future in self._room:
                    self._room.remove(future)

    def _count_waiting(self, interactive: bool, delta: int) -> None:
        if interactive:
            self.waiting += delta
        else:
            self.batch_waiting += delta

    def observe_service_time(self, seconds: float) -> None:
        # An exponential average keeps Retry-After honest as load and prompt sizes change.
        self._expected_service_s = 0.8 * self._expected_service_s + 0.2 * seconds

    def free_one(self, priority: Priority = Priority.INTERACTIVE) -> None:
        self.running -= 1
        if priority is Priority.BATCH:
            self.batch_running -= 1
        self._wake()

    def _wake(self) -> None:
        """Grant places in order: interactive waiters first, then batch, each FIFO."""
        for priority in (Priority.INTERACTIVE, Priority.BATCH):
            waiters = self._waiters[priority]
            while waiters and self._may_enter(priority):
                future = waiters.popleft()
                if not future.done():
                    self._admit(priority)
                    future.set_result(None)
        if self._room and not self._waiters[Priority.BATCH] and self._may_enter(Priority.BATCH):
            room, self._room = self._room, []
            for future in room:
                if not future.done():
                    future.set_result(None)
