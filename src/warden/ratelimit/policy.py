"""Pure rate-limit rules: window math, the admission decision, headers and errors. No I/O.

Both backends apply the same rules: ``MemoryLimiter`` calls :func:`decide`; ``RedisLimiter``
checks rule 0 with :func:`oversize_error` before any I/O and its Lua script re-implements rules
1-4 (keep them in step; the unit and integration tests run the same cases on both).

Rules, for one API key, checked in this order (first failure wins, so the reported
``retry-after`` is the longest wait that matters):

0. ``request_too_large``: ``tokens > tpm`` or ``tokens > tokens_per_day``. The request can never
   succeed, whatever the counters say; callers map it to 400, not 429.
1. ``tokens_per_day``: ``day_tokens + tokens > tokens_per_day`` (day = UTC day, floor(now/86400)).
2. ``requests``: ``requests >= rpm`` in the current minute window (floor(now/60)).
3. ``tokens``: ``minute_tokens + tokens > tpm`` in the current minute window.
4. ``concurrency``: ``concurrent >= max_concurrent`` (reservations not yet reconciled).

If all pass, the request is admitted atomically with the check: requests += 1,
minute_tokens += tokens, day_tokens += tokens, concurrent += 1. ``tokens`` is what the request
may consume at most (prompt tokens + max_tokens); reconcile later refunds the unused part (or
charges an overrun) on the windows the reservation was made in, never going below 0, and frees
the concurrency slot. Reconciling twice is a no-op.

Windows are fixed, not sliding: exact and cheap (one counter per window), at the price that a
client can burst up to 2x a limit across a window edge (all of minute N's budget in its last
second, then all of minute N+1's). That is the accepted tradeoff, the same as OpenAI's reset
headers describe.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from typing import Literal, Protocol

Reason = Literal["requests", "tokens", "tokens_per_day", "concurrency", "request_too_large"]

MINUTE_S = 60
DAY_S = 86_400
# A slot from a request that never reconciles (crashed replica, lost task) frees itself after
# this long; it must exceed the longest request we serve.
DEFAULT_LEASE_TTL_S = 3_600


class TierLike(Protocol):
    """Anything with the four limit attributes; keeps this module free of config imports."""

    @property
    def rpm(self) -> int: ...
    @property
    def tpm(self) -> int: ...
    @property
    def tokens_per_day(self) -> int: ...
    @property
    def max_concurrent(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Limits:
    rpm: int
    tpm: int
    tokens_per_day: int
    max_concurrent: int

    def __post_init__(self) -> None:
        for name in ("rpm", "tpm", "tokens_per_day", "max_concurrent"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Limits.{name} must be an integer >= 1, got {value!r}")

    @classmethod
    def from_tier(cls, tier: TierLike) -> Limits:
        """Read the four limits off a tier config (e.g. ``warden.config.TierConfig``)."""
        return cls(
            rpm=tier.rpm,
            tpm=tier.tpm,
            tokens_per_day=tier.tokens_per_day,
            max_concurrent=tier.max_concurrent,
        )


@dataclass(frozen=True, slots=True)
class Counts:
    """What one key has used in the current windows, before this request."""

    requests: int = 0
    minute_tokens: int = 0
    day_tokens: int = 0
    concurrent: int = 0


@dataclass(slots=True)
class Reservation:
    """An admitted request's hold on its key's limits; ``id`` names its concurrency lease."""

    key_id: str
    tokens: int
    minute_window: int
    day_window: int
    limits: Limits
    remaining_requests: int
    remaining_tokens: int
    reset_requests_s: int
    reset_tokens_s: int
    id: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass(frozen=True, slots=True)
class Decision:
    """Outcome of :func:`decide`; ``remaining_*`` count this request in only if it is admitted."""

    reason: Reason | None
    retry_after_s: int
    minute_window: int
    day_window: int
    remaining_requests: int
    remaining_tokens: int
    reset_requests_s: int
    reset_tokens_s: int

    @property
    def allowed(self) -> bool:
        return self.reason is None


class RateLimited(Exception):
    """Over a limit: the API answers 429 with ``headers`` (``RequestTooLarge``: 400)."""

    def __init__(
        self, reason: Reason, retry_after_s: int, headers: dict[str, str], message: str
    ) -> None:
        super().__init__(message)
        self.reason: Reason = reason
        self.retry_after_s = retry_after_s
        self.headers = headers
        self.message = message

    def __reduce__(self) -> tuple[type[RateLimited], tuple[Reason, int, dict[str, str], str]]:
        # The default would re-create it from the message alone and fail (e.g. across processes).
        return (type(self), (self.reason, self.retry_after_s, self.headers, self.message))


class RequestTooLarge(RateLimited):
    """The request alone exceeds tpm or tokens_per_day: retrying can never help."""


def minute_window(now: float) -> int:
    return math.floor(now / MINUTE_S)


def day_window(now: float) -> int:
    # Unix time has no leap seconds, so floor(now / 86400) is exactly the UTC calendar day.
    return math.floor(now / DAY_S)


def seconds_until_minute_reset(now: float) -> int:
    return max(1, math.ceil((minute_window(now) + 1) * MINUTE_S - now))


def seconds_until_day_reset(now: float) -> int:
    return max(1, math.ceil((day_window(now) + 1) * DAY_S - now))


def violation(counts: Counts, limits: Limits, tokens: int) -> Reason | None:
    """The first rule (module docstring) this request breaks, or None to admit it."""
    if tokens > limits.tpm or tokens > limits.tokens_per_day:
        return "request_too_large"
    if counts.day_tokens + tokens > limits.tokens_per_day:
        return "tokens_per_day"
    if counts.requests >= limits.rpm:
        return "requests"
    if counts.minute_tokens + tokens > limits.tpm:
        return "tokens"
    if counts.concurrent >= limits.max_concurrent:
        return "concurrency"
    return None


def explain(
    reason: Reason | None, counts: Counts, limits: Limits, tokens: int, now: float
) -> Decision:
    """Numbers for headers and retry-after, given a verdict (from here or from the Lua script)."""
    reset_minute = seconds_until_minute_reset(now)
    admitted = reason is None
    used_requests = counts.requests + (1 if admitted else 0)
    used_tokens = counts.minute_tokens + (tokens if admitted else 0)
    if reason == "tokens_per_day" or (
        reason == "request_too_large" and tokens > limits.tokens_per_day
    ):
        retry_after = seconds_until_day_reset(now)
    elif reason == "concurrency":
        retry_after = 1  # a slot frees whenever some in-flight request ends; poll soon
    else:
        retry_after = reset_minute
    return Decision(
        reason=reason,
        retry_after_s=retry_after,
        minute_window=minute_window(now),
        day_window=day_window(now),
        remaining_requests=max(0, limits.rpm - used_requests),
        remaining_tokens=max(0, limits.tpm - used_tokens),
        reset_requests_s=reset_minute,
        reset_tokens_s=reset_minute,
    )


def decide(counts: Counts, limits: Limits, tokens: int, now: float) -> Decision:
    """Apply the rules to one request; ``now`` is Unix time in seconds."""
    if tokens < 0:
        raise ValueError(f"tokens must be >= 0, got {tokens}")
    return explain(violation(counts, limits, tokens), counts, limits, tokens, now)


def _headers(
    limits: Limits,
    remaining_requests: int,
    remaining_tokens: int,
    reset_requests_s: int,
    reset_tokens_s: int,
) -> dict[str, str]:
    return {
        "x-ratelimit-limit-requests": str(limits.rpm),
        "x-ratelimit-remaining-requests": str(remaining_requests),
        "x-ratelimit-reset-requests": f"{reset_requests_s}s",
        "x-ratelimit-limit-tokens": str(limits.tpm),
        "x-ratelimit-remaining-tokens": str(remaining_tokens),
        "x-ratelimit-reset-tokens": f"{reset_tokens_s}s",
    }


def rate_limit_headers(reservation: Reservation) -> dict[str, str]:
    """OpenAI-style ``x-ratelimit-*`` headers for an admitted request's response."""
    return _headers(
        reservation.limits,
        reservation.remaining_requests,
        reservation.remaining_tokens,
        reservation.reset_requests_s,
        reservation.reset_tokens_s,
    )


