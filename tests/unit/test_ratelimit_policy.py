"""Rate-limit rules, headers and the in-memory backend (clock injected, no Redis needed)."""

from __future__ import annotations

import asyncio
import pickle
import threading
from types import SimpleNamespace

import pytest

from warden.ratelimit import (
    Counts,
    Limiter,
    Limits,
    MemoryLimiter,
    RateLimited,
    RedisLimiter,
    RequestTooLarge,
    Reservation,
    build_limiter,
    decide,
    rate_limit_headers,
)
from warden.ratelimit.policy import (
    day_window,
    minute_window,
    seconds_until_day_reset,
    seconds_until_minute_reset,
)

DAY0 = 20_000 * 86_400  # a UTC midnight, far from any real clock
BIG = 10**9


class FakeClock:
    def __init__(self, now: float = DAY0 + 12.5) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def limits(
    rpm: int = BIG, tpm: int = BIG, tokens_per_day: int = BIG, max_concurrent: int = BIG
) -> Limits:
    return Limits(rpm=rpm, tpm=tpm, tokens_per_day=tokens_per_day, max_concurrent=max_concurrent)


async def _try(limiter: MemoryLimiter, key: str, lim: Limits, tokens: int) -> Reservation | str:
    try:
        return await limiter.reserve(key, lim, tokens)
    except RateLimited as exc:
        return exc.reason


# --- pure policy ---------------------------------------------------------------------------


def test_limits_from_tier_and_validation() -> None:
    tier = SimpleNamespace(
        rpm=20, tpm=10_000, tokens_per_day=100_000, max_concurrent=2, max_tokens=256
    )
    assert Limits.from_tier(tier) == Limits(20, 10_000, 100_000, 2)
    with pytest.raises(ValueError, match="rpm"):
        Limits(rpm=0, tpm=1, tokens_per_day=1, max_concurrent=1)
    with pytest.raises(AttributeError):
        Limits.from_tier(SimpleNamespace(rpm=1))


def test_window_math_at_edges() -> None:
    assert minute_window(DAY0) == DAY0 // 60
    assert minute_window(DAY0 + 59.999) == DAY0 // 60
    assert minute_window(DAY0 + 60) == DAY0 // 60 + 1
    assert day_window(DAY0 - 0.001) == 19_999 and day_window(DAY0) == 20_000
    assert seconds_until_minute_reset(DAY0) == 60
    assert seconds_until_minute_reset(DAY0 + 47.2) == 13
    assert seconds_until_minute_reset(DAY0 + 59.9999) == 1  # never 0
    assert seconds_until_day_reset(DAY0 + 86_400 - 3_600) == 3_600


def test_decide_order_and_remaining() -> None:
    lim = limits(rpm=5, tpm=1_000, tokens_per_day=2_000, max_concurrent=2)
    now = DAY0 + 48
    ok = decide(Counts(requests=2, minute_tokens=300, day_tokens=900), lim, 100, now)
    assert ok.allowed and ok.remaining_requests == 2 and ok.remaining_tokens == 600
    assert ok.reset_requests_s == ok.reset_tokens_s == 12
    assert decide(Counts(day_tokens=1_950, requests=5), lim, 100, now).reason == "tokens_per_day"
    assert decide(Counts(requests=5, concurrent=2), lim, 100, now).reason == "requests"
    assert decide(Counts(minute_tokens=901, concurrent=2), lim, 100, now).reason == "tokens"
    assert decide(Counts(minute_tokens=900), lim, 100, now).allowed  # exactly at the limit
    assert decide(Counts(concurrent=2), lim, 100, now).reason == "concurrency"
    assert decide(Counts(), lim, 1_001, now).reason == "request_too_large"
    with pytest.raises(ValueError):
        decide(Counts(), lim, -1, now)


def test_retry_after_per_reason() -> None:
    lim = limits(rpm=1, tpm=100, tokens_per_day=100, max_concurrent=1)
    now = DAY0 + 86_400 - 7_200 + 30  # 2 h minus 30 s before UTC midnight
    assert decide(Counts(requests=1), lim, 1, now).retry_after_s == 30
    assert decide(Counts(day_tokens=100), lim, 1, now).retry_after_s == 7_170
    assert decide(Counts(concurrent=1), lim, 1, now).retry_after_s == 1


