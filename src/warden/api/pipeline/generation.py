"""The one code path every generation route shares, whatever the engine behind it.

quota reserve -> input guard -> prepare (retrieval) -> waiting line -> engine stream (primed,
so early failures are real HTTP statuses) -> output guard -> metrics -> reconcile. The HTTP
routes only translate to and from JSON/SSE. Failures are raised as the inner layers' own
exceptions; `warden.api.errors.to_api_error` is the one place that turns them into answers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

from warden.api.errors import APIError, GenerationTimeout
from warden.api.pipeline import spans
from warden.api.pipeline.guard import RequestGuard
from warden.api.pipeline.schema_output import still_valid
from warden.config import TierConfig, WardenConfig
from warden.engine.base import (
    Engine,
    Finished,
    GenerationRequest,
    StreamEvent,
    TextDelta,
    Usage,
)
from warden.engine.waiting_line import QueueFull, Slot, WaitingLine
from warden.ratelimit import Limits, RateLimited, RequestTooLarge, Reservation, rate_limit_headers
from warden.ratelimit.factory import Limiter
from warden.safety.policy import Verdict
from warden.safety.redaction import Redactor
from warden.safety.streaming import StreamGuard
from warden.store.keys import Principal
from warden.telemetry.metrics import Metrics
from warden.telemetry.request_log import note_safety, note_usage

log = logging.getLogger(__name__)

# A request rewrite between the input guard and the engine (retrieval): (request, redactor).
Prepare = Callable[[GenerationRequest, Redactor | None], Awaitable[GenerationRequest]]
UNMETERED = "unmetered"


def unmetered(principal: Principal) -> Reservation:
    """The reservation of a shadow copy: it holds nothing of the caller's limits."""
    placeholder = Limits(rpm=1, tpm=1, tokens_per_day=1, max_concurrent=1)  # never enforced
    return Reservation(principal.key_id, 0, 0, 0, placeholder, 0, 0, 0, 0, id=UNMETERED)


