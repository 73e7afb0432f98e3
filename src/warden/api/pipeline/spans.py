"""The generation pipeline's spans (OpenTelemetry GenAI semantic conventions).

The generation span is named `{gen_ai.operation.name} {gen_ai.request.model}`: kind CLIENT
for an upstream engine (its own server span nests under it: the upstream request carries
this span's `traceparent`), INTERNAL for the in-process one. It holds the provider, the
request and response model, the sampling limits, token usage and finish reasons, and a
`gen_ai.first_token` event with the time to first token. The output guard's checks become
one child span. No request or output text is set unless `telemetry.trace_content` is on,
and then scrubbed (telemetry.tracing.content). Every helper is a no-op for a None span, so
with tracing off the pipeline pays one `is None` test per step.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from warden.engine.base import Engine, GenerationRequest, Usage
from warden.safety.policy import Verdict
from warden.telemetry import tracing
from warden.telemetry.tracing import Span, SpanKind, StatusCode

if TYPE_CHECKING:
    from warden.api.pipeline.generation import Generation

__all__ = ["OutputGuardTrace", "Span", "end_generation", "first_token", "note_verdict",
           "priming", "reserving", "start_generation", "traced_check"]
_SEVERITY = ("allow", "redact", "escalate", "block")


def operation_of(request: GenerationRequest) -> str:
    return "chat" if request.messages is not None else "text_completion"


def _server(metadata: dict[str, Any]) -> dict[str, Any]:
    url = metadata.get("upstream_base_url")
    if not isinstance(url, str):
        return {}
    parts = urlsplit(url)  # already without user:password (engine metadata)
    return {"server.address": parts.hostname,
            "server.port": parts.port or (443 if parts.scheme == "https" else 80)}


def start_generation(request: GenerationRequest, engine: Engine) -> Span | None:
    """The generation span, a child of the current (server) span; None outside a trace."""
    if not tracing.recording():
        return None
    metadata = engine.metadata()
    upstream = metadata.get("backend") == "upstream"
    operation = operation_of(request)
    sampling = request.sampling
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": operation,
        "gen_ai.provider.name": "openai_compatible" if upstream else "llama.cpp",
        "gen_ai.request.model": request.model,
        "gen_ai.request.max_tokens": sampling.max_tokens,
        "gen_ai.request.temperature": sampling.temperature,
        "gen_ai.request.top_p": sampling.top_p,
        "warden.engine.backend": str(metadata.get("backend") or "builtin"),
        **(_server(metadata) if upstream else {}),
    }
    if upstream and isinstance(metadata.get("upstream_model"), str):
        attributes["warden.upstream.model"] = metadata["upstream_model"]
    if tracing.content_enabled():  # opt-in, scrubbed (the guard already redacted it)
        attributes["gen_ai.input.messages"] = tracing.content(_input_text(request))
    span = tracing.start_span(f"{operation} {request.model}",
                              kind=SpanKind.CLIENT if upstream else SpanKind.INTERNAL,
                              attributes={k: v for k, v in attributes.items() if v is not None})
    return span


def _input_text(request: GenerationRequest) -> str:
    if request.messages is None:
        return json.dumps([{"role": "user", "parts": [{"type": "text",
                                                       "content": request.prompt or ""}]}])
    return json.dumps([{"role": m.get("role"), "parts": [{"type": "text",
                                                          "content": m.get("content")}]}
                       for m in request.messages], ensure_ascii=False, default=str)


def reserving(tier: str) -> AbstractContextManager[Span | None]:
    """The rate-limit reservation's span."""
    return tracing.span("warden.rate_limit.reserve", {"warden.tier": tier})


@contextmanager
def priming(span: Span | None) -> Iterator[None]:
    """The generation span current while the engine opens its stream (an upstream request
    carries its traceparent); a failure there is recorded as the span's error type."""
    try:
        with tracing.in_span(span):
            yield
    except BaseException as exc:
        tracing.mark_error(span, exc)
        raise


def _failed(span: Span) -> bool:
    status = getattr(span, "status", None)  # the SDK's spans expose it
    return status is not None and status.status_code is StatusCode.ERROR


def first_token(span: Span | None, ttft_s: float) -> None:
    if span is not None:
        span.add_event("gen_ai.first_token", {"gen_ai.server.time_to_first_token": ttft_s})


def end_generation(generation: Generation) -> None:
    """Usage, finish reason, the output guard's span; then end the generation span."""
    span = generation.trace_span
    if span is None:
        return
    usage = generation.usage or Usage(generation.prompt_tokens, generation.engine_tokens)
    metadata_model = generation.engine.metadata().get("upstream_model")
    tracing.set_attributes(span, {
        "gen_ai.response.model": metadata_model if isinstance(metadata_model, str)
        else generation.request.model,
        "gen_ai.usage.input_tokens": usage.prompt_tokens,
        "gen_ai.usage.output_tokens": usage.completion_tokens,
        "gen_ai.response.finish_reasons": [generation.finish_reason or "incomplete"],
        "error.type": None if generation.finish_reason or _failed(span) else "incomplete"})
    if tracing.content_enabled():
        tracing.set_attributes(span, {"gen_ai.output.messages": tracing.content(json.dumps(
            [{"role": "assistant", "parts": [{"type": "text", "content": "".join(
                generation.completion_text_parts)}]}], ensure_ascii=False))})
    guard = generation.output_guard
    if guard is not None and isinstance(guard.check, OutputGuardTrace):
        guard.check.emit(span, guard.interventions)
    span.end()


def note_verdict(verdict: Verdict) -> None:
    """The current (guard) span's verdict: action and categories, never the matched text."""
    tracing.set_attributes(tracing.current_span(), {
        "warden.safety.action": verdict.action,
        "warden.safety.categories": list(verdict.categories)})


class OutputGuardTrace:
    """Wraps the output guard's checker and times its checks, for one span per generation
    (from the first check to the last) instead of one per checked segment."""

    def __init__(self, check: Callable[[str], Verdict]) -> None:
        self._check = check
        self.first_ns: int | None = None
        self.last_ns = 0
        self.checks = 0
        self.busy_ns = 0

    def __call__(self, text: str) -> Verdict:
        started = tracing.now_ns()
        try:
            return self._check(text)
        finally:
            self.last_ns = tracing.now_ns()
            self.first_ns = self.first_ns or started
            self.checks += 1
            self.busy_ns += self.last_ns - started

    def emit(self, parent: Span, interventions: list[Verdict]) -> None:
        if self.first_ns is None:
            return
        action = max((v.action for v in interventions), key=_SEVERITY.index, default="allow")
        span = tracing.start_span("warden.guard.output", parent=parent,
                                  start_time_ns=self.first_ns, attributes={
                                      "warden.safety.action": action,
                                      "warden.safety.categories": sorted(
                                          {c for v in interventions for c in v.categories}),
                                      "warden.guard.checks": self.checks,
                                      "warden.guard.busy_ms": round(self.busy_ns / 1e6, 3)})
        if span is not None:
            span.end(end_time=self.last_ns)


def traced_check(check: Callable[[str], Verdict]) -> Callable[[str], Verdict]:
    """`check`, timed for the output guard's span when this request is traced."""
    return OutputGuardTrace(check) if tracing.recording() else check
