"""Issue 16, item 1: OpenTelemetry traces from a real `warden serve` to a real OTLP/HTTP
receiver (a tiny HTTP server here that decodes the protobuf export requests).

Checked: one SERVER span per request with its children (auth, rate-limit reservation, input
guard, the generation, output guard, audit append, tool execution) in one trace; an incoming
traceparent's trace is continued; the GenAI attributes; no prompt text and no PII in any span
by default; and, in front of a real llama_cpp.server, the traceparent the upstream receives
carries Warden's generation span, not the caller's (a recording proxy in between keeps the
headers)."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan

from tests.support.otlp_receiver import FAST_EXPORT, Collector, Received, serve
from tests.support.tool_registry import builtin_tools
from tests.support.warden_server import MODEL, WardenServer

pytestmark = pytest.mark.integration

EMAIL = "marisol.quintero@fastmail.com"
PROMPT = f"Please write one short greeting for my colleague, her email is {EMAIL}."
CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"
GENEROUS = {"rpm": 10_000, "tpm": 10_000_000, "tokens_per_day": 100_000_000,
            "max_tokens": 64, "max_concurrent": 16}


@pytest.fixture()
def collector() -> Iterator[Collector]:
    found = Collector().start()
    yield found
    found.stop()


@pytest.fixture()
def fast_export(monkeypatch: pytest.MonkeyPatch) -> None:
    """The served process's batch processor exports every 100 ms, not every 5 s."""
    for name, value in FAST_EXPORT.items():
        monkeypatch.setenv(name, value)


def by_name(spans: list[Received], trace_id: str) -> dict[str, Received]:
    return {s.name: s for s in spans if s.trace_id == trace_id}


def assert_no_content(spans: list[Received]) -> None:
    for s in spans:
        text = repr((s.name, s.attributes, s.events))
        assert EMAIL not in text and "greeting" not in text, s


def test_a_chat_request_is_one_trace_with_its_stages(collector: Collector,
                                                     fast_export: None) -> None:
    config = {"safety": {"enabled": True},
              "tiers": {"default": GENEROUS, "free": GENEROUS, "pro": GENEROUS},
              "tools": builtin_tools(["default"]),
              "telemetry": {"otlp_endpoint": collector.url, "service_name": "warden-test"}}
    with WardenServer(config) as server:
        key = server.create_key("traced")
        with server.client(key) as http:
            chat = http.post("/v1/chat/completions", headers={"traceparent": TRACEPARENT},
                             json={"model": MODEL, "max_tokens": 8, "temperature": 0,
                                   "messages": [{"role": "user", "content": PROMPT}]})
            assert chat.status_code == 200, chat.text
            tool = http.post("/v1/tools/calculator/execute",
                             json={"arguments": {"expression": "2 + 3"}})
            assert tool.status_code == 200, tool.text
        generation_name = f"chat {MODEL}"
        spans = collector.wait_for(lambda got: any(
            s.name == generation_name for s in got) and any(
            s.name == "execute_tool calculator" for s in got))
        server.stop()
        log = server.log()
    # The access line's trace id is the server span's: the caller's trace, continued.
    assert f'"trace_id": "{CALLER_TRACE}"' in log
    trace = by_name(spans, CALLER_TRACE)
    root = trace["POST /v1/chat/completions"]
    assert root.kind == PbSpan.SPAN_KIND_SERVER and root.service == "warden-test"
    assert root.parent_id == CALLER_SPAN  # the caller's span is the parent
    assert root.attributes["http.route"] == "/v1/chat/completions"
    assert root.attributes["http.response.status_code"] == 200
    for child in ("warden.auth", "warden.rate_limit.reserve", "warden.guard.input",
                  generation_name):
        assert trace[child].parent_id == root.span_id, child
    guard = trace["warden.guard.input"]
    assert guard.attributes["warden.safety.action"] == "redact"
    assert "pii" in guard.attributes["warden.safety.categories"]
    # The input guard's intervention is appended to the audit log inside the guard's span.
    assert any(s.name == "warden.audit.append" and s.parent_id == guard.span_id
               and s.attributes["warden.audit.kind"] == "safety.intervention"
               for s in spans if s.trace_id == CALLER_TRACE)
    generation = trace[generation_name]
    assert generation.kind == PbSpan.SPAN_KIND_INTERNAL  # the built-in engine
    assert trace["warden.guard.output"].parent_id == generation.span_id
    attributes = generation.attributes
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.provider.name"] == "llama.cpp"
    assert attributes["gen_ai.request.model"] == attributes["gen_ai.response.model"] == MODEL
    assert attributes["gen_ai.usage.input_tokens"] == chat.json()["usage"]["prompt_tokens"]
    assert attributes["gen_ai.usage.output_tokens"] == \
        chat.json()["usage"]["completion_tokens"]
    assert attributes["gen_ai.response.finish_reasons"] in (["stop"], ["length"])
    assert attributes["gen_ai.request.max_tokens"] == 8
    assert attributes["gen_ai.request.temperature"] == 0
    assert [name for name, _ in generation.events] == ["gen_ai.first_token"]
    assert generation.events[0][1]["gen_ai.server.time_to_first_token"] > 0
    # The tool execution is its own request's trace, under its server span.
    execute = next(s for s in spans if s.name == "execute_tool calculator")
    tool_root = next(s for s in spans if s.span_id == execute.parent_id)
    assert tool_root.name == "POST /v1/tools/{name}/execute"
    assert execute.attributes["gen_ai.tool.name"] == "calculator"
    assert_no_content(spans)


