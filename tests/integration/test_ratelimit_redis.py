"""The Redis limiter against a real Redis (db 15): exactness across tasks and OS processes."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from tests.support.redis_keys import throwaway_prefix
from warden.ratelimit import (
    LimiterUnavailable,
    Limits,
    RateLimited,
    RedisLimiter,
    RequestTooLarge,
    Reservation,
)

pytestmark = pytest.mark.integration

REDIS_URL = os.environ.get("WARDEN_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
BIG = 10**9


def limits(
    rpm: int = BIG, tpm: int = BIG, tokens_per_day: int = BIG, max_concurrent: int = BIG
) -> Limits:
    return Limits(rpm=rpm, tpm=tpm, tokens_per_day=tokens_per_day, max_concurrent=max_concurrent)


@pytest.fixture
def prefix() -> Iterator[str]:
    """A fresh key prefix on a reachable Redis; every key under it is deleted afterwards."""
    with throwaway_prefix(REDIS_URL, "rltest") as value:
        yield value


def wait_for_fresh_minute(margin_s: float) -> None:
    """Sleep past the next minute edge (server clock) if it is less than margin_s away.

    A test that straddles two fixed windows may legitimately admit up to 2x the limit.
    """
    client = redis.Redis.from_url(REDIS_URL)
    sec, usec = client.time()
    client.close()
    left = 60 - (sec % 60 + usec / 1_000_000)
    if left < margin_s:
        time.sleep(left + 0.2)


async def _attempt(limiter: RedisLimiter, key: str, lim: Limits, tokens: int) -> Any:
    try:
        return await limiter.reserve(key, lim, tokens)
    except RateLimited as exc:
        return exc


def _fire(url: str, prefix: str, key: str, n: int, lim: Limits) -> list[int]:
    """Fire n concurrent reserves; the minute window of each admitted one."""

    async def run() -> list[int]:
        limiter = RedisLimiter(url, key_prefix=prefix)
        try:
            results = await asyncio.gather(*(_attempt(limiter, key, lim, 5) for _ in range(n)))
        finally:
            await limiter.close()
        return [r.minute_window for r in results if isinstance(r, Reservation)]

    return asyncio.run(run())


def _process_worker(
    url: str, prefix: str, key: str, n: int, lim: Limits, barrier: Any, queue: Any
) -> None:
    barrier.wait(timeout=60)  # start firing together, after every interpreter has booted
    try:
        queue.put(_fire(url, prefix, key, n, lim))
    except Exception as exc:
        queue.put(repr(exc))  # tell the parent now rather than let it wait for a timeout
        raise


def test_exact_under_concurrent_gather(prefix: str) -> None:
    wait_for_fresh_minute(margin_s=10)
    windows = _fire(REDIS_URL, prefix, "k", 200, limits(rpm=50))
    assert len(windows) == 50 and len(set(windows)) == 1
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    assert client.hget(f"{prefix}{{k}}:m:{windows[0]}", "r") == "50"
    client.close()


def test_exact_across_three_processes(prefix: str) -> None:
    wait_for_fresh_minute(margin_s=30)
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(3)
    queue = ctx.Queue()
    lim = limits(rpm=50)
    procs = [
        ctx.Process(
            target=_process_worker, args=(REDIS_URL, prefix, "shared", 67, lim, barrier, queue)
        )
        for _ in range(3)
    ]
    for p in procs:
        p.start()
    try:
        outcomes = [queue.get(timeout=120) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=30)
    for outcome in outcomes:
        assert isinstance(outcome, list), outcome
    windows = [w for outcome in outcomes for w in outcome]
    assert len(set(windows)) == 1  # all in one fixed window, else 2x would be legitimate
    assert len(windows) == 50
    assert all(p.exitcode == 0 for p in procs)


def test_token_limit_refund_and_overrun(prefix: str) -> None:
    async def run() -> None:
        limiter = RedisLimiter(REDIS_URL, key_prefix=prefix)
        lim = limits(tpm=1_000)
        try:
            results = await asyncio.gather(*(_attempt(limiter, "k", lim, 100) for _ in range(30)))
            held = [r for r in results if isinstance(r, Reservation)]
            assert len(held) == 10
            assert {r.reason for r in results if isinstance(r, RateLimited)} == {"tokens"}
            await limiter.reconcile(held[0], 40)  # refund 60
            await limiter.reconcile(held[0], 40)  # idempotent
            r = await limiter.reserve("k", lim, 60)
            assert r.remaining_tokens == 0
            await limiter.reconcile(r, 70)  # overrun of 10 is charged
            await limiter.reconcile(held[1], 90)  # refund 10: back to exactly the limit
            with pytest.raises(RateLimited) as info:
                await limiter.reserve("k", lim, 1)
            assert info.value.reason == "tokens"
            assert info.value.headers["x-ratelimit-remaining-tokens"] == "0"
            assert 1 <= int(info.value.headers["retry-after"]) <= 60
        finally:
            await limiter.close()

    wait_for_fresh_minute(margin_s=10)
    asyncio.run(run())


def test_concurrency_slots_and_lease_expiry(prefix: str) -> None:
    async def run() -> None:
        limiter = RedisLimiter(REDIS_URL, key_prefix=prefix, lease_ttl_s=1)
        lim = limits(max_concurrent=3)
        try:
            results = await asyncio.gather(*(_attempt(limiter, "k", lim, 1) for _ in range(20)))
            held = [r for r in results if isinstance(r, Reservation)]
            assert len(held) == 3
            err = next(r for r in results if isinstance(r, RateLimited))
            assert err.reason == "concurrency" and err.retry_after_s == 1
            await limiter.reconcile(held[0], 1)
            await limiter.reconcile(held[0], 1)  # a double release must not open two slots
            await limiter.reserve("k", lim, 1)
            assert isinstance(await _attempt(limiter, "k", lim, 1), RateLimited)
            await asyncio.sleep(1.2)  # never reconciled, as after a replica crash
            await limiter.reserve("k", lim, 1)
        finally:
            await limiter.close()

    asyncio.run(run())


def test_day_quota(prefix: str) -> None:
    async def run() -> None:
        limiter = RedisLimiter(REDIS_URL, key_prefix=prefix)
        lim = limits(tokens_per_day=1_000)
        try:
            for _ in range(4):
                await limiter.reconcile(await limiter.reserve("k", lim, 250), 250)
            with pytest.raises(RateLimited) as info:
                await limiter.reserve("k", lim, 1)
            assert info.value.reason == "tokens_per_day"
            until_midnight = 86_400 - time.time() % 86_400
            assert abs(info.value.retry_after_s - until_midnight) <= 5
        finally:
            await limiter.close()

    asyncio.run(run())


def test_request_too_large_touches_nothing(prefix: str) -> None:
    async def run() -> None:
        limiter = RedisLimiter(REDIS_URL, key_prefix=prefix)
        try:
            with pytest.raises(RequestTooLarge):
                await limiter.reserve("k", limits(tpm=100), 101)
        finally:
            await limiter.close()

    asyncio.run(run())
    client = redis.Redis.from_url(REDIS_URL)
    assert list(client.scan_iter(match=f"{prefix}*")) == []
    client.close()


def test_retried_reserve_is_counted_once(prefix: str) -> None:
    # What a redis-py retry after a lost reply looks like: the same script call twice.
    async def run() -> None:
        limiter = RedisLimiter(REDIS_URL, key_prefix=prefix)
        args = [5, 1_000, 10_000, 5, 100, "lease-1", 60, 120, 172_800]
        keys = [f"{prefix}{{k}}"]
        try:
            first = await limiter._reserve_script(keys=keys, args=args)
            again = await limiter._reserve_script(keys=keys, args=args)
            assert first[0] == again[0] == ""
            assert list(first[1:5]) == list(again[1:5]) == [0, 0, 0, 0]
            r = await limiter.reserve("k", limits(rpm=5, tpm=1_000), 100)
            assert r.remaining_requests == 3 and r.remaining_tokens == 800
        finally:
            await limiter.close()

    wait_for_fresh_minute(margin_s=5)
    asyncio.run(run())


def test_unreachable_redis_raises_limiter_unavailable() -> None:
    async def run() -> None:
        limiter = RedisLimiter("redis://127.0.0.1:1/0")
        try:
            assert await limiter.ping() is False
            with pytest.raises(LimiterUnavailable):
                await limiter.reserve("k", limits(), 1)
        finally:
            await limiter.close()

    asyncio.run(run())
