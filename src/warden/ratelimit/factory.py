"""Pick the limiter backend from config: Redis when shared state is configured, else memory."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from warden.ratelimit.memory import MemoryLimiter
from warden.ratelimit.policy import Limits, Reservation
from warden.ratelimit.redis_backend import RedisLimiter


@runtime_checkable
class Limiter(Protocol):
    async def reserve(self, key_id: str, limits: Limits, tokens: int) -> Reservation:
        """Admit one request reserving ``tokens`` (prompt + max_tokens) or raise RateLimited."""
        ...

    async def reconcile(self, reservation: Reservation, actual_tokens: int) -> None:
        """Charge the actual usage, refund the rest, free the concurrency slot. Idempotent."""
        ...

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...


def build_limiter(redis_url: str | None) -> Limiter:
    # Several replicas without a shared Redis would each enforce the full limit: the in-memory
    # backend is for one process only.
    if redis_url:
        return RedisLimiter(redis_url)
    return MemoryLimiter()
