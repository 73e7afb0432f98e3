"""Tracing setup and the server span, with the SDK's InMemorySpanExporter (no collector)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from warden.config import TelemetryConfig
from warden.telemetry import tracing
from warden.telemetry.trace_middleware import TracingMiddleware

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


@pytest.fixture()
def exported() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    assert tracing.start_tracing(TelemetryConfig(), scrub=str.upper, exporter=exporter)
    yield exporter
    tracing.stop_tracing()


def test_off_by_default_and_every_helper_is_a_no_op() -> None:
    assert TelemetryConfig().otlp_endpoint is None
    assert tracing.start_tracing(TelemetryConfig(), scrub=str) is None
    assert tracing.tracing() is None
    with tracing.span("x") as opened:
        assert opened is None
    assert tracing.outgoing_headers() == {}
    assert tracing.current_trace_id() is None
    assert tracing.content("jane@example.com") is None
    assert not tracing.recording()


def test_the_endpoint_gets_the_traces_path_only_when_it_has_none() -> None:
    assert tracing.traces_url("http://collector:4318") == "http://collector:4318/v1/traces"
    assert tracing.traces_url("http://c:4318/") == "http://c:4318/v1/traces"
    assert tracing.traces_url("http://c:4318/custom/traces") == "http://c:4318/custom/traces"


def test_an_otlp_endpoint_turns_tracing_on() -> None:
    started = tracing.start_tracing(
        TelemetryConfig(otlp_endpoint="http://127.0.0.1:9/v1/traces", sampling_ratio=0.5,
                        service_name="edge"), scrub=str)
    try:
        assert started is not None and tracing.tracing() is started
        assert started.provider.resource.attributes["service.name"] == "edge"
        assert "0.5" in started.provider.sampler.get_description()
    finally:
        tracing.stop_tracing()
    assert tracing.tracing() is None


def test_child_spans_open_only_inside_a_trace(exported: InMemorySpanExporter) -> None:
    with tracing.span("orphan") as opened:
        assert opened is None  # background work opens no root spans
    root = tracing.server_span("GET", {}, {})
    assert root is not None
    with tracing.in_span(root), tracing.span("child", {"a": 1}) as child:
        assert child is not None
        assert tracing.current_trace_id() == f"{root.get_span_context().trace_id:032x}"
    root.end()
    spans = {s.name: s for s in exported.get_finished_spans()}
    assert spans["child"].parent.span_id == root.get_span_context().span_id
    assert spans["child"].attributes["a"] == 1


def test_a_failed_span_has_the_error_type_but_never_the_message(
        exported: InMemorySpanExporter) -> None:
    root = tracing.server_span("GET", {}, {})
    assert root is not None
    with pytest.raises(ValueError), tracing.in_span(root), tracing.span("fails"):
        raise ValueError("jane@example.com is not a model")
    root.end()
    failed = next(s for s in exported.get_finished_spans() if s.name == "fails")
    assert failed.attributes["error.type"] == "ValueError"
    assert failed.status.status_code.name == "ERROR"
    assert not failed.status.description and not failed.events


def test_content_is_opt_in_and_scrubbed() -> None:
    exporter = InMemorySpanExporter()
    tracing.start_tracing(TelemetryConfig(trace_content=True), scrub=str.upper,
                          exporter=exporter)
    try:
        assert tracing.content("secret") == "SECRET"
    finally:
        tracing.stop_tracing()


async def _seen(request: Request) -> JSONResponse:
    return JSONResponse({"trace_id": tracing.current_trace_id(),
                         "outgoing": tracing.outgoing_headers().get("traceparent")})


APP = TracingMiddleware(Starlette(routes=[Route("/items/{item_id}", _seen)]))


async def _get(headers: dict[str, str]) -> httpx.Response:
    transport = httpx.ASGITransport(app=APP)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.get("/items/jane@example.com?q=1", headers=headers)


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_server_span_continues_an_incoming_traceparent(
        exported: InMemorySpanExporter, anyio_backend: str) -> None:
    response = await _get({"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"})
    [server] = exported.get_finished_spans()
    assert server.kind is SpanKind.SERVER
    assert server.name == "GET /items/{item_id}"  # the template, never the raw path
    assert f"{server.context.trace_id:032x}" == CALLER_TRACE
    assert f"{server.parent.span_id:016x}" == CALLER_SPAN
    assert server.attributes["http.route"] == "/items/{item_id}"
    assert server.attributes["http.response.status_code"] == 200
    assert "jane" not in repr(dict(server.attributes))
    body = response.json()
    assert body["trace_id"] == CALLER_TRACE
    # What Warden sends on is its own span, not the caller's.
    assert body["outgoing"] == f"00-{CALLER_TRACE}-{server.context.span_id:016x}-01"


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_without_a_traceparent_the_server_span_starts_a_trace(
        exported: InMemorySpanExporter, anyio_backend: str) -> None:
    response = await _get({})
    [server] = exported.get_finished_spans()
    assert server.parent is None
    assert response.json()["trace_id"] == f"{server.context.trace_id:032x}"
