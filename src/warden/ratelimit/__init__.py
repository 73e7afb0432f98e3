"""Per-key rate limits and token quotas: reserve before dispatch, reconcile after."""

from warden.ratelimit.factory import Limiter, build_limiter
from warden.ratelimit.memory import MemoryLimiter
from warden.ratelimit.policy import (
    Counts,
    Decision,
    Limits,
    RateLimited,
    Reason,
    RequestTooLarge,
    Reservation,
    decide,
    rate_limit_headers,
)
from warden.ratelimit.redis_backend import LimiterUnavailable, RedisLimiter

__all__ = [
    "Counts",
    "Decision",
    "Limiter",
    "LimiterUnavailable",
    "Limits",
    "MemoryLimiter",
    "RateLimited",
    "Reason",
    "RedisLimiter",
    "RequestTooLarge",
    "Reservation",
    "build_limiter",
    "decide",
    "rate_limit_headers",
]
