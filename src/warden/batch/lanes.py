"""How hard batch work may push each model: a cap on lines in flight, and for an upstream
(a provider or a vLLM cluster) a cap on the rate lines start at, separate from interactive
traffic (the go-live seed's "max in flight" and "conservative RPS limits")."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from warden.config import WardenConfig


class Lane:
    def __init__(self, max_in_flight: int, rps: float | None = None, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.max_in_flight = max_in_flight
        self.rps = rps
        self.in_flight = 0
        self._slots = asyncio.Semaphore(max_in_flight)
        self._pace = asyncio.Lock()
        self._next_start = 0.0
        self._clock = clock
        self._sleep = sleep

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with self._slots:
            if self.rps is not None:
                async with self._pace:  # starts leave one at a time, 1/rps apart
                    wait = self._next_start - self._clock()
                    if wait > 0:
                        await self._sleep(wait)
                    self._next_start = max(self._clock(), self._next_start) + 1 / self.rps
            self.in_flight += 1
            try:
                yield
            finally:
                self.in_flight -= 1


class Lanes:
    """One lane per configured model; a line naming no known model uses the first's (the
    line then gets the same 404 an interactive request would)."""

    def __init__(self, config: WardenConfig) -> None:
        batch = config.batch
        self._lanes: dict[str, Lane] = {}
        for model in config.models:
            if model.backend == "upstream":
                lane = Lane(batch.upstream_max_in_flight, batch.upstream_rps)
            else:
                lane = Lane(batch.max_in_flight or model.engine_concurrency())
            self._lanes[model.name] = lane
        self._default = self._lanes[config.models[0].name]

    def for_model(self, model: str | None) -> Lane:
        return self._lanes.get(model or "", self._default)

    @property
    def widest(self) -> int:
        return max(lane.max_in_flight for lane in self._lanes.values())
