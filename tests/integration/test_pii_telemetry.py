"""Issue 16, items 2 and 3, against a real `warden serve` (safety on, the built-in model,
tracing on to an in-test OTLP receiver): requests full of PII (in prompts, in unknown field
names, in headers, in tool arguments, in paths and model names that error messages echo)
leave no raw value in any server log line, in /metrics, in any exported span or in
`warden audit export`; every log line is JSON; each request's access line
has its fields; the GenAI histograms and capacity gauges are exported."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan
from prometheus_client.parser import text_string_to_metric_families

from tests.support.otlp_receiver import FAST_EXPORT, Collector, Received
from tests.support.pii_samples import CARD, EMAIL, IBAN, IP, PHONE, RAW, SECRET, SSN
from tests.support.tool_registry import builtin_tools
from tests.support.warden_server import MODEL, WardenServer

pytestmark = pytest.mark.integration

# The same values as they may appear once reformatted: digits only, no spaces.
COMPACT = tuple(re.sub(r"[\s-]", "", v) for v in (PHONE, CARD, IBAN, SSN))
EVERYTHING = (f"My email is {EMAIL}, call me on {PHONE}. Card {CARD}, IBAN {IBAN}, "
              f"SSN {SSN}, my IP {IP}, and my OpenAI key is {SECRET}.")
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
HEADERS = {"user-agent": f"pii-sweep/1.0 ({EMAIL}; {PHONE})", "x-forwarded-for": IP,
           "x-customer": f"{CARD} {SSN}", "traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"}
GENEROUS = {"rpm": 10_000, "tpm": 10_000_000, "tokens_per_day": 100_000_000,
            "max_tokens": 64, "max_concurrent": 16}


@dataclass
class Sweep:
    server: WardenServer
    user_key: str
    admin_key: str
    responses: dict[str, httpx.Response]
    collector: Collector


def leaks(text: str) -> list[str]:
    return [value for value in (*RAW, *COMPACT) if value in text]


def send_pii(server: WardenServer, key: str) -> dict[str, httpx.Response]:
    """Every way in for PII, each request with PII-laden headers."""
    chat: dict[str, Any] = {"model": MODEL, "max_tokens": 8, "temperature": 0,
                            "messages": [{"role": "user", "content": EVERYTHING}]}
    out: dict[str, httpx.Response] = {}
    with server.client(key, timeout=120) as http:
        http.headers.update(HEADERS)
        out["chat"] = http.post("/v1/chat/completions", json=chat,
                                headers={"x-request-id": "pii-sweep-chat"})
        with http.stream("POST", "/v1/completions", json={
                "model": MODEL, "prompt": EVERYTHING, "max_tokens": 8, "stream": True}) as s:
            s.read()
            out["stream"] = s
        out["unknown_field"] = http.post("/v1/chat/completions",
                                         json={**chat, EMAIL: SSN, f"note {PHONE}": 1})
        out["bad_value"] = http.post("/v1/chat/completions",
                                     json={**chat, "temperature": f"{CARD} {EMAIL}"})
        out["unknown_model"] = http.post("/v1/chat/completions", json={**chat, "model": EMAIL})
        out["unknown_arm"] = http.post("/v1/chat/completions",
                                       json={**chat, "model": f"{EMAIL}@champion"})
        out["model_path"] = http.get(f"/v1/models/{EMAIL}")
        out["bad_json"] = http.post("/v1/chat/completions",
                                    content=f'{{"model": "{EMAIL}", "messages": [{SSN}'.encode(),
                                    headers={"content-type": "application/json"})
        out["query"] = http.get(f"/v1/models?email={EMAIL}&card={CARD}")
        out["tool_args"] = http.post("/v1/tools/calculator/execute", json={
            "arguments": {"expression": f"{CARD} + {EMAIL}"}, "purpose": f"for {EMAIL}"})
        out["tool_extra_arg"] = http.post("/v1/tools/calculator/execute", json={
            "arguments": {"expression": "1 + 1", EMAIL: IBAN}})
        out["tool_dry_run"] = http.post("/v1/tools/notes_append/execute", json={
            "arguments": {"title": f"Call {PHONE}", "text": EVERYTHING},
            "purpose": f"note for {EMAIL} at {IP}"})
        out["tool_path"] = http.post(f"/v1/tools/{EMAIL}/execute",
                                     json={"arguments": {"to": EMAIL}})
    with server.client(timeout=30) as anonymous:
        out["bad_key"] = anonymous.get("/v1/models", headers={
            **HEADERS, "authorization": f"Bearer {SECRET}"})
    return out


@pytest.fixture(scope="module")
def sweep() -> Iterator[Sweep]:
    collector = Collector().start()
    config = {"safety": {"enabled": True},
              "tiers": {"default": GENEROUS, "free": GENEROUS, "pro": GENEROUS},
              "tools": builtin_tools(["default"]),
              "telemetry": {"otlp_endpoint": collector.url, "sampling_ratio": 1.0}}
    try:
        with pytest.MonkeyPatch.context() as env:
            for name, value in FAST_EXPORT.items():
                env.setenv(name, value)
            with WardenServer(config) as server:
                user_key = server.create_key("pii-sweep")
                admin_key = server.create_key("pii-sweep-admin", role="admin")
                yield Sweep(server, user_key, admin_key, send_pii(server, user_key),
                            collector)
    finally:
        collector.stop()


def test_the_requests_did_what_they_were_meant_to(sweep: Sweep) -> None:
    status = {name: r.status_code for name, r in sweep.responses.items()}
    assert status == {"chat": 200, "stream": 200, "unknown_field": 400, "bad_value": 400,
                      "unknown_model": 404, "unknown_arm": 404, "model_path": 404,
                      "bad_json": 400, "query": 200, "tool_args": 400,
                      "tool_extra_arg": 400, "tool_dry_run": 200, "tool_path": 404,
                      "bad_key": 401}
    # the errors do echo the input back to its sender (that is the point of the sweep)
    assert EMAIL in sweep.responses["unknown_model"].text
    assert EMAIL in sweep.responses["tool_path"].text


def test_no_raw_pii_in_any_log_line_metric_or_audit_record(sweep: Sweep) -> None:
    with sweep.server.client(sweep.admin_key) as http:
        metrics = http.get("/metrics").text
    exported = sweep.server.cli("audit", "export").stdout
    assert exported.count("\n") >= 3  # safety interventions and tool intents were recorded
    log = sweep.server.log()
    for text in (metrics, exported, log):
        assert leaks(text) == [], [line for line in text.splitlines() if leaks(line)]
    # The echoed values did reach the log, masked: the scrubber ran on the access lines.
    assert "/v1/models/<EMAIL_ADDRESS>" in log and "/v1/tools/<EMAIL_ADDRESS>/" in log


def swept_servers(spans: list[Received]) -> list[Received]:
    return [s for s in spans if s.kind == PbSpan.SPAN_KIND_SERVER and s.trace_id == TRACE_ID]


def swept_spans(sweep: Sweep) -> list[Received]:
    """Every span, once each swept request's server span (in the caller's trace: they all
    sent its traceparent) and the two generations have arrived."""
    generations = {f"chat {MODEL}", f"text_completion {MODEL}"}

    def ready(spans: list[Received]) -> bool:
        return len(swept_servers(spans)) >= len(sweep.responses) and \
            generations <= {s.name for s in spans}

    return sweep.collector.wait_for(ready)


def test_no_raw_pii_in_any_span(sweep: Sweep) -> None:
    spans = swept_spans(sweep)
    # One server span per swept request (readiness probes and scrapes are traces of their
    # own), each continuing the caller's trace.
    assert len(swept_servers(spans)) == len(sweep.responses)
    names = {s.name for s in spans}
    assert {"warden.auth", "warden.guard.input", "execute_tool calculator"} <= names
    # Every span, the probes' and scrapes' too: name, attributes, events and status.
    assert {s.name: leaks(s.text()) for s in spans if leaks(s.text())} == {}


def test_every_server_log_line_is_json(sweep: Sweep) -> None:
    lines = [line for line in sweep.server.log().splitlines() if line.strip()]
    assert lines
    not_json = []
    for line in lines:
        try:
            parsed = json.loads(line)
        except json.JSONDecodeError:
            not_json.append(line)
            continue
        assert {"ts", "level", "logger", "message"} <= parsed.keys()
    assert not_json == []


def access_lines(sweep: Sweep) -> list[dict[str, Any]]:
    return [json.loads(line) for line in sweep.server.log().splitlines()
            if line.startswith("{") and '"event": "request"' in line]


def test_each_request_has_one_json_access_line_with_its_fields(sweep: Sweep) -> None:
    lines = access_lines(sweep)
    by_id = {line["request_id"]: line for line in lines}
    for response in sweep.responses.values():
        assert response.headers["x-request-id"] in by_id
    chat = by_id["pii-sweep-chat"]
    key_id = sweep.user_key.split("_")[1]
    assert chat["trace_id"] == TRACE_ID and chat["key_id"] == key_id
    assert chat["tier"] == "default" and chat["route"] == "/v1/chat/completions"
    assert chat["method"] == "POST" and chat["status"] == 200 and chat["model"] == MODEL
    usage = sweep.responses["chat"].json()["usage"]
    assert chat["prompt_tokens"] == usage["prompt_tokens"]
    assert chat["completion_tokens"] == usage["completion_tokens"]
    assert isinstance(chat["latency_ms"], float) and chat["level"] == "info"
    assert "input:pii:redact" in chat["safety_actions"]
    assert chat["rollout"] is None and chat["arm"] is None
    unknown = by_id[sweep.responses["unknown_model"].headers["x-request-id"]]
    assert unknown["status"] == 404 and unknown["model"] is None
    assert unknown["prompt_tokens"] is None and unknown["safety_actions"] == []
    bad_key = by_id[sweep.responses["bad_key"].headers["x-request-id"]]
    assert bad_key["status"] == 401 and bad_key["key_id"] is None and bad_key["tier"] is None


def samples(metrics: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(metrics) for sample in family.samples}


def test_genai_histograms_and_capacity_gauges_are_exported(sweep: Sweep) -> None:
    with sweep.server.client(sweep.admin_key) as http:
        exported = samples(http.get("/metrics").text)

    def value(name: str, **labels: str) -> float | None:
        return exported.get((name, frozenset(labels.items())))

    for operation in ("chat", "text_completion"):  # one observation per generation
        op = {"gen_ai_operation_name": operation, "gen_ai_request_model": MODEL}
        assert value("gen_ai_server_time_to_first_token_seconds_count", **op) == 1
        assert value("gen_ai_server_time_per_output_token_seconds_count", **op) == 1
        assert value("gen_ai_server_request_duration_seconds_count", **op, error_type="") == 1
        for token_type in ("input", "output"):
            assert value("gen_ai_client_token_usage_count", **op,
                         gen_ai_token_type=token_type) == 1
    chat = {"gen_ai_operation_name": "chat", "gen_ai_request_model": MODEL}
    usage = sweep.responses["chat"].json()["usage"]
    assert value("gen_ai_client_token_usage_sum", **chat, gen_ai_token_type="input") \
        == usage["prompt_tokens"]
    assert value("gen_ai_client_token_usage_sum", **chat, gen_ai_token_type="output") \
        == usage["completion_tokens"]
    assert value("warden_engine_slots", model=MODEL) == 8  # max_batch, the default
    assert value("warden_engine_slot_utilization", model=MODEL) == 0  # idle now
    assert value("warden_kv_cache_utilization", model=MODEL) == 0
    for kept in ("warden_requests_total", "warden_time_to_first_token_seconds_count",
                 "warden_queue_depth", "warden_inflight_requests", "warden_tokens_total"):
        assert any(name == kept for name, _ in exported)