@dataclass
class Generation:
    """One admitted request. Iterate `events()`; `close()` is idempotent and always safe."""

    service: GenerationService
    request: GenerationRequest
    engine: Engine
    reservation: Reservation
    slot: Slot | None
    arrived: float
    deadline: float
    prompt_tokens: int
    _stream: AsyncIterator[StreamEvent]
    _first: StreamEvent | None = None
    usage: Usage | None = None
    finish_reason: str | None = None
    first_token_at: float | None = None
    completion_text_parts: list[str] = field(default_factory=list)
    _closed: bool = False
    _last_token_at: float | None = None
    output_guard: StreamGuard | None = None
    on_intervention: Callable[[Verdict], Awaitable[None]] | None = None
    engine_tokens: int = 0
    incident_id: str | None = None
    # Schema-constrained output is held whole until checked (see schema_output.py).
    held: list[str] | None = None
    # Rollouts (pipeline/rollout.py): the input guard's verdict, when the request ended, and
    # who to tell once usage is known. A shadow copy is not metered: no quota, no reconcile.
    input_verdict: Verdict | None = None
    ended_at: float | None = None
    on_closed: list[Callable[[Generation], None]] = field(default_factory=list)
    metered: bool = True
    trace_span: spans.Span | None = None  # the generation's span (pipeline/spans.py)

    @property
    def rate_headers(self) -> dict[str, str]:
        return rate_limit_headers(self.reservation)

    async def _next(self) -> StreamEvent:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise GenerationTimeout
        try:
            async with asyncio.timeout(remaining):
                return await anext(self._stream)
        except TimeoutError as exc:
            raise GenerationTimeout from exc

    async def prime(self) -> None:
        self._first = await self._next()

    async def events(self) -> AsyncIterator[StreamEvent]:
        try:
            event = self._first
            self._first = None
            while True:
                if event is None:
                    event = await self._next()
                for out in await self._guarded(event):
                    self._observe(out)
                    yield out
                    if isinstance(out, Finished):
                        return
                event = None
        finally:
            self.close()

    async def _guarded(self, event: StreamEvent) -> list[StreamEvent]:
        """Pass engine events through the output guard: text leaves only once checked."""
        guard = self.output_guard
        if isinstance(event, TextDelta):
            self.engine_tokens += 1
        if guard is None:
            return [event]
        if isinstance(event, TextDelta):
            release = (await asyncio.to_thread(guard.push, event.text)
                       if guard.will_check(event.text) else guard.push(event.text))
        else:
            release = await asyncio.to_thread(guard.finish)
        out: list[StreamEvent] = [TextDelta(release.text)] if release.text else []
        if release.blocked:
            if release.verdict is not None and self.on_intervention is not None:
                await self.on_intervention(release.verdict)
            usage = event.usage if isinstance(event, Finished) else \
                Usage(self.prompt_tokens, self.engine_tokens)
            if self.held is not None:
                out = []  # a part of a document is no document
            return [*out, Finished("content_filter", usage)]
        if self.held is None:
            return [*out, event] if isinstance(event, Finished) else out
        if release.text:
            self.held.append(release.text)
        if not isinstance(event, Finished):
            return []
        document = "".join(self.held)
        redacted = any(v.action == "redact" for v in guard.interventions)
        if redacted and event.finish_reason == "stop" and self.request.json_schema is not None \
                and not still_valid(document, self.request.json_schema):
            return [Finished("content_filter", event.usage,
                             extra={**event.extra, "redaction_broke_schema": True})]
        return [TextDelta(document), event] if document else [event]

    async def collect(self) -> tuple[str, Finished]:
        finished: Finished | None = None
        async for event in self.events():
            if isinstance(event, Finished):
                finished = event
        assert finished is not None
        return "".join(self.completion_text_parts), finished

    def _observe(self, event: StreamEvent) -> None:
        now = time.monotonic()
        metrics, model = self.service.metrics, self.request.model
        if isinstance(event, TextDelta):
            self.completion_text_parts.append(event.text)
            if self.first_token_at is None:
                self.first_token_at = now
                metrics.ttft_seconds.labels(model).observe(now - self.arrived)
                metrics.genai.first_token(self.operation, model, now - self.arrived)
                spans.first_token(self.trace_span, now - self.arrived)
            elif self._last_token_at is not None:
                metrics.itl_seconds.labels(model).observe(now - self._last_token_at)
            self._last_token_at = now
        else:
            self.usage = event.usage
            self.finish_reason = event.finish_reason
            if self.metered:  # a shadow copy's usage is not the caller's
                note_usage(event.usage.prompt_tokens, event.usage.completion_tokens)
                for verdict in self.output_guard.interventions if self.output_guard else ():
                    note_safety("output", verdict.categories, verdict.action)

    @property
    def operation(self) -> str:
        """The GenAI operation name (OpenTelemetry semantic conventions)."""
        return "chat" if self.request.messages is not None else "text_completion"

    def close(self) -> None:
        """Free the engine slot now; finish the async clean-up in a task no cancel can stop."""
        if self._closed:
            return
        self._closed = True
        self.ended_at = time.monotonic()
        if self.slot is not None:
            self.slot.release()
            self.service.metrics.inflight.labels(self.request.model).dec()
        spans.end_generation(self)
        self.service.spawn(self._cleanup())

    async def _cleanup(self) -> None:
        try:
            await self._stream.aclose()  # type: ignore[attr-defined]
        except Exception:
            log.debug("engine stream close failed", exc_info=True)
        guard = self.output_guard
        redactions = [v for v in (guard.interventions if guard else []) if v.action == "redact"]
        if redactions and self.on_intervention is not None:
            await self.on_intervention(Verdict("redact", tuple(
                f for v in redactions for f in v.findings)))
        usage = self.usage or Usage(self.prompt_tokens, self.engine_tokens)
        model = self.request.model
        self.service.metrics.tokens.labels(model, "prompt").inc(usage.prompt_tokens)
        self.service.metrics.tokens.labels(model, "completion").inc(usage.completion_tokens)
        self.service.metrics.finish.labels(model, self.finish_reason or "cancelled").inc()
        ended = self.ended_at or time.monotonic()
        self.service.metrics.genai.finished(
            self.operation, model, duration_s=ended - self.arrived,
            decode_s=ended - self.first_token_at if self.first_token_at is not None else None,
            prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
            error_type="" if self.finish_reason else "incomplete")
        self.service.waiting_lines[model].observe_service_time(time.monotonic() - self.arrived)
        self.usage = usage
        for observer in self.on_closed:
            try:
                observer(self)
            except Exception:
                log.warning("a close observer failed for %s", self.request.request_id,
                            exc_info=True)
        if not self.metered:
            return
        try:
            await self.service.limiter.reconcile(self.reservation, usage.total_tokens)
        except Exception:
            log.warning("rate-limit reconcile failed for %s", self.request.request_id,
                        exc_info=True)


