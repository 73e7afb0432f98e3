"""The generation pipeline's spans (api/pipeline/spans.py) with the SDK's in-memory exporter:
structure, GenAI attributes, Warden's own context sent upstream, and no content by default."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from tests.unit.api.test_generation_service import ALICE, ScriptedEngine, service

from warden.api.pipeline import spans
from warden.config import TelemetryConfig
from warden.engine.base import (
    GenerationRequest,
    SamplingParams,
    StreamEvent,
    UpstreamUnavailable,
)
from warden.safety.policy import Finding, Verdict
from warden.safety.scrub import scrub_pii
from warden.safety.streaming import StreamGuard
from warden.telemetry import tracing

EMAIL = "jane.roe@gmail.com"  # example.com is a reserved domain the detector skips
MODEL = "smollm2-135m-instruct"


class RecordingEngine(ScriptedEngine):
    """A scripted engine that says it is an upstream and keeps the trace headers it would
    send with its request."""

    def __init__(self, tokens: list[str], **kwargs: Any) -> None:
        super().__init__(tokens, **kwargs)
        self.sent: dict[str, str] = {}

    def metadata(self) -> dict[str, Any]:
        return {"backend": "upstream", "upstream_base_url": "http://10.0.0.9:8000/v1",
                "upstream_model": "smollm2-upstream"}

    async def stream(self, request: GenerationRequest) -> AsyncIterator[StreamEvent]:
        self.sent = tracing.outgoing_headers()
        async for event in super().stream(request):
            yield event


def exporter_for(**config: Any) -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    tracing.start_tracing(TelemetryConfig(**config), scrub=scrub_pii, exporter=exporter)
    return exporter


@pytest.fixture()
def exported() -> Iterator[InMemorySpanExporter]:
    yield exporter_for()
    tracing.stop_tracing()


def chat(content: str) -> GenerationRequest:
    return GenerationRequest(request_id="req_1", model=MODEL,
                             messages=({"role": "user", "content": content},),
                             sampling=SamplingParams(max_tokens=20, temperature=0.3))


def run(engine: ScriptedEngine, request: GenerationRequest) -> dict[str, ReadableSpan]:
    """One traced request under a server span; the finished spans by name."""

    async def scenario() -> None:
        svc, _ = service(engine)
        root = tracing.server_span("POST", {}, {})
        with tracing.in_span(root):
            try:
                generation = await svc.start(ALICE, request)
                await generation.collect()
            finally:
                await svc.drain()
        assert root is not None
        root.end()

    asyncio.run(scenario())
    return {s.name: s for s in _finished()}


def _finished() -> list[ReadableSpan]:
    t = tracing.tracing()
    assert t is not None
    processor = t.provider._active_span_processor._span_processors[0]  # type: ignore[attr-defined]
    return list(processor.span_exporter.get_finished_spans())


def every_value(span: ReadableSpan) -> str:
    return repr([dict(span.attributes or {}), [(e.name, dict(e.attributes or {}))
                                               for e in span.events]])


def test_the_generation_span_and_its_siblings(exported: InMemorySpanExporter) -> None:
    found = run(ScriptedEngine(["Hi", " there"]), chat(f"Mail {EMAIL} please"))
    root = found["POST"]
    generation = found[f"chat {MODEL}"]
    reserve = found["warden.rate_limit.reserve"]
    for child in (generation, reserve):
        assert child.parent is not None and child.parent.span_id == root.context.span_id
        assert child.context.trace_id == root.context.trace_id
    assert generation.kind is SpanKind.INTERNAL  # the in-process engine
    attributes = dict(generation.attributes or {})
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.provider.name"] == "llama.cpp"
    assert attributes["gen_ai.request.model"] == MODEL
    assert attributes["gen_ai.response.model"] == MODEL
    assert attributes["gen_ai.usage.input_tokens"] == 10
    assert attributes["gen_ai.usage.output_tokens"] == 2
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert attributes["gen_ai.request.max_tokens"] == 20
    assert attributes["gen_ai.request.temperature"] == 0.3
    [event] = generation.events
    assert event.name == "gen_ai.first_token"
    assert event.attributes["gen_ai.server.time_to_first_token"] >= 0
    for span in found.values():  # no content by default
        assert EMAIL not in every_value(span) and "Hi there" not in every_value(span)
        assert "gen_ai.input.messages" not in (span.attributes or {})


def test_an_upstream_gets_the_generation_span_as_its_parent(
        exported: InMemorySpanExporter) -> None:
    engine = RecordingEngine(["ok"])
    found = run(engine, chat("hello"))
    generation = found[f"chat {MODEL}"]
    assert generation.kind is SpanKind.CLIENT
    assert generation.attributes["gen_ai.provider.name"] == "openai_compatible"
    assert generation.attributes["gen_ai.response.model"] == "smollm2-upstream"
    assert generation.attributes["server.address"] == "10.0.0.9"
    assert generation.attributes["server.port"] == 8000
    trace_id, span_id = engine.sent["traceparent"].split("-")[1:3]
    assert trace_id == f"{generation.context.trace_id:032x}"
    assert span_id == f"{generation.context.span_id:016x}"  # not the server span's


def test_a_failure_before_the_first_token_is_the_spans_error(
        exported: InMemorySpanExporter) -> None:
    engine = ScriptedEngine(["a"], fail=UpstreamUnavailable(f"http://{EMAIL}@10.0.0.9"))
    with pytest.raises(UpstreamUnavailable):
        run(engine, chat("hello"))
    generation = next(s for s in _finished() if s.name == f"chat {MODEL}")
    assert generation.attributes["error.type"] == "UpstreamUnavailable"
    assert generation.status.status_code.name == "ERROR"
    assert EMAIL not in every_value(generation) and not generation.status.description


def test_content_is_opt_in_and_scrubbed() -> None:
    exporter_for(trace_content=True)
    try:
        found = run(ScriptedEngine(["Write ", "to ", EMAIL]), chat(f"Mail {EMAIL} please"))
    finally:
        tracing.stop_tracing()
    attributes = found[f"chat {MODEL}"].attributes or {}
    assert "<EMAIL_ADDRESS>" in str(attributes["gen_ai.input.messages"])
    assert "Write to <EMAIL_ADDRESS>" in str(attributes["gen_ai.output.messages"])
    assert all(EMAIL not in every_value(s) for s in found.values())


def test_the_output_guards_checks_become_one_span(exported: InMemorySpanExporter) -> None:
    def check(text: str) -> Verdict:
        at = text.find("@")
        return Verdict("redact", (Finding("pii", at - 4, at + 12, 1.0, "regex",
                                          "EMAIL_ADDRESS"),)) if at >= 0 else Verdict("allow")

    root = tracing.server_span("POST", {}, {})
    with tracing.in_span(root):
        traced = spans.traced_check(check)
        guard = StreamGuard(check=traced, redact=lambda text, found: "<EMAIL_ADDRESS>")
        guard.push("Fine. ")
        guard.push(f"Mail {EMAIL}.\n")
        guard.finish()
    assert isinstance(traced, spans.OutputGuardTrace) and root is not None
    traced.emit(root, guard.interventions)
    root.end()
    [output] = [s for s in _finished() if s.name == "warden.guard.output"]
    assert output.parent is not None and output.parent.span_id == root.context.span_id
    assert output.attributes["warden.safety.action"] == "redact"
    assert output.attributes["warden.safety.categories"] == ("pii",)
    assert output.attributes["warden.guard.checks"] == 2
    assert EMAIL not in every_value(output)


def test_untraced_requests_wrap_nothing() -> None:
    def check(text: str) -> Verdict:
        return Verdict("allow")

    assert spans.traced_check(check) is check
    assert spans.start_generation(chat("x"), ScriptedEngine([])) is None
