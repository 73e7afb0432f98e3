"""The guard pipeline in the request path: input verdicts, escalations, output stream guards,
and the evidence (audit records, incidents, metrics) of every intervention.

Detectors are CPU work, so they run in a worker thread, never on the event loop. Records
carry categories, actions, detectors and ids, never the matched text.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from warden.api.errors import APIError
from warden.api.pipeline import spans
from warden.config import WardenConfig
from warden.engine.base import GenerationRequest
from warden.safety.pipeline import GuardPipeline
from warden.safety.policy import Finding, Verdict
from warden.safety.redaction import Redactor
from warden.safety.streaming import StreamGuard
from warden.store.audit import AuditLog
from warden.store.incidents import Incidents
from warden.store.keys import Principal
from warden.telemetry.metrics import Metrics
from warden.telemetry.request_log import note_safety
from warden.telemetry.tracing import span

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GuardedInput:
    request: GenerationRequest          # what the engine will see (redacted if needed)
    verdict: Verdict
    redactor: Redactor
    escalation: str | None = None       # the crisis response text, instead of the model
    incident_id: str | None = None


def evidence(verdict: Verdict) -> dict[str, Any]:
    """What an audit record may say about a verdict: never the matched text."""
    return {"action": verdict.action, "categories": list(verdict.categories),
            "findings": [{"category": f.category, "label": f.label, "detector": f.detector,
                          "score": round(f.score, 3)} for f in verdict.findings]}


class RequestGuard:
    def __init__(self, config: WardenConfig, audit: AuditLog, incidents: Incidents,
                 metrics: Metrics, *, pipeline: GuardPipeline | None = None,
                 observe: Callable[[str, bool], None] | None = None) -> None:
        self.config = config
        self.enabled = config.safety.enabled
        self._audit = audit
        self._incidents = incidents
        self._metrics = metrics
        self._base = pipeline
        self._pipelines: dict[str, GuardPipeline] = {}
        # The kill-switch triggers' signal sink: observe(signal, bad).
        self.observe = observe

    def warm_up(self) -> None:
        """Load every detector model before the first request (seconds, once)."""
        if not self.enabled:
            return
        self._base = self._base or GuardPipeline.from_config(self.config.safety)
        for name, tier in self.config.tiers.items():
            self._pipelines[name] = self._base.with_policy(self._base.policy_for(
                dict(tier.safety.actions), ner=tier.safety.ner))
        for pipeline in self._pipelines.values():
            pipeline.warm_up()

    def pipeline(self, tier_name: str) -> GuardPipeline:
        return self._pipelines[tier_name]

    async def check_input(self, principal: Principal, request: GenerationRequest
                          ) -> GuardedInput:
        with span("warden.guard.input"):
            return await self._check_input(principal, request)

    async def _check_input(self, principal: Principal, request: GenerationRequest
                           ) -> GuardedInput:
        redactor = Redactor()
        if not self.enabled:
            return GuardedInput(request, Verdict("allow"), redactor)
        pipeline = self.pipeline(principal.tier)
        trusted = tuple(request.messages or ())[:request.trusted_messages]
        content: Any = request.prompt if request.prompt is not None else \
            [dict(m) for m in (request.messages or ())[len(trusted):]]
        check = await asyncio.to_thread(pipeline.check_input, content, redactor)
        verdict = check.verdict
        spans.note_verdict(verdict)
        if self.observe is not None:
            self.observe("safety_block_rate", verdict.action == "block")
        if verdict.action == "allow":
            return GuardedInput(request, verdict, redactor)
        await self.record("input", verdict, principal, request.request_id)
        if verdict.action == "block":
            raise APIError(400, "The request was blocked by the safety policy (categories: "
                                f"{', '.join(verdict.categories)}). Rephrase it without that "
                                "content.", code="content_filter", param="messages"
                           if request.messages is not None else "prompt")
        if verdict.action == "escalate":
            incident_id = await asyncio.to_thread(
                self._incidents.open, "safety.crisis", "high",
                "Crisis / self-harm intent detected in a request; escalation response sent.",
                actor="guard", request_id=request.request_id, key_id=principal.key_id,
                detail=evidence(verdict))
            message, resources = self.config.safety.crisis_response.for_locale(None)
            lines = [message, ""] + [f"- {r.name}: {r.contact}" for r in resources]
            return GuardedInput(request, verdict, redactor, escalation="\n".join(lines),
                                incident_id=incident_id)
        redacted = dataclasses.replace(
            request, prompt=check.prompt if request.prompt is not None else None,
            messages=trusted + tuple(check.messages) if check.messages is not None else None)
        return GuardedInput(redacted, verdict, redactor)

    def output_guard(self, principal: Principal, redactor: Redactor) -> StreamGuard | None:
        if not self.enabled:
            return None
        pipeline = self.pipeline(principal.tier)

        def redact(text: str, findings: list[Finding]) -> str:
            return redactor.redact(text, findings)[0]

        hold_ms = self.config.safety.stream_hold_ms
        return StreamGuard(check=spans.traced_check(
                               lambda text: pipeline.check_output(text, redactor)),
                           redact=redact, max_hold=self.config.safety.stream_hold_chars,
                           max_hold_s=hold_ms / 1000 if hold_ms else None, known=redactor)

    async def record(self, stage: str, verdict: Verdict, principal: Principal,
                     request_id: str) -> None:
        for category in verdict.categories or ("none",):
            self._metrics.safety_events.labels(stage, category, verdict.action).inc()
        note_safety(stage, verdict.categories, verdict.action)
        payload = {"stage": stage, "request_id": request_id, "key_id": principal.key_id,
                   **evidence(verdict)}
        try:
            await asyncio.to_thread(self._audit.append, "safety.intervention", "guard", payload)
        except Exception:
            log.exception("audit append failed for safety intervention %s", request_id)