def admit(
    key_id: str, tokens: int, limits: Limits, decision: Decision, lease_id: str
) -> Reservation:
    if not decision.allowed:
        raise ValueError("admit() needs an allowing decision")
    return Reservation(
        key_id=key_id,
        tokens=tokens,
        minute_window=decision.minute_window,
        day_window=decision.day_window,
        limits=limits,
        remaining_requests=decision.remaining_requests,
        remaining_tokens=decision.remaining_tokens,
        reset_requests_s=decision.reset_requests_s,
        reset_tokens_s=decision.reset_tokens_s,
        id=lease_id,
    )


def _message(reason: Reason, limits: Limits, tokens: int, retry_after_s: int) -> str:
    retry = f"Retry after {retry_after_s} s."
    if reason == "requests":
        return f"Rate limit reached: {limits.rpm} requests per minute for this key. {retry}"
    if reason == "tokens":
        return (
            f"Rate limit reached: {limits.tpm} tokens per minute for this key; this request "
            f"reserves {tokens} tokens (prompt + max_tokens). {retry}"
        )
    if reason == "tokens_per_day":
        return (
            f"Daily token quota reached: {limits.tokens_per_day} tokens per day for this key; "
            f"this request reserves {tokens} tokens. The quota resets at 00:00 UTC. {retry}"
        )
    if reason == "concurrency":
        return (
            f"Too many concurrent requests: at most {limits.max_concurrent} in flight for "
            f"this key. {retry}"
        )
    cap, unit = (
        (limits.tpm, "tokens per minute")
        if tokens > limits.tpm
        else (limits.tokens_per_day, "tokens per day")
    )
    return (
        f"Request too large: it reserves {tokens} tokens (prompt + max_tokens) but this key "
        f"allows {cap} {unit}. Shorten the prompt or lower max_tokens."
    )


