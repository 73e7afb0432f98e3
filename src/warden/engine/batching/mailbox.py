"""Events from the scheduler thread to an event loop, delivered once per batch step.

Waking the loop costs a self-pipe write and a trip through its selector; with 8 streams that
was 8 wake-ups per step. Posting into a mailbox and flushing once per step makes it one, and
keeps the loop's share of the GIL (which the scheduler needs between llama.cpp calls) small.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any


class Mailbox:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._pending: list[tuple[asyncio.Queue[Any], Any]] = []

    def post(self, queue: asyncio.Queue[Any], item: Any) -> None:
        with self._lock:
            self._pending.append((queue, item))

    def flush(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
        if batch and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(_deliver, batch)


def _deliver(batch: list[tuple[asyncio.Queue[Any], Any]]) -> None:
    for queue, item in batch:
        queue.put_nowait(item)


class Mailboxes:
    """One mailbox per event loop that has live requests (in practice, one)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._boxes: dict[asyncio.AbstractEventLoop, Mailbox] = {}

    def for_loop(self, loop: asyncio.AbstractEventLoop) -> Mailbox:
        with self._lock:
            box = self._boxes.get(loop)
            if box is None:
                box = self._boxes[loop] = Mailbox(loop)
            return box

    def flush(self) -> None:
        with self._lock:
            boxes = list(self._boxes.items())
        for loop, box in boxes:
            box.flush()
            if loop.is_closed():
                with self._lock:
                    self._boxes.pop(loop, None)
