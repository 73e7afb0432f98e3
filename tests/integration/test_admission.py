"""Admission control end to end: per-key limits, token reservations, the bounded engine queue,
request timeouts, and limits shared by several replicas through Redis.

Each test starts its own `warden serve` with a config made for it and talks plain HTTP to it.
Tests that count within a fixed window first make sure they are not near its edge: a window
that rolls over mid-test legitimately resets the counters.
"""

from __future__ import annotations

import contextlib
import json
import re
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.conftest import require_service
from tests.support.warden_server import MODEL, WardenServer

pytestmark = pytest.mark.integration

TIER = "t"
GENEROUS = {"rpm": 10_000, "tpm": 10_000_000, "tokens_per_day": 100_000_000,
            "max_tokens": 512, "max_concurrent": 64}
# At temperature 0 the built-in model keeps counting until max_tokens: a long generation.
LONG_PROMPT = "Count from 1 to 500: 1, 2, 3,"
REDIS_HOST, REDIS_PORT, REDIS_DB = "127.0.0.1", 6379, 14
LIMITER_PREFIX = "warden:rl:"


def config(tier: dict[str, Any] | None = None, model: dict[str, Any] | None = None,
           **sections: Any) -> dict[str, Any]:
    """A config whose only (and default) tier is TIER: generous limits, overridden by `tier`.

    The model runs on one thread: several servers (and other work) share this machine's
    cores, and llama.cpp threads slow down badly when they outnumber the free cores.
    """
    return {"auth": {"default_tier": TIER}, "tiers": {TIER: {**GENEROUS, **(tier or {})}},
            "models": [{"name": MODEL, "n_threads": 1, **(model or {})}], **sections}


def complete(client: httpx.Client, **body: Any) -> httpx.Response:
    return client.post("/v1/completions", json={"model": MODEL, "prompt": "Hi",
                                                "max_tokens": 1, **body})


