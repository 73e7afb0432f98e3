"""GenerationService without a server or a model: a scripted engine yields tokens or fails on
cue (the failures a real engine cannot produce on demand: dying after the first token,
stalling), so quota reservation and reconciliation, the waiting line, timeouts and the error
table are checked step by step. The real engine and upstream are covered by the integration
tests (tests/integration/test_upstream_failures.py kills a real upstream mid-stream)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from warden.api.errors import APIError, GenerationTimeout, to_api_error
from warden.api.pipeline.generation import GenerationService
from warden.config import WardenConfig, load_config
from warden.engine.base import (
    Finished,
    GenerationRequest,
    SamplingParams,
    StreamEvent,
    TextDelta,
    UpstreamUnavailable,
    Usage,
)
from warden.engine.waiting_line import QueueFull
from warden.ratelimit import Limits, MemoryLimiter
from warden.store.keys import Principal
from warden.telemetry.metrics import Metrics

ALICE = Principal(key_id="k1", name="alice", role="user", tier="default")
PROMPT_TOKENS = 10  # the scripted engine counts every prompt as this many tokens


class ScriptedEngine:
    """Yields `tokens` one by one, then finishes; or raises `fail` after `fail_after` tokens;
    or sleeps `stall_s` before the first token."""

    model_name = "m"

    def __init__(self, tokens: list[str], *, fail: Exception | None = None,
                 fail_after: int = 0, stall_s: float = 0.0) -> None:
        self.tokens, self.fail, self.fail_after, self.stall_s = tokens, fail, fail_after, stall_s
        self.closed_streams = 0

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    def is_ready(self) -> bool:
        return True

    def metadata(self) -> dict[str, Any]:
        return {}

    def count_prompt_tokens(self, request: GenerationRequest) -> int:
        return PROMPT_TOKENS

    async def stream(self, request: GenerationRequest) -> AsyncIterator[StreamEvent]:
        try:
            if self.stall_s:
                await asyncio.sleep(self.stall_s)
            for i, token in enumerate(self.tokens):
                if self.fail is not None and i == self.fail_after:
                    raise self.fail
                yield TextDelta(token)
            yield Finished("stop", Usage(PROMPT_TOKENS, len(self.tokens)))
        finally:
            self.closed_streams += 1

    async def cancel(self, request_id: str) -> None: ...


def config(**server: Any) -> WardenConfig:
    return load_config(environ={}).model_copy(update={"server": load_config(
        environ={}).server.model_copy(update=server)})


def service(engine: ScriptedEngine, *, queue_size: int = 64, concurrency: int | None = None,
            **server: Any) -> tuple[GenerationService, MemoryLimiter]:
    cfg = config(**server)
    model = cfg.models[0].model_copy(update={"queue_size": queue_size,
                                             "max_concurrency": concurrency})
    cfg = cfg.model_copy(update={"models": [model]})
    # A frozen clock, 30 s into a minute: the per-minute window must not roll over between a
    # test's first and last reading of the quota (it did, about once in a hundred runs).
    limiter = MemoryLimiter(clock=lambda: 1_800_000_030.0)
    engines = {model.name: engine}
    return GenerationService(cfg, engines, limiter, Metrics(), guard=None), limiter


def request(max_tokens: int = 20) -> GenerationRequest:
    return GenerationRequest(request_id="req_1", model="smollm2-135m-instruct", prompt="hi",
                             sampling=SamplingParams(max_tokens=max_tokens))


async def tokens_left(limiter: MemoryLimiter, svc: GenerationService) -> int:
    """What the key has left this minute, read through a fresh reservation."""
    probe = await limiter.reserve(ALICE.key_id, Limits.from_tier(svc.tier(ALICE)), 0)
    await limiter.reconcile(probe, 0)
    return probe.remaining_tokens


def test_a_generation_reserves_up_front_and_reconciles_to_real_usage() -> None:
    async def scenario() -> None:
        svc, limiter = service(ScriptedEngine(["a", "b", "c"]))
        full = await tokens_left(limiter, svc)
        generation = await svc.start(ALICE, request(max_tokens=20))
        assert generation.reservation.tokens == PROMPT_TOKENS + 20
        text, finished = await generation.collect()
        assert text == "abc" and finished.finish_reason == "stop"
        await svc.drain()
        assert await tokens_left(limiter, svc) == full - (PROMPT_TOKENS + 3)
        assert svc.waiting_lines["smollm2-135m-instruct"].running == 0

    asyncio.run(scenario())


def test_failure_before_the_first_token_frees_the_slot_and_the_reserve() -> None:
    async def scenario() -> None:
        engine = ScriptedEngine(["a"], fail=UpstreamUnavailable("http://10.0.0.9 refused"))
        svc, limiter = service(engine)
        full = await tokens_left(limiter, svc)
        with pytest.raises(UpstreamUnavailable) as failed:
            await svc.start(ALICE, request())
        await svc.drain()
        answer = to_api_error(failed.value)
        assert answer.status == 502 and "10.0.0.9" not in answer.message
        # the max_tokens reserve is returned; only the prompt the engine was sent is charged
        assert await tokens_left(limiter, svc) == full - PROMPT_TOKENS
        assert svc.waiting_lines["smollm2-135m-instruct"].running == 0

    asyncio.run(scenario())


def test_failure_after_the_first_token_surfaces_as_the_engine_error() -> None:
    async def scenario() -> None:
        engine = ScriptedEngine(["a", "b", "c"], fail=UpstreamUnavailable("boom at 10.0.0.9"),
                                fail_after=2)
        svc, _ = service(engine)
        generation = await svc.start(ALICE, request())
        with pytest.raises(UpstreamUnavailable) as failed:
            await generation.collect()
        await svc.drain()
        answer = to_api_error(failed.value)
        assert (answer.status, answer.code) == (502, "upstream_unavailable")
        assert "boom" not in answer.message
        assert engine.closed_streams == 1

    asyncio.run(scenario())


def test_a_full_line_is_queue_full_with_retry_after_and_costs_no_quota() -> None:
    async def scenario() -> None:
        svc, limiter = service(ScriptedEngine(["a"], stall_s=0.5), queue_size=1,
                               concurrency=1)
        full = await tokens_left(limiter, svc)
        running = asyncio.ensure_future(svc.start(ALICE, request()))
        waiting = asyncio.ensure_future(svc.start(ALICE, request()))
        await asyncio.sleep(0.1)
        with pytest.raises(QueueFull) as full_line:
            await svc.start(ALICE, request())
        answer = to_api_error(full_line.value)
        assert answer.status == 503 and int(answer.headers["retry-after"]) >= 1
        await (await running).collect()  # frees the one place for the waiting request
        await (await waiting).collect()
        await svc.drain()
        assert await tokens_left(limiter, svc) == full - 2 * (PROMPT_TOKENS + 1)

    asyncio.run(scenario())


def test_no_first_token_before_the_deadline_is_a_timeout() -> None:
    async def scenario() -> None:
        svc, _ = service(ScriptedEngine(["a"], stall_s=5), request_timeout_s=0.2)
        with pytest.raises(GenerationTimeout) as late:
            await svc.start(ALICE, request())
        await svc.drain()
        assert to_api_error(late.value).status == 504

    asyncio.run(scenario())


def test_unknown_model_and_tier_ceiling_name_the_field() -> None:
    svc, _ = service(ScriptedEngine([]))
    with pytest.raises(APIError) as unknown:
        svc.engine_for("gpt-9")
    assert unknown.value.status == 404 and unknown.value.param == "model"
    with pytest.raises(APIError) as too_many:
        svc.max_tokens_for(ALICE, 10_000)
    assert too_many.value.status == 400 and too_many.value.param == "max_tokens"
    assert svc.max_tokens_for(ALICE, None) == svc.tier(ALICE).max_tokens