def test_headers_and_messages() -> None:
    lim = limits(rpm=50, tpm=40_000, tokens_per_day=1_000_000, max_concurrent=4)
    decision = decide(Counts(requests=10, minute_tokens=1_000), lim, 600, DAY0 + 48)
    res = Reservation(
        "k",
        600,
        decision.minute_window,
        decision.day_window,
        lim,
        decision.remaining_requests,
        decision.remaining_tokens,
        decision.reset_requests_s,
        decision.reset_tokens_s,
    )
    assert rate_limit_headers(res) == {
        "x-ratelimit-limit-requests": "50",
        "x-ratelimit-remaining-requests": "39",
        "x-ratelimit-reset-requests": "12s",
        "x-ratelimit-limit-tokens": "40000",
        "x-ratelimit-remaining-tokens": "38400",
        "x-ratelimit-reset-tokens": "12s",
    }


def test_rate_limited_error_shape() -> None:
    limiter = MemoryLimiter(clock=FakeClock(DAY0 + 48))
    lim = limits(rpm=50, tpm=40_000)

    async def run() -> RateLimited:
        for _ in range(50):
            await limiter.reserve("k", lim, 10)
        with pytest.raises(RateLimited) as info:
            await limiter.reserve("k", lim, 10)
        return info.value

    exc = asyncio.run(run())
    assert exc.reason == "requests" and exc.retry_after_s == 12
    assert str(exc) == "Rate limit reached: 50 requests per minute for this key. Retry after 12 s."
    assert exc.headers["retry-after"] == "12"
    assert exc.headers["x-ratelimit-remaining-requests"] == "0"
    assert exc.headers["x-ratelimit-remaining-tokens"] == str(40_000 - 500)
    assert exc.headers["x-ratelimit-reset-requests"] == "12s"
    copy = pickle.loads(pickle.dumps(exc))
    assert (copy.reason, copy.headers, str(copy)) == (exc.reason, exc.headers, str(exc))


# --- memory backend ------------------------------------------------------------------------


def test_memory_exact_under_concurrent_gather() -> None:
    limiter = MemoryLimiter(clock=FakeClock())
    lim = limits(rpm=50)

    async def run() -> list[Reservation | str]:
        return await asyncio.gather(*(_try(limiter, "k", lim, 7) for _ in range(200)))

    results = asyncio.run(run())
    admitted = [r for r in results if isinstance(r, Reservation)]
    assert len(admitted) == 50
    assert {r for r in results if isinstance(r, str)} == {"requests"}
    assert len({r.id for r in admitted}) == 50
    assert sorted(r.remaining_requests for r in admitted) == list(range(50))


def test_memory_exact_across_threads() -> None:
    # Several event loops in several threads share one limiter: the lock must still hold.
    limiter = MemoryLimiter(clock=FakeClock())
    lim = limits(rpm=50, tpm=50 * 3)
    counts: list[int] = []

    def worker() -> None:
        async def run() -> int:
            results = await asyncio.gather(*(_try(limiter, "k", lim, 3) for _ in range(25)))
            return sum(isinstance(r, Reservation) for r in results)

        counts.append(asyncio.run(run()))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(counts) == 50


def test_memory_tokens_and_reconcile_refund() -> None:
    limiter = MemoryLimiter(clock=FakeClock())
    lim = limits(tpm=1_000)

    async def run() -> None:
        held = [await limiter.reserve("k", lim, 300) for _ in range(3)]
        assert await _try(limiter, "k", lim, 300) == "tokens"  # 900 + 300 > 1000
        await limiter.reconcile(held[0], 50)  # refunds 250 -> 650 used
        await limiter.reconcile(held[0], 50)  # idempotent: no second refund
        r = await limiter.reserve("k", lim, 300)
        assert r.remaining_tokens == 1_000 - 950
        assert await _try(limiter, "k", lim, 51) == "tokens"
        await limiter.reconcile(r, 400)  # an overrun is charged, never silently free
        assert await _try(limiter, "k", lim, 1) == "tokens"

    asyncio.run(run())