def error_of(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The OpenAI-shaped error body, after checking the status and the code."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert error["code"] == code, error
    assert error["message"]
    return error


def retry_after(response: httpx.Response) -> int:
    value = response.headers.get("retry-after", "")
    assert value.isdigit() and int(value) >= 1, f"retry-after {value!r}"
    return int(value)


def wait_for_fresh_window(margin_s: float = 10.0, period_s: int = 60) -> None:
    """If the fixed window (floor(now/period)) ends within margin_s, sleep into the next one."""
    left = period_s - time.time() % period_s
    if left < margin_s:
        time.sleep(left + 0.25)


@contextlib.contextmanager
def held_stream(client: httpx.Client, max_tokens: int = 300) -> Iterator[httpx.Response]:
    """A long streamed completion, read up to its first event and held open meanwhile.

    The request holds its reservation, its key's concurrency slot and the engine until the
    block exits and the connection closes.
    """
    body = {"model": MODEL, "prompt": LONG_PROMPT, "max_tokens": max_tokens, "temperature": 0,
            "stream": True}
    with client.stream("POST", "/v1/completions", json=body) as response:
        assert response.status_code == 200, response.read().decode()
        # Keep a reference to the line iterator: once it is garbage-collected, httpx closes
        # the connection and the server (rightly) ends the generation.
        lines = response.iter_lines()
        first = next(line for line in lines if line.startswith("data: "))
        assert json.loads(first.removeprefix("data: "))["choices"][0]["finish_reason"] is None
        yield response


def sse_events(response: httpx.Response) -> list[str]:
    return [line.removeprefix("data: ") for line in response.iter_lines()
            if line.startswith("data: ")]


def poll_until_ok(client: httpx.Client, timeout_s: float) -> httpx.Response:
    deadline = time.monotonic() + timeout_s
    while True:
        response = complete(client)
        if response.status_code == 200 or time.monotonic() > deadline:
            return response
        time.sleep(0.1)


def test_requests_per_minute() -> None:
    server = WardenServer(config({"rpm": 3}))
    first, second = server.create_key("a", tier=TIER), server.create_key("b", tier=TIER)
    with server, server.client(first) as a, server.client(second) as b:
        wait_for_fresh_window()
        for used in range(1, 4):
            ok = complete(a)
            assert ok.status_code == 200, ok.text
            assert ok.headers["x-ratelimit-limit-requests"] == "3"
            assert ok.headers["x-ratelimit-remaining-requests"] == str(3 - used)
            assert re.fullmatch(r"\d+s", ok.headers["x-ratelimit-reset-requests"])
            assert ok.headers["x-ratelimit-limit-tokens"] == str(GENEROUS["tpm"])
            assert ok.headers["x-ratelimit-remaining-tokens"].isdigit()
            assert re.fullmatch(r"\d+s", ok.headers["x-ratelimit-reset-tokens"])

        refused = complete(a)
        error = error_of(refused, 429, "rate_limit_requests")
        assert error["type"] == "rate_limit_error"
        assert retry_after(refused) <= 60
        assert refused.headers["x-ratelimit-limit-requests"] == "3"
        assert refused.headers["x-ratelimit-remaining-requests"] == "0"
        assert re.fullmatch(r"\d+s", refused.headers["x-ratelimit-reset-requests"])

        other = complete(b)  # another key has a budget of its own
        assert other.status_code == 200, other.text
        assert other.headers["x-ratelimit-remaining-requests"] == "2"


def test_tokens_per_minute_reservation_and_size_limits() -> None:
    server = WardenServer(config({"tpm": 500, "max_tokens": 600}))
    key = server.create_key("a", tier=TIER)
    with server, server.client(key) as client:
        # Alone bigger than the per-minute budget: can never succeed, so 400, not 429.
        too_large = complete(client, max_tokens=550)
        error = error_of(too_large, 400, "request_too_large")
        assert error["type"] == "invalid_request_error"
        assert error["param"] == "max_tokens"
        assert "retry-after" not in too_large.headers

        over_ceiling = complete(client, max_tokens=700)
        error = error_of(over_ceiling, 400, "max_tokens_exceeded")
        assert error["param"] == "max_tokens"
        assert "max_tokens" in error["message"]

        wait_for_fresh_window()
        with held_stream(client, max_tokens=300) as held:  # reserves prompt + 300 of 500
            left = held.headers["x-ratelimit-remaining-tokens"]
            assert int(left) < 300
            refused = complete(client, max_tokens=300)
            error = error_of(refused, 429, "rate_limit_tokens")
            assert error["type"] == "rate_limit_error"
            assert retry_after(refused) <= 60
            assert refused.headers["x-ratelimit-limit-tokens"] == "500"
            assert refused.headers["x-ratelimit-remaining-tokens"] == left


def test_unused_tokens_are_refunded() -> None:
    # One reservation is prompt + 200 (about 220) of 380: two at once do not fit (about 440),
    # but after the first one stops early (a few tokens) and is reconciled, the second does.
    tpm = 380
    server = WardenServer(config({"tpm": tpm}))
    key = server.create_key("a", tier=TIER)
    body = {"prompt": LONG_PROMPT, "max_tokens": 200, "temperature": 0, "stop": [","]}
    with server, server.client(key) as client:
        wait_for_fresh_window()
        first = complete(client, **body)
        assert first.status_code == 200, first.text
        usage = first.json()["usage"]
        prompt = usage["prompt_tokens"]
        assert usage["completion_tokens"] < 50, f"expected an early stop: {first.text}"
        assert 2 * (prompt + 200) > tpm >= prompt + 200 + usage["total_tokens"]
        assert first.headers["x-ratelimit-remaining-tokens"] == str(tpm - prompt - 200)

        # The refund runs right after the response; allow it a moment, never a window edge.
        deadline = time.monotonic() + 5
        while True:
            second = complete(client, **body)
            if second.status_code != 429 or time.monotonic() > deadline:
                break
            error_of(second, 429, "rate_limit_tokens")
            time.sleep(0.1)
        assert second.status_code == 200, second.text
        assert second.headers["x-ratelimit-remaining-tokens"] == str(
            tpm - usage["total_tokens"] - (prompt + 200))


def test_tokens_per_day() -> None:
    server = WardenServer(config({"tokens_per_day": 500}))
    key = server.create_key("a", tier=TIER)
    with server, server.client(key) as client:
        wait_for_fresh_window(period_s=86_400)
        with held_stream(client, max_tokens=300):  # reserves prompt + 300 of 500 today
            refused = complete(client, max_tokens=300)
            error = error_of(refused, 429, "rate_limit_tokens_per_day")
            assert error["type"] == "rate_limit_error"
            assert retry_after(refused) <= 86_400


def test_max_concurrent_per_key() -> None:
    server = WardenServer(config({"max_concurrent": 1}))
    key = server.create_key("a", tier=TIER)
    with server, server.client(key) as client:
        with held_stream(client):
            refused = client.post("/v1/completions", json={
                "model": MODEL, "prompt": LONG_PROMPT, "max_tokens": 300, "temperature": 0,
                "stream": True})
            error = error_of(refused, 429, "rate_limit_concurrency")
            assert error["type"] == "rate_limit_error"
            assert retry_after(refused) == 1
        # Closing the stream frees the key's slot (and the engine) promptly.
        after = poll_until_ok(client, timeout_s=15)
        assert after.status_code == 200, after.text


def queue_depth(client: httpx.Client) -> float:
    metrics = client.get("/metrics")
    assert metrics.status_code == 200, metrics.text
    pattern = rf'^warden_queue_depth{{model="{re.escape(MODEL)}"}} (\S+)$'
    found = re.search(pattern, metrics.text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_bounded_queue_rejects_overflow_and_keeps_accepted_work() -> None:
    server = WardenServer(config(model={"queue_size": 1, "max_concurrency": 1}))
    key = server.create_key("a", tier=TIER)
    with server, server.client(key) as client, ThreadPoolExecutor(1) as pool:
        with held_stream(client, max_tokens=500):  # A holds the only engine slot
            waiting = pool.submit(complete, client, max_tokens=5)  # B takes the only place
            deadline = time.monotonic() + 10
            while queue_depth(client) < 1:
                assert not waiting.done(), waiting.result().text
                assert time.monotonic() < deadline, "request B never queued"
                time.sleep(0.05)

            overflow = complete(client, max_tokens=5)  # C: no place left
            error = error_of(overflow, 503, "queue_full")
            assert error["type"] == "overloaded_error"
            retry_after(overflow)
            assert not waiting.done()
        accepted = waiting.result(timeout=60)
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["usage"]["completion_tokens"] >= 1


def test_request_timeout() -> None:
    server = WardenServer(config(server={"request_timeout_s": 1}))
    key = server.create_key("a", tier=TIER)
    long = {"model": MODEL, "prompt": LONG_PROMPT, "max_tokens": 400, "temperature": 0}
    with server, server.client(key) as client:
        complete(client)  # warm-up: the first generation after start is slower

        timed_out = client.post("/v1/completions", json=long)
        error = error_of(timed_out, 504, "timeout")
        assert error["type"] == "timeout_error"

        with client.stream("POST", "/v1/completions", json={**long, "stream": True}) as stream:
            assert stream.status_code == 200, stream.read().decode()
            events = sse_events(stream)
        assert events[-1] == "[DONE]", events[-3:]
        assert json.loads(events[-2])["error"]["code"] == "timeout", events[-3:]
        assert len(events) > 2, "the stream timed out before any token"
        assert all("choices" in json.loads(e) for e in events[:-2])

        healthy = complete(client)
        assert healthy.status_code == 200, healthy.text
        assert client.get("/readyz").status_code == 200


def redis_available() -> bool:
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB,
                         socket_connect_timeout=2)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def clear_limiter_keys() -> None:
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB)
    try:
        stale = list(client.scan_iter(match=f"{LIMITER_PREFIX}*"))
        if stale:
            client.delete(*stale)
    finally:
        client.close()


