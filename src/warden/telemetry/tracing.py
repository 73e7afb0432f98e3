"""OpenTelemetry traces: the SDK set up from `telemetry:` in warden.yaml, and span helpers.

Off (the default, no `otlp_endpoint`): nothing is set up, every helper returns at once, and
no trace header leaves for an upstream. On: a TracerProvider of Warden's own (the global one
is left alone) with a parent-based ratio sampler, batching spans to an OTLP/HTTP exporter.

Child spans (`span`) start only inside a recorded trace, so background work opens none.
Exceptions never reach a span as text (their message may echo input): a failed span gets
`error.type` (the exception class) and an ERROR status. Request text enters a span only
through `content`, which is None unless `trace_content` is on, and scrubbed when it is.
Telemetry does not know what PII is: the caller hands in `scrub`, as for the logs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

Scrub = Callable[[str], str]
Attributes = Mapping[str, str | bool | int | float | list[str]]
_PROPAGATOR = TraceContextTextMapPropagator()
__all__ = ["Span", "SpanKind", "Status", "StatusCode", "TraceSettings", "Tracing", "content",
           "content_enabled", "current_span", "current_trace_id", "in_span", "mark_error",
           "now_ns", "outgoing_headers", "recording", "server_span", "set_attributes", "span",
           "start_span", "start_tracing", "stop_tracing", "traces_url", "tracing"]


class TraceSettings(Protocol):
    """What tracing reads from config (warden.config.TelemetryConfig has these fields)."""

    @property
    def otlp_endpoint(self) -> str | None: ...
    @property
    def sampling_ratio(self) -> float: ...
    @property
    def service_name(self) -> str: ...
    @property
    def trace_content(self) -> bool: ...


@dataclass
class Tracing:
    provider: TracerProvider
    tracer: Tracer
    trace_content: bool
    scrub: Scrub

    def shutdown(self) -> None:
        """Export what is still buffered, then stop the exporter."""
        self.provider.shutdown()


class _Slot:
    """This process's tracing; None when it is off."""

    active: Tracing | None = None


_slot = _Slot()


def traces_url(endpoint: str) -> str:
    """The endpoint as given, or with `/v1/traces` when it names only the collector."""
    return endpoint.rstrip("/") + "/v1/traces" if urlsplit(endpoint).path in ("", "/") \
        else endpoint


def start_tracing(config: TraceSettings, *, scrub: Scrub,
                  exporter: SpanExporter | None = None) -> Tracing | None:
    """Set tracing up for this process (None, and nothing done, when it is off). `exporter`
    replaces the OTLP one (tests: InMemorySpanExporter) and is exported synchronously."""
    if config.otlp_endpoint is None and exporter is None:
        return None
    # The SDK is imported only when tracing is on.
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    provider = TracerProvider(
        resource=Resource.create({"service.name": config.service_name}),
        sampler=ParentBased(TraceIdRatioBased(config.sampling_ratio)))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        assert config.otlp_endpoint is not None
        provider.add_span_processor(BatchSpanProcessor(
            OTLPSpanExporter(endpoint=traces_url(config.otlp_endpoint))))
    stop_tracing()
    _slot.active = Tracing(provider, provider.get_tracer("warden"), config.trace_content, scrub)
    return _slot.active


def stop_tracing() -> None:
    if _slot.active is not None:
        _slot.active.shutdown()
        _slot.active = None


def tracing() -> Tracing | None:
    return _slot.active


def _in_trace() -> bool:
    return trace.get_current_span().is_recording()


def recording() -> bool:
    """Whether a trace is being recorded here (tracing on, and a recording current span)."""
    return _slot.active is not None and _in_trace()


def current_span() -> Span:
    return trace.get_current_span()


def start_span(name: str, *, kind: SpanKind = SpanKind.INTERNAL,
               attributes: Attributes | None = None, parent: Span | None = None,
               start_time_ns: int | None = None) -> Span | None:
    """A child of `parent` (else of the current span) that the caller ends; None when
    tracing is off or no trace is being recorded here."""
    t = _slot.active
    if t is None or not (parent.is_recording() if parent is not None else _in_trace()):
        return None
    ctx = trace.set_span_in_context(parent) if parent is not None else None
    return t.tracer.start_span(name, context=ctx, kind=kind, attributes=attributes,
                               start_time=start_time_ns, record_exception=False,
                               set_status_on_exception=False)


def mark_error(span: Span | None, exc: BaseException) -> None:
    """ERROR status and `error.type`; never the exception's message (it may echo input)."""
    if span is not None and span.is_recording():
        span.set_attribute("error.type", type(exc).__qualname__)
        span.set_status(Status(StatusCode.ERROR))


@contextmanager
def in_span(span: Span | None) -> Iterator[None]:
    """Make `span` current for the block (its children, outgoing trace headers); the
    caller still ends it. A no-op for None."""
    if span is None:
        yield
        return
    with trace.use_span(span, end_on_exit=False, record_exception=False,
                        set_status_on_exception=False):
        yield


@contextmanager
def span(name: str, attributes: Attributes | None = None, *,
         kind: SpanKind = SpanKind.INTERNAL) -> Iterator[Span | None]:
    """A current child span for the block, ended with it (None outside a recorded trace)."""
    opened = start_span(name, kind=kind, attributes=attributes)
    if opened is None:
        yield None
        return
    try:
        with in_span(opened):
            yield opened
    except BaseException as exc:
        mark_error(opened, exc)
        raise
    finally:
        opened.end()


def server_span(name: str, headers: Mapping[str, str], attributes: Attributes
                ) -> Span | None:
    """The request's SERVER span, continuing the caller's W3C `traceparent` if it sent one
    (the caller's sampled flag decides). None when tracing is off."""
    t = _slot.active
    if t is None:
        return None
    parent: Context = _PROPAGATOR.extract(dict(headers))
    return t.tracer.start_span(name, context=parent, kind=SpanKind.SERVER,
                               attributes=attributes, record_exception=False,
                               set_status_on_exception=False)


def outgoing_headers() -> dict[str, str]:
    """`traceparent` (and `tracestate`) of Warden's current span, for a call to another
    service; empty when tracing is off. Never the caller's context: the current span is
    Warden's own, so the callee's span nests under it."""
    if _slot.active is None:
        return {}
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier


def current_trace_id() -> str | None:
    """The 32-hex trace id of the current span, or None when tracing is off or none is."""
    if _slot.active is None:
        return None
    context = trace.get_current_span().get_span_context()
    return trace.format_trace_id(context.trace_id) if context.is_valid else None


def content_enabled() -> bool:
    return _slot.active is not None and _slot.active.trace_content


def content(text: str) -> str | None:
    """`text` for a span attribute, scrubbed, only when `trace_content` is on; else None."""
    t = _slot.active
    if t is None or not t.trace_content:
        return None
    return t.scrub(text)


def set_attributes(span: Span | None, attributes: Mapping[str, Any]) -> None:
    """Set the attributes that have a value (None is left out)."""
    if span is not None and span.is_recording():
        span.set_attributes({k: v for k, v in attributes.items() if v is not None})


def now_ns() -> int:
    return time.time_ns()
