"""An in-test OTLP/HTTP traces receiver: decodes the protobuf export requests a real
`warden serve` sends to `telemetry.otlp_endpoint`, for tests that check its spans."""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

__all__ = ["FAST_EXPORT", "Collector", "Received", "serve"]


@dataclass
class Received:
    """A span as the collector got it: ids in hex, attributes as plain values."""

    name: str
    kind: int
    trace_id: str
    span_id: str
    parent_id: str
    attributes: dict[str, Any]
    events: list[tuple[str, dict[str, Any]]]
    service: str
    status: tuple[int, str] = (0, "")  # (code, message)

    def text(self) -> str:
        """Everything the span says, as one string to search."""
        return repr((self.name, self.attributes, self.events, self.status))


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in any_value.array_value.values]
    if kind == "kvlist_value":
        return _attrs(any_value.kvlist_value.values)
    return getattr(any_value, kind) if kind else None


def _attrs(pairs: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in pairs}


@dataclass
class Collector:
    """An OTLP/HTTP traces receiver: POST /v1/traces, protobuf."""

    spans: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"

    def add(self, body: bytes) -> None:
        export = ExportTraceServiceRequest.FromString(body)
        with self.lock:
            for resource_spans in export.resource_spans:
                service = _attrs(resource_spans.resource.attributes).get("service.name", "")
                for scope in resource_spans.scope_spans:
                    for s in scope.spans:
                        self.spans.append(Received(
                            s.name, s.kind, s.trace_id.hex(), s.span_id.hex(),
                            s.parent_span_id.hex(), _attrs(s.attributes),
                            [(e.name, _attrs(e.attributes)) for e in s.events], service,
                            (s.status.code, s.status.message)))

    def wait_for(self, ready: Callable[[list[Received]], bool],
                 timeout: float = 20) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if ready(list(self.spans)):
                    return list(self.spans)
            time.sleep(0.1)
        with self.lock:
            raise AssertionError(f"spans never arrived; got {[s.name for s in self.spans]}")

    def start(self) -> Collector:
        """Listen on a free local port (see `url`) in a daemon thread."""
        found = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                if self.headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                ok = self.path == "/v1/traces" and \
                    self.headers.get("content-type") == "application/x-protobuf"
                if ok:
                    found.add(body)
                self.send_response(200 if ok else 404)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None: ...

        self.server = serve(Handler)
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def serve(handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    """An HTTP server on a free local port, serving from a daemon thread."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# Environment for `warden serve`: its batch span processor exports every 100 ms, not every 5 s.
FAST_EXPORT = {"OTEL_BSP_SCHEDULE_DELAY": "100"}