def wait_for_fresh_redis_minute(margin_s: float) -> None:
    """Like wait_for_fresh_window, on the Redis clock the limiter's windows follow."""
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB)
    try:
        sec, usec = client.time()
    finally:
        client.close()
    left = 60 - (sec % 60 + usec / 1_000_000)
    if left < margin_s:
        time.sleep(left + 0.25)


def test_redis_limits_are_shared_across_replicas() -> None:
    require_service(redis_available(), f"Redis at {REDIS_HOST}:{REDIS_PORT}")
    clear_limiter_keys()
    workdir = Path(tempfile.mkdtemp(prefix="warden-replicas-"))
    cfg = config({"rpm": 50}, store={"url": f"sqlite:///{workdir}/shared.db",
                                     "redis_url": f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}"},
                 model={"queue_size": 200})
    servers = [WardenServer(cfg, workdir=workdir) for _ in range(3)]
    key = servers[0].create_key("shared", tier=TIER)
    with contextlib.ExitStack() as stack:
        stack.callback(clear_limiter_keys)
        for server in servers:
            stack.callback(server.stop)
        with ThreadPoolExecutor(len(servers)) as starter:
            list(starter.map(lambda s: s.start(), servers))
        clients = [stack.enter_context(s.client(key)) for s in servers]
        for client in clients:  # every replica knows the key before the burst
            assert client.get("/v1/models").status_code == 200

        wait_for_fresh_redis_minute(margin_s=8)
        go = threading.Event()

        def fire(i: int) -> httpx.Response:
            go.wait()
            return complete(clients[i % len(clients)])

        with ThreadPoolExecutor(64) as pool:
            futures = [pool.submit(fire, i) for i in range(200)]
            go.set()
            responses = [f.result() for f in futures]

    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: 50, 429: 150}, (statuses, [r.text for r in responses
                                                        if r.status_code not in (200, 429)][:3])
    for response in responses:
        if response.status_code == 429:
            error_of(response, 429, "rate_limit_requests")
