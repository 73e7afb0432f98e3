"""Rollouts in the request path: the arm that serves a request, its prompt version and index
pins, the shadow copy, the traffic sample, and the arm named in the response.

    arm = rollout.choose(state, principal, body.model, request_id)   # before build_request
    gen_request = build_request(..., model=arm.model, ...)
    run = await retrieval.begin(..., versions=arm.indexes)
    generation = await state.service.start(principal, gen_request, prepare=arm.prepare(run))
    arm.watch(state, principal, generation, run, body.retrieval)      # sample + shadow copy
    return arm.tag(response)                                          # x-warden-arm

A model name that is a rollout's public name picks an arm: ab mode by the key's sticky
bucket, shadow mode always the champion plus (for a share of requests) a background copy to
the challenger. `name@champion` / `name@challenger` pins an arm (admin keys only: the canary
runs its smoke evals that way). Every other model name passes through untouched.

The arm's prompt version is applied after the input guard (operator text is not user input)
together with retrieval. A shadow copy starts from the champion's guarded request, so the
challenger never sees what the guard removed; it is never charged to the caller, never
guarded twice, runs only when an engine slot is idle, and its answer is dropped.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from fastapi.responses import Response

from warden.api.errors import APIError
from warden.api.pipeline import retrieval
from warden.api.pipeline.generation import Generation, Prepare
from warden.api.protocol import RetrievalOptions
from warden.config.rollouts import ARM_SEPARATOR
from warden.engine.base import GenerationRequest, Usage
from warden.evaluation.records import is_refusal
from warden.rollout.arms import ARM_NAMES, CHALLENGER, CHAMPION, Arm, PromptVersion
from warden.rollout.assignment import assign, point, shadow_sampled
from warden.rollout.runtime import RolloutRuntime
from warden.rollout.traffic import TrafficSample
from warden.safety.policy import BUILTIN_CATEGORIES
from warden.safety.redaction import Redactor
from warden.store.keys import Principal
from warden.telemetry.request_log import note_arm

if TYPE_CHECKING:
    from warden.api.state import AppState

log = logging.getLogger(__name__)
R = TypeVar("R", bound=Response)


@dataclass
class ServingArm:
    """One request's arm (or none: `rollout` is None for a plain model name)."""

    runtime: RolloutRuntime
    public_model: str
    model: str
    rollout: str | None = None
    arm: str | None = None
    spec: Arm | None = None
    prompt: PromptVersion | None = None
    pinned: bool = False
    shadow_to: Arm | None = None
    guarded: tuple[GenerationRequest, Redactor | None] | None = None
    tool_calls: int = 0
    tool_calls_invalid: int = 0

    def __post_init__(self) -> None:
        if self.rollout is not None and self.arm is not None:
            note_arm(self.rollout, self.arm)  # named on the request's access-log line

    @property
    def indexes(self) -> Mapping[str, int] | None:
        return self.spec.indexes if self.spec is not None else None

    def prepare(self, run: retrieval.RagRun | None) -> Prepare:
        """After the input guard: keep the guarded request (for a shadow copy), apply the
        prompt version, then retrieval."""

        async def prepare(request: GenerationRequest, redactor: Redactor | None
                          ) -> GenerationRequest:
            self.guarded = (request, redactor)
            if self.prompt is not None:
                request = self.prompt.apply(request)
            return await run.prepare(request, redactor) if run is not None else request

        return prepare

    def note_tool_call(self, called: bool, invalid: bool) -> None:
        self.tool_calls += int(called or invalid)
        self.tool_calls_invalid += int(invalid)

    def extension(self) -> dict[str, Any]:
        """The `arm` entry of the `warden` extension; empty for a plain model."""
        if self.rollout is None or self.spec is None:
            return {}
        return {"arm": {"rollout": self.rollout, "name": self.arm, "hash": self.spec.hash,
                        "model": self.spec.model, "prompt": self.spec.prompt,
                        "prompt_hash": self.prompt.hash if self.prompt else None,
                        "indexes": dict(self.spec.indexes), "pinned": self.pinned}}

    def tag(self, response: R) -> R:
        if self.rollout is not None and self.spec is not None and self.arm is not None:
            response.headers["x-warden-arm"] = self.arm
            response.headers["x-warden-arm-hash"] = self.spec.short_hash
        return response

    # after start -------------------------------------------------------------------------
    def watch(self, state: AppState, principal: Principal, generation: Generation,
              run: retrieval.RagRun | None, options: RetrievalOptions | None) -> None:
        """Record the request when it ends; launch the shadow copy if this request has one."""
        runtime = self.runtime
        recorded = self.rollout is not None or \
            point("sample", generation.request.request_id) < \
            runtime.config.rollouts.drift.sample_rate
        if runtime.config.rollouts.record_traffic and recorded:
            generation.on_closed.append(lambda g: self._record(g, run, shadow=False))
        if self.shadow_to is not None and self.guarded is not None:
            line = state.service.waiting_lines.get(self.shadow_to.model)
            if line is None or line.waiting > 0 or line.running >= line.max_concurrency:
                runtime.metrics.shadow_skipped.labels(self.rollout, "busy").inc()
                return
            state.service.spawn(self._shadow(state, principal, options))

    async def _shadow(self, state: AppState, principal: Principal,
                      options: RetrievalOptions | None) -> None:
        assert self.guarded is not None and self.shadow_to is not None
        guarded, redactor = self.guarded
        target = self.shadow_to
        copy = ServingArm(self.runtime, self.public_model, target.model, self.rollout,
                          CHALLENGER, target, prompt_of(self.runtime, target))
        request = dataclasses.replace(guarded, request_id=f"{guarded.request_id}-shadow",
                                      model=target.model)
        try:
            run = await retrieval.begin(state.rag, principal, options, request,
                                        state.service.engine_for(target.model)
                                        .count_prompt_tokens, versions=target.indexes)
            inner = copy.prepare(run)

            async def prepare(req: GenerationRequest, _: Redactor | None) -> GenerationRequest:
                result = await inner(req, redactor)  # the champion's redactor: same masks
                return result

            generation = await state.service.start(principal, request, prepare=prepare,
                                                   shadow=True)
            generation.on_closed.append(lambda g: copy._record(g, run, shadow=True))
            await generation.collect()  # the answer is discarded: it never reaches anyone
        except Exception as exc:
            self.runtime.metrics.shadow_skipped.labels(self.rollout, "error").inc()
            log.info("shadow copy of %s failed: %s", guarded.request_id, exc)

    def _record(self, generation: Generation, run: retrieval.RagRun | None, *,
                shadow: bool) -> None:
        runtime = self.runtime
        usage = generation.usage or Usage(generation.prompt_tokens, generation.engine_tokens)
        ended = generation.ended_at or time.monotonic()
        latency_s = ended - generation.arrived
        text = "".join(generation.completion_text_parts)
        sample = TrafficSample(
            model=self.public_model, latency_ms=round(latency_s * 1000, 3),
            prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
            finish_reason=generation.finish_reason or "cancelled", rollout=self.rollout,
            arm=self.arm, arm_hash=self.spec.hash if self.spec else None, shadow=shadow,
            pinned=self.pinned,
            ttft_ms=round((generation.first_token_at - generation.arrived) * 1000, 3)
            if generation.first_token_at else None,
            top_score=top_score(run), refusal=generation.finish_reason == "content_filter"
            or is_refusal(text), budget_violation=budget_violation(run),
            tool_calls=self.tool_calls, tool_calls_invalid=self.tool_calls_invalid,
            guard=guard_scores(generation))
        runtime.recorder.record(sample)
        if self.rollout is not None and self.arm is not None:
            kind = "shadow" if shadow else "pinned" if self.pinned else "served"
            runtime.metrics.requests.labels(self.rollout, self.arm, kind).inc()
            if kind == "served":
                runtime.metrics.latency.labels(self.rollout, self.arm).observe(latency_s)