def test_memory_concurrency_release() -> None:
    limiter = MemoryLimiter(clock=FakeClock())
    lim = limits(max_concurrent=2)

    async def run() -> None:
        a = await limiter.reserve("k", lim, 1)
        await limiter.reserve("k", lim, 1)
        refused = await _try(limiter, "k", lim, 1)
        assert refused == "concurrency"
        assert await _try(limiter, "other-key", lim, 1) != "concurrency"
        await limiter.reconcile(a, 1)
        await limiter.reserve("k", lim, 1)
        assert await _try(limiter, "k", lim, 1) == "concurrency"

    asyncio.run(run())


def test_memory_lease_expiry_frees_leaked_slot() -> None:
    clock = FakeClock()
    limiter = MemoryLimiter(clock=clock, lease_ttl_s=300)
    lim = limits(max_concurrent=1)

    async def run() -> None:
        await limiter.reserve("k", lim, 1)  # never reconciled, as if the task died
        assert await _try(limiter, "k", lim, 1) == "concurrency"
        clock.now += 301
        await limiter.reserve("k", lim, 1)

    asyncio.run(run())


def test_memory_minute_rollover() -> None:
    clock = FakeClock(DAY0 + 59)
    limiter = MemoryLimiter(clock=clock)
    lim = limits(rpm=2, tpm=100)

    async def run() -> None:
        first = await limiter.reserve("k", lim, 50)
        await limiter.reserve("k", lim, 50)
        with pytest.raises(RateLimited) as info:
            await limiter.reserve("k", lim, 1)
        assert info.value.retry_after_s == 1
        clock.now = DAY0 + 60  # new minute: requests and tokens start over
        fresh = await limiter.reserve("k", lim, 100)
        assert fresh.minute_window == first.minute_window + 1
        await limiter.reconcile(first, 0)  # a refund to a finished window frees nothing now
        assert await _try(limiter, "k", lim, 1) == "tokens"

    asyncio.run(run())


def test_memory_day_quota_and_rollover() -> None:
    clock = FakeClock(DAY0 + 86_400 - 3_600)
    limiter = MemoryLimiter(clock=clock)
    lim = limits(tokens_per_day=1_000)

    async def run() -> None:
        for _ in range(4):
            r = await limiter.reserve("k", lim, 250)
            await limiter.reconcile(r, 250)
            clock.now += 61  # fresh minutes, so only the day quota can bite
        with pytest.raises(RateLimited) as info:
            await limiter.reserve("k", lim, 1)
        assert info.value.reason == "tokens_per_day"
        assert info.value.retry_after_s == 3_600 - 4 * 61
        assert "1000 tokens per day" in str(info.value)
        clock.now = DAY0 + 86_400  # UTC midnight
        await limiter.reserve("k", lim, 1_000)

    asyncio.run(run())


def test_memory_request_too_large() -> None:
    limiter = MemoryLimiter(clock=FakeClock())

    async def run() -> None:
        with pytest.raises(RequestTooLarge) as info:
            await limiter.reserve("k", limits(tpm=1_000), 1_001)
        exc = info.value
        assert isinstance(exc, RateLimited) and exc.reason == "request_too_large"
        assert exc.retry_after_s >= 1 and "retry-after" not in exc.headers
        assert "1000 tokens per minute" in str(exc)
        with pytest.raises(RequestTooLarge, match="tokens per day"):
            await limiter.reserve("k", limits(tokens_per_day=500), 501)
        # nothing was counted
        assert (await limiter.reserve("k", limits(rpm=1), 1)).remaining_requests == 0

    asyncio.run(run())


def test_memory_forgets_idle_keys() -> None:
    clock = FakeClock()
    limiter = MemoryLimiter(clock=clock)

    async def run() -> None:
        for i in range(100):
            r = await limiter.reserve(f"k{i}", limits(), 0)
            await limiter.reconcile(r, 0)
        clock.now += 60
        await limiter.reserve("last", limits(), 1)

    asyncio.run(run())
    assert set(limiter._keys) == {"last"}


def test_build_limiter_and_protocol() -> None:
    memory = build_limiter(None)
    assert isinstance(memory, MemoryLimiter) and isinstance(memory, Limiter)
    assert isinstance(build_limiter(""), MemoryLimiter)
    shared = build_limiter("redis://127.0.0.1:1/0")  # no I/O until first use
    assert isinstance(shared, RedisLimiter) and isinstance(shared, Limiter)
    assert asyncio.run(memory.ping()) is True
    asyncio.run(shared.close())