@dataclass
class Proxy:
    """Forwards to the upstream and keeps each request's path and trace headers."""

    upstream: str
    seen: list[tuple[str, str | None]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"


@pytest.fixture()
def proxy(llama_cpp_server: str) -> Iterator[Proxy]:
    target = urlsplit(llama_cpp_server)
    found = Proxy(llama_cpp_server)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self, method: str) -> None:
            found.seen.append((self.path, self.headers.get("traceparent")))
            body = self.rfile.read(int(self.headers.get("content-length", 0))) or None
            upstream = http.client.HTTPConnection(target.hostname or "", target.port, timeout=60)
            upstream.request(method, self.path, body=body, headers={
                k: v for k, v in self.headers.items()
                if k.lower() not in ("host", "connection", "content-length")})
            response = upstream.getresponse()
            data = response.read()  # the whole SSE stream: Warden parses it all the same
            self.send_response(response.status)
            for k, v in response.getheaders():
                if k.lower() not in ("transfer-encoding", "content-length", "connection"):
                    self.send_header(k, v)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            upstream.close()

        def do_GET(self) -> None:
            self._forward("GET")

        def do_POST(self) -> None:
            self._forward("POST")

        def log_message(self, *args: Any) -> None: ...

    found.server = serve(Handler)
    yield found
    found.server.shutdown()


def test_the_upstream_gets_wardens_generation_span_not_the_callers(
        collector: Collector, proxy: Proxy, fast_export: None) -> None:
    config = {"models": [{"name": "fronted", "backend": "upstream",
                          "upstream": {"base_url": proxy.url, "model": "smollm2-135m-instruct",
                                       "connect_timeout_s": 2, "read_timeout_s": 60}}],
              "telemetry": {"otlp_endpoint": collector.url}}
    with WardenServer(config) as server:
        key = server.create_key("up")
        with server.client(key) as http:
            response = http.post("/v1/chat/completions", headers={"traceparent": TRACEPARENT},
                                 json={"model": "fronted", "max_tokens": 6, "temperature": 0,
                                       "messages": [{"role": "user", "content": PROMPT}]})
        assert response.status_code == 200, response.text
        spans = collector.wait_for(lambda got: any(s.name == "chat fronted" for s in got))
    trace = by_name(spans, CALLER_TRACE)
    generation = trace["chat fronted"]
    assert generation.kind == PbSpan.SPAN_KIND_CLIENT
    assert generation.parent_id == trace["POST /v1/chat/completions"].span_id
    assert generation.attributes["gen_ai.provider.name"] == "openai_compatible"
    assert generation.attributes["gen_ai.response.model"] == "smollm2-135m-instruct"
    assert generation.attributes["server.address"] == "127.0.0.1"
    [sent] = [t for p, t in proxy.seen if p.endswith("/chat/completions")]
    assert sent is not None, "no traceparent reached the upstream"
    _, trace_id, parent_id, flags = sent.split("-")
    assert trace_id == CALLER_TRACE  # the same trace...
    assert parent_id == generation.span_id  # ...under Warden's generation span
    assert parent_id != CALLER_SPAN and flags == "01"
    # The readiness probe (outside any request) carries no trace context.
    assert all(t is None for p, t in proxy.seen if p.endswith("/models"))
    assert_no_content(spans)
