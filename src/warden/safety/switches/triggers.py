"""Automatic kill-switch triggers: the pure part (sliding windows and the firing rule).

No clock, no database: callers pass `now` (seconds since the epoch) and the events. The
runner (trigger_runner.py) feeds these from the request path and the index versions and acts
on the result.

Rule: a trigger fires when its window holds at least `min_events` events and the measured
value is at or above `threshold`. Only evidence newer than `since` counts: the runner passes
the time its switch was last turned on, so an admin turning a switch back on starts from a
clean slate instead of being overruled by the evidence that tripped it.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from warden.config.switches import RATE_SIGNALS, TriggerConfig

# Enough for thousands of requests per second over a minute; past it the oldest events go
# first, so the rate describes a shorter, recent stretch (still a fair estimate).
MAX_EVENTS = 200_000
_EPS = 1e-9


@dataclass(frozen=True)
class Measurement:
    trigger: str
    signal: str
    switch: str
    value: float            # a fraction for rate signals, a chunk count for poisoned_chunks
    events: int             # requests (rate signals) or index versions (poisoned_chunks)
    threshold: float
    min_events: int
    window_s: float

    @property
    def fires(self) -> bool:
        return crosses(self.value, self.events, self.threshold, self.min_events)

    def describe(self) -> str:
        rate = self.signal in RATE_SIGNALS
        shown = f"{self.value:.3f}" if rate else f"{self.value:g}"
        return (f"{self.signal} = {shown} (threshold {self.threshold:g}) over the last "
                f"{self.window_s:g} s, {self.events} {'request' if rate else 'index version'}"
                f"{'' if self.events == 1 else 's'} in the window")


def crosses(value: float, events: int, threshold: float, min_events: int) -> bool:
    # The epsilon keeps 3/10 >= 0.3 true despite binary floating point.
    return events >= min_events and value >= threshold - _EPS


class RateWindow:
    """(time, bad) observations for one signal, kept for the longest window that uses it."""

    def __init__(self, keep_s: float, max_events: int = MAX_EVENTS) -> None:
        self.keep_s = keep_s
        self._events: deque[tuple[float, bool]] = deque(maxlen=max_events)
        self._lock = threading.Lock()  # observe() runs on the event loop and in threads

    def add(self, bad: bool, now: float) -> None:
        with self._lock:
            self._events.append((now, bad))
            self._expire(now)

    def _expire(self, now: float) -> None:
        horizon = now - self.keep_s
        while self._events and self._events[0][0] <= horizon:
            self._events.popleft()

    def counts(self, now: float, window_s: float, since: float | None = None
               ) -> tuple[int, int]:
        """(events, bad events) in (now - window_s, now], and after `since` if given."""
        start = now - window_s if since is None else max(now - window_s, since)
        total = bad = 0
        with self._lock:
            self._expire(now)
            for ts, is_bad in reversed(self._events):
                if ts <= start:
                    break
                if ts <= now:
                    total += 1
                    bad += is_bad
        return total, bad


def measure_rate(trigger: TriggerConfig, window: RateWindow, now: float,
                 since: float | None = None) -> Measurement:
    total, bad = window.counts(now, trigger.window_s, since)
    return Measurement(trigger.name, trigger.signal, trigger.switch,
                       bad / total if total else 0.0, total, trigger.threshold,
                       trigger.min_events, trigger.window_s)


def measure_poisoned(trigger: TriggerConfig, versions: Iterable[tuple[datetime, int]],
                     now: float, since: float | None = None) -> Measurement:
    """`versions`: (created_at, quarantined chunk count) of every ready index version."""
    start = now - trigger.window_s if since is None else max(now - trigger.window_s, since)
    inside = [count for created, count in versions if start < created.timestamp() <= now]
    return Measurement(trigger.name, trigger.signal, trigger.switch, float(sum(inside)),
                       len(inside), trigger.threshold, trigger.min_events, trigger.window_s)
