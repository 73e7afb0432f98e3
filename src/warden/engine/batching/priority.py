"""What the scheduler measures of interactive work while batch work shares the engine.

Engine-side time to first token and inter-token gaps of interactive sequences, split by
whether batch (low-priority) sequences were in the engine at that moment, as cumulative
histogram buckets. Plain numbers, no Prometheus: the engine layer knows nothing of telemetry;
warden.batch.metrics reads `snapshot()` at scrape time.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Literal

LatencyKind = Literal["ttft", "itl"]
LATENCY_BUCKETS = (0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass(frozen=True)
class HistogramSnapshot:
    buckets: tuple[tuple[float, int], ...]   # (upper bound, cumulative count); +Inf last
    total: float
    count: int


class PriorityLatency:
    """Thread-safe: observed on the scheduler thread, read by a metrics scrape."""

    def __init__(self, bounds: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self._bounds = bounds
        self._lock = threading.Lock()
        self._counts: dict[tuple[LatencyKind, bool], list[int]] = {}
        self._sums: dict[tuple[LatencyKind, bool], float] = {}

    def observe(self, kind: LatencyKind, seconds: float, batch_active: bool) -> None:
        key = (kind, batch_active)
        index = next((i for i, b in enumerate(self._bounds) if seconds <= b), len(self._bounds))
        with self._lock:
            counts = self._counts.setdefault(key, [0] * (len(self._bounds) + 1))
            counts[index] += 1
            self._sums[key] = self._sums.get(key, 0.0) + seconds

    def snapshot(self) -> dict[tuple[LatencyKind, bool], HistogramSnapshot]:
        with self._lock:
            items = [(key, list(counts), self._sums[key]) for key, counts in self._counts.items()]
        out: dict[tuple[LatencyKind, bool], HistogramSnapshot] = {}
        for key, counts, total in items:
            running, buckets = 0, []
            for bound, count in zip((*self._bounds, float("inf")), counts, strict=True):
                running += count
                buckets.append((bound, running))
            out[key] = HistogramSnapshot(tuple(buckets), total, running)
        return out