class GenerationService:
    def __init__(self, config: WardenConfig, engines: Mapping[str, Engine], limiter: Limiter,
                 metrics: Metrics, guard: RequestGuard | None) -> None:
        self.config = config
        self.engines = engines
        self.limiter = limiter
        self.metrics = metrics
        self.guard = guard  # None when safety.enabled is false
        self.waiting_lines = {
            m.name: WaitingLine(m.engine_concurrency(), m.queue_size) for m in config.models
        }
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run background work (reconciliation, audit) that must finish even if the request
        is cancelled; `drain` waits for it at shutdown."""
        task: asyncio.Task[Any] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def default_model(self) -> str:
        return self.config.models[0].name

    def engine_for(self, model: str) -> Engine:
        engine = self.engines.get(model)
        if engine is None:
            known = ", ".join(sorted(self.engines))
            raise APIError(404, f"The model '{model}' does not exist. Available: {known}. "
                                "See GET /v1/models.", code="model_not_found", param="model")
        return engine

    def tier(self, principal: Principal) -> TierConfig:
        tier = self.config.tiers.get(principal.tier)
        if tier is None:
            raise APIError(403, f"This key's tier '{principal.tier}' is not configured on this "
                                "server; ask an admin to move the key to an existing tier.",
                           code="unknown_tier")
        return tier

    def max_tokens_for(self, principal: Principal, requested: int | None) -> int:
        ceiling = self.tier(principal).max_tokens
        if requested is None:
            return ceiling
        if requested > ceiling:
            raise APIError(400, f"max_tokens={requested} is above this key's tier limit of "
                                f"{ceiling}. Ask for {ceiling} or fewer.",
                           code="max_tokens_exceeded", param="max_tokens")
        return requested

    async def start(self, principal: Principal, request: GenerationRequest, *,
                    prepare: Prepare | None = None, shadow: bool = False) -> Generation:
        """Reserve quota, wait for the engine, and prime the stream; raise APIError if not.

        `prepare` (retrieval, api/rag.py) rewrites the request after the input guard and
        before the engine: it sees the guarded text and the request's redactor.
        `shadow`: a rollout's background copy of an already guarded request: it is neither
        charged to the caller's quota nor guarded again (its answer is discarded)."""
        arrived = time.monotonic()
        engine = self.engine_for(request.model)
        tier = self.tier(principal)
        prompt_tokens = engine.count_prompt_tokens(request)
        reservation = unmetered(principal) if shadow else await self._reserve(
            principal, tier, prompt_tokens + request.sampling.max_tokens)
        guarded = None
        if self.guard is not None and not shadow:
            try:
                guarded = await self.guard.check_input(principal, request)
            except BaseException:
                self._release(reservation)
                raise
            request = guarded.request
            if guarded.escalation is not None:
                return await self._escalated(request, reservation, arrived=arrived,
                                             prompt_tokens=prompt_tokens,
                                             text=guarded.escalation,
                                             incident_id=guarded.incident_id)
        if prepare is not None:
            try:
                request = await prepare(request, guarded.redactor if guarded else None)
                prompt_tokens = engine.count_prompt_tokens(request)
            except BaseException:
                # The reservation covered the prompt without context; usage is reconciled
                # at the end, so the context's tokens are charged all the same.
                self._release(reservation)
                raise
        line = self.waiting_lines[request.model]
        deadline = arrived + self.config.server.request_timeout_s
        self.metrics.queue_depth.labels(request.model).inc()
        try:
            slot = await line.acquire(timeout_s=max(0.0, deadline - time.monotonic()))
        except QueueFull:
            self.metrics.queue_rejections.labels(request.model).inc()
            self._release(reservation)
            raise
        except TimeoutError as exc:
            self._release(reservation)
            raise GenerationTimeout(
                "Timed out waiting for a free engine slot (server.request_timeout_s="
                f"{self.config.server.request_timeout_s}).") from exc
        finally:
            self.metrics.queue_depth.labels(request.model).dec()
        self.metrics.inflight.labels(request.model).inc()
        generation = Generation(self, request, engine, reservation, slot, arrived, deadline,
                                prompt_tokens, engine.stream(request), metered=not shadow,
                                input_verdict=guarded.verdict if guarded else None,
                                trace_span=spans.start_generation(request, engine))
        if self.guard is not None and guarded is not None:
            generation.output_guard = self.guard.output_guard(principal, guarded.redactor)
            if request.json_schema is not None:
                generation.held = []

            async def on_intervention(verdict: Verdict) -> None:
                assert self.guard is not None
                await self.guard.record("output", verdict, principal, request.request_id)

            generation.on_intervention = on_intervention
        try:
            with spans.priming(generation.trace_span):  # an upstream sees this span's context
                await generation.prime()
        except GenerationTimeout as exc:
            generation.close()
            raise GenerationTimeout(
                "The model produced no output before the request timeout "
                f"({self.config.server.request_timeout_s} s).") from exc
        except BaseException:
            generation.close()
            raise
        return generation

    async def _escalated(self, request: GenerationRequest, reservation: Reservation, *,
                         arrived: float, prompt_tokens: int, text: str,
                         incident_id: str | None) -> Generation:
        """A crisis answer: the model never sees the request; the user gets help resources."""

        async def canned() -> AsyncIterator[StreamEvent]:
            yield TextDelta(text)
            yield Finished("content_filter", Usage(prompt_tokens, 0),
                           extra={"escalated": True, "incident_id": incident_id})

        engine = self.engine_for(request.model)
        generation = Generation(self, request, engine, reservation, None, arrived,
                                arrived + self.config.server.request_timeout_s, prompt_tokens,
                                canned(), incident_id=incident_id)
        await generation.prime()
        return generation

    def _release(self, reservation: Reservation) -> None:
        if reservation.id != UNMETERED:
            self.spawn(self.limiter.reconcile(reservation, 0))

    async def _reserve(self, principal: Principal, tier: TierConfig, tokens: int) -> Reservation:
        try:
            with spans.reserving(principal.tier):
                return await self.limiter.reserve(principal.key_id, Limits.from_tier(tier), tokens)
        except (RequestTooLarge, RateLimited) as exc:
            self.metrics.rate_limited.labels(principal.tier, exc.reason).inc()
            raise
