"""Rollouts in the request path without a server: which arm a request gets, how pins are
guarded, what the arm adds to the request and the response, and that a shadow copy is never
charged to the caller (a scripted engine stands in for the model; the real server is in
tests/integration/test_rollout.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.responses import JSONResponse

from warden.api.errors import APIError
from warden.api.pipeline.generation import GenerationService
from warden.api.pipeline.rollout import ServingArm, choose
from warden.config import WardenConfig
from warden.engine.base import Finished, GenerationRequest, SamplingParams, TextDelta, Usage
from warden.ratelimit import Limits, MemoryLimiter
from warden.rollout.arms import CHALLENGER, CHAMPION, prompt_versions
from warden.rollout.assignment import assign
from warden.rollout.metrics import RolloutMetrics
from warden.rollout.runtime import seeds
from warden.rollout.state import RolloutStore
from warden.rollout.traffic import TrafficRecorder
from warden.rollout.view import RolloutView
from warden.store.db import Database
from warden.store.keys import Principal
from warden.telemetry.metrics import Metrics

from .conftest import MODEL, warden_config

USER = Principal(key_id="k_user", name="u", role="user", tier="default")
ADMIN = Principal(key_id="k_admin", name="a", role="admin", tier="default")


class Engine:
    def __init__(self) -> None:
        self.seen: list[GenerationRequest] = []

    def count_prompt_tokens(self, request: GenerationRequest) -> int:
        return 10

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Any]:
        self.seen.append(request)
        yield TextDelta("ok")
        yield Finished("stop", Usage(10, 1))

    async def cancel(self, request_id: str) -> None: ...


def runtime(db: Database, config: WardenConfig, metrics: Metrics) -> SimpleNamespace:
    prompts = prompt_versions(config.rollouts.prompts)
    store = RolloutStore(db)
    store.seed(seeds(config, prompts))
    return SimpleNamespace(config=config, prompts=prompts, view=RolloutView(store),
                           recorder=TrafficRecorder(db),
                           metrics=RolloutMetrics(metrics.registry))


def app_state(db: Database, **rollout: Any) -> SimpleNamespace:
    config = warden_config(**rollout)
    return SimpleNamespace(rollouts=runtime(db, config, Metrics()))


def test_a_plain_model_name_passes_through(db: Database) -> None:
    arm = choose(app_state(db), USER, MODEL, "req_1")  # type: ignore[arg-type]
    assert (arm.rollout, arm.model, arm.extension()) == (None, MODEL, {})
    response = arm.tag(JSONResponse({}))
    assert "x-warden-arm" not in response.headers


def test_ab_assignment_follows_the_keys_sticky_bucket(db: Database) -> None:
    state = app_state(db, challenger={"model": MODEL, "prompt": "terse"}, share=0.5)
    for i in range(40):
        key = Principal(key_id=f"k{i}", name="u", role="user", tier="default")
        arm = choose(state, key, "assistant", f"req_{i}")  # type: ignore[arg-type]
        assert arm.arm == assign(key.key_id, "assistant", 0.5)
        assert (arm.prompt is not None) == (arm.arm == CHALLENGER)
        assert arm.model == MODEL and not arm.pinned
        assert arm.tag(JSONResponse({})).headers["x-warden-arm"] == arm.arm


def test_shadow_mode_serves_the_champion_and_copies_a_share(db: Database) -> None:
    state = app_state(db, challenger={"model": MODEL, "prompt": "terse"}, share=0.5,
                      mode="shadow")
    arms = [choose(state, USER, "assistant", f"req_{i}") for i in range(200)]  # type: ignore[arg-type]
    assert {a.arm for a in arms} == {CHAMPION}
    copied = sum(a.shadow_to is not None for a in arms)
    assert 60 < copied < 140


def test_pinning_an_arm_needs_an_admin_and_a_live_arm(db: Database) -> None:
    state = app_state(db, challenger={"model": MODEL, "prompt": "terse"}, share=0.0)
    pinned = choose(state, ADMIN, "assistant@challenger", "r")  # type: ignore[arg-type]
    assert pinned.pinned and pinned.arm == CHALLENGER and pinned.extension()["arm"]["pinned"]
    cases = [(USER, "assistant@challenger", 403, "arm_pin_admin_only"),
             (ADMIN, "assistant@canary", 400, "invalid_value"),
             (ADMIN, "nothing@champion", 404, "model_not_found")]
    for principal, model, status, code in cases:
        with pytest.raises(APIError) as error:
            choose(state, principal, model, "r")  # type: ignore[arg-type]
        assert (error.value.status, error.value.code) == (status, code)
    state.rollouts.view.adopt(state.rollouts.view.store.rollback("assistant", "a", "stop"))
    with pytest.raises(APIError) as error:
        choose(state, ADMIN, "assistant@challenger", "r")  # type: ignore[arg-type]
    assert error.value.code == "no_live_challenger"


def test_prepare_applies_the_prompt_after_the_guard_and_keeps_the_guarded_request(
        db: Database) -> None:
    state = app_state(db, challenger={"model": MODEL, "prompt": "terse"}, share=1.0)
    arm: ServingArm = choose(state, USER, "assistant", "r")  # type: ignore[arg-type]
    guarded = GenerationRequest("r", MODEL, SamplingParams(max_tokens=4),
                                messages=({"role": "user", "content": "hi"},))
    sent = asyncio.run(arm.prepare(None)(guarded, None))
    assert arm.guarded == (guarded, None)
    assert sent.messages == ({"role": "system", "content": "Be brief."},
                             {"role": "user", "content": "hi"})


def test_a_shadow_copy_is_never_charged_to_the_callers_quota(db: Database) -> None:
    async def scenario() -> None:
        config = warden_config()
        limiter, engine = MemoryLimiter(), Engine()
        service = GenerationService(config, {MODEL: engine}, limiter, Metrics(), guard=None)
        limits = Limits.from_tier(service.tier(USER))

        async def left() -> tuple[int, int]:
            probe = await limiter.reserve(USER.key_id, limits, 0)
            await limiter.reconcile(probe, 0)
            return probe.remaining_requests, probe.remaining_tokens

        before = await left()
        request = GenerationRequest("req_s", MODEL, SamplingParams(max_tokens=50), prompt="hi")
        ended: list[int] = []
        shadow = await service.start(USER, request, shadow=True)
        shadow.on_closed.append(lambda g: ended.append(g.usage.total_tokens))  # type: ignore[union-attr]
        text, _ = await shadow.collect()
        await service.drain()
        assert text == "ok" and ended == [11]
        after = await left()
        assert after == (before[0] - 1, before[1])  # only the probe itself counted
        assert not shadow.metered

    asyncio.run(scenario())