def top_score(run: retrieval.RagRun | None) -> float | None:
    """The best dense similarity among the hits (the fused RRF score is rank-only)."""
    if run is None or run.result is None:
        return None
    scores = [h.vector_score for h in run.result.hits if h.vector_score is not None]
    return round(max(scores), 6) if scores else None


def budget_violation(run: retrieval.RagRun | None) -> bool | None:
    if run is None or run.context is None:
        return None
    return run.context.tokens > run.context.budget


def guard_scores(generation: Generation) -> dict[str, float]:
    """Per category, the input guard's highest finding score (0 when it found nothing);
    empty when no guard ran."""
    verdict = generation.input_verdict
    if verdict is None:
        return {}
    scores = dict.fromkeys(BUILTIN_CATEGORIES, 0.0)
    for finding in verdict.findings:
        scores[finding.category] = max(scores.get(finding.category, 0.0),
                                       round(float(finding.score), 4))
    return scores


def prompt_of(runtime: RolloutRuntime, arm: Arm) -> PromptVersion | None:
    if arm.prompt is None:
        return None
    prompt = runtime.prompts.get(arm.prompt)
    if prompt is None:
        raise APIError(503, f"the rollout arm uses prompt '{arm.prompt}', which "
                            "rollouts.prompts no longer defines; restore it or roll back",
                       code="rollout_misconfigured")
    return prompt


def choose(state: AppState, principal: Principal, model: str, request_id: str) -> ServingArm:
    """The arm for this request; a plain model name gives a ServingArm without rollout."""
    runtime = state.rollouts
    name, separator, pin = model.partition(ARM_SEPARATOR)
    configured = runtime.config.rollouts.models.get(name)
    current = runtime.view.get(name)
    if configured is None and current is None:
        if separator:
            raise APIError(404, f"'{name}' is not a rollout, so '{model}' names no arm. "
                                "See GET /admin/rollouts.", code="model_not_found",
                           param="model")
        return ServingArm(runtime, model, model)
    champion = current.champion if current is not None else \
        Arm.from_config(configured.champion, runtime.prompts)  # type: ignore[union-attr]
    challenger = current.live_challenger if current is not None else None
    mode = current.mode if current is not None else "ab"
    share = current.share if current is not None else 0.0
    if separator:
        if pin not in ARM_NAMES:
            raise APIError(400, f"model: '{pin}' is not an arm; use {name}@champion or "
                                f"{name}@challenger", code="invalid_value", param="model")
        if principal.role != "admin":
            raise APIError(403, "Pinning a rollout arm (model 'name@arm') needs an admin key; "
                                f"send model '{name}' to be assigned one.",
                           code="arm_pin_admin_only", param="model")
        spec = challenger if pin == CHALLENGER else champion
        if spec is None:
            raise APIError(409, f"rollout '{name}' has no live challenger to pin; see GET "
                                f"/admin/rollouts/{name}", code="no_live_challenger",
                           param="model")
        return ServingArm(runtime, name, spec.model, name, pin, spec, prompt_of(runtime, spec),
                          pinned=True)
    arm_name, spec, shadow_to = CHAMPION, champion, None
    if challenger is not None and mode == "ab" and \
            assign(principal.key_id, name, share) == CHALLENGER:
        arm_name, spec = CHALLENGER, challenger
    elif challenger is not None and mode == "shadow" and shadow_sampled(request_id, name, share):
        shadow_to = challenger
    return ServingArm(runtime, name, spec.model, name, arm_name, spec, prompt_of(runtime, spec),
                      shadow_to=shadow_to)
