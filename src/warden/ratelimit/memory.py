"""In-process limiter for a single gateway replica (no ``redis_url`` configured)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from warden.ratelimit.policy import (
    DEFAULT_LEASE_TTL_S,
    Counts,
    Limits,
    Reservation,
    admit,
    day_window,
    decide,
    denial,
    minute_window,
)


@dataclass(slots=True)
class _KeyState:
    minute_window: int
    day_window: int
    requests: int = 0
    minute_tokens: int = 0
    day_tokens: int = 0
    leases: dict[str, float] = field(default_factory=dict)  # reservation id -> expiry time

    def roll(self, now: float) -> None:
        """Move to the current windows; older windows are simply dropped."""
        if self.minute_window != (current := minute_window(now)):
            self.minute_window, self.requests, self.minute_tokens = current, 0, 0
        if self.day_window != (current := day_window(now)):
            self.day_window, self.day_tokens = current, 0
        for lease_id in [i for i, expiry in self.leases.items() if expiry <= now]:
            del self.leases[lease_id]


class MemoryLimiter:
    """Counters in a dict, guarded by one lock so check-and-increment is atomic.

    A ``threading.Lock`` rather than an ``asyncio.Lock``: the critical section never awaits,
    so it cannot interleave with other tasks, and it also stays correct if a sync caller in
    another thread uses the same limiter. ``clock`` is injectable so tests can roll windows.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        lease_ttl_s: float = DEFAULT_LEASE_TTL_S,
    ) -> None:
        self._clock = clock
        self._lease_ttl_s = lease_ttl_s
        self._lock = threading.Lock()
        self._keys: dict[str, _KeyState] = {}
        self._swept_minute: int | None = None

    async def reserve(self, key_id: str, limits: Limits, tokens: int) -> Reservation:
        with self._lock:
            now = self._clock()
            self._sweep(now)
            state = self._keys.get(key_id)
            if state is None:
                state = _KeyState(minute_window(now), day_window(now))
            else:
                state.roll(now)
            counts = Counts(
                state.requests, state.minute_tokens, state.day_tokens, len(state.leases)
            )
            decision = decide(counts, limits, tokens, now)
            if not decision.allowed:
                raise denial(decision, limits, tokens)
            state.requests += 1
            state.minute_tokens += tokens
            state.day_tokens += tokens
            lease_id = uuid.uuid4().hex
            state.leases[lease_id] = now + self._lease_ttl_s
            self._keys[key_id] = state
            return admit(key_id, tokens, limits, decision, lease_id)

    async def reconcile(self, reservation: Reservation, actual_tokens: int) -> None:
        if actual_tokens < 0:
            raise ValueError(f"actual_tokens must be >= 0, got {actual_tokens}")
        with self._lock:
            state = self._keys.get(reservation.key_id)
            # The lease doubles as the "not reconciled yet" marker, so a second call is a no-op.
            if state is None or state.leases.pop(reservation.id, None) is None:
                return
            delta = actual_tokens - reservation.tokens
            # A window that has rolled over is gone; adjusting it would change nothing.
            if state.minute_window == reservation.minute_window:
                state.minute_tokens = max(0, state.minute_tokens + delta)
            if state.day_window == reservation.day_window:
                state.day_tokens = max(0, state.day_tokens + delta)

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        with self._lock:
            self._keys.clear()

    def _sweep(self, now: float) -> None:
        """Forget idle keys, at most once a minute, so memory tracks keys active today."""
        current = minute_window(now)
        if self._swept_minute == current:
            return
        self._swept_minute = current
        for key_id in list(self._keys):
            state = self._keys[key_id]
            state.roll(now)
            if not (state.leases or state.requests or state.day_tokens):
                del self._keys[key_id]