def _too_large(limits: Limits, tokens: int, retry_after_s: int) -> RequestTooLarge:
    # Answered with 400. Only the limits go out: backends refuse this before reading any
    # counter, and retry-after would invite a retry that cannot succeed.
    headers = {
        "x-ratelimit-limit-requests": str(limits.rpm),
        "x-ratelimit-limit-tokens": str(limits.tpm),
    }
    message = _message("request_too_large", limits, tokens, retry_after_s)
    return RequestTooLarge("request_too_large", retry_after_s, headers, message)


def denial(decision: Decision, limits: Limits, tokens: int) -> RateLimited:
    """The exception to raise for a refused request (``RequestTooLarge`` if it never fits)."""
    if decision.reason is None:
        raise ValueError("denial() needs a refusing decision")
    if decision.reason == "request_too_large":
        return _too_large(limits, tokens, decision.retry_after_s)
    headers = _headers(
        limits,
        decision.remaining_requests,
        decision.remaining_tokens,
        decision.reset_requests_s,
        decision.reset_tokens_s,
    )
    headers["retry-after"] = str(decision.retry_after_s)
    message = _message(decision.reason, limits, tokens, decision.retry_after_s)
    return RateLimited(decision.reason, decision.retry_after_s, headers, message)


def oversize_error(limits: Limits, tokens: int, now: float) -> RequestTooLarge | None:
    """Rule 0 on its own, so backends can refuse hopeless requests before any I/O."""
    decision = decide(Counts(), limits, tokens, now)
    if decision.reason != "request_too_large":
        return None
    return _too_large(limits, tokens, decision.retry_after_s)
