"""Tool governance against a real server and the built-in model, through the openai client.

The go-live target asserted here: with tool_choice required or named, >= 95 % of at least 20
varied prompts give a tool call whose arguments pass jsonschema (constrained decoding should
make it 100 %).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import jsonschema
import openai
import pytest

from tests.support.tool_registry import builtin_tools
from tests.support.warden_server import MODEL, WardenServer
from warden.safety.tools.builtin import NOTES_FILE

pytestmark = pytest.mark.integration

GENEROUS = {"rpm": 10_000, "tpm": 10_000_000, "tokens_per_day": 100_000_000,
            "max_tokens": 512, "max_concurrent": 16}


@dataclass
class ToolServer:
    server: WardenServer
    key: str
    free_key: str

    def client(self, key: str | None = None) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.server.base_url}/v1", api_key=key or self.key,
                             max_retries=0)

    def http(self, key: str | None = None) -> httpx.Client:
        return self.server.client(key or self.key)


@pytest.fixture(scope="module")
def tools_server() -> Iterator[ToolServer]:
    config = {"tiers": {"default": GENEROUS, "free": {**GENEROUS, "client_tools": False}},
              "tools": builtin_tools(["default"])}
    with WardenServer(config) as server:
        yield ToolServer(server, server.create_key("tools-user"),
                         server.create_key("tools-free", tier="free"))


@pytest.fixture(scope="module")
def offered(tools_server: ToolServer) -> list[dict[str, Any]]:
    """The registry's tools as OpenAI `tools` entries, straight from GET /v1/tools."""
    with tools_server.http() as http:
        listed = http.get("/v1/tools").json()["data"]
    assert {t["function"]["name"] for t in listed} == {"calculator", "notes_append"}
    assert {t["function"]["name"]: t["mutating"] for t in listed} == {
        "calculator": False, "notes_append": True}
    return [{"type": t["type"], "function": t["function"]} for t in listed]


def schemas(offered: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {t["function"]["name"]: t["function"]["parameters"] for t in offered}


CALC_PROMPTS = [
    "What is 17 times 23?", "Add 1250 and 375.", "Compute (4 + 5) * 12.",
    "How much is 2 to the power of 10?", "Divide 144 by 12.", "What is 15% of 80?",
    "Subtract 999 from 12345.", "I bought 3 apples at 0.45 each. What did I pay?",
    "What's the remainder of 100 divided by 7?", "Average of 12, 18 and 27?",
]
NOTE_PROMPTS = [
    "Remember that the deploy window is Friday at 10.", "Note: buy milk and eggs.",
    "Save a note titled Standup saying the demo moved to Tuesday.",
    "Write down that the VPN certificate expires next month.",
    "Add a note: call the plumber about the kitchen sink.",
]
MIXED_PROMPTS = [
    "What is 6 times 7?", "Please note that the office is closed on Monday.",
    "Calculate 81 / 9 + 3.", "Record the meeting summary: budget approved.",
    "How much is 250 minus 13?", "Keep a note that Alex prefers email.",
]


def test_required_and_named_calls_conform(tools_server: ToolServer,
                                          offered: list[dict[str, Any]]) -> None:
    client, params = tools_server.client(), schemas(offered)
    cases: list[tuple[str, Any, set[str]]] = (
        [(p, {"type": "function", "function": {"name": "calculator"}}, {"calculator"})
         for p in CALC_PROMPTS]
        + [(p, {"type": "function", "function": {"name": "notes_append"}}, {"notes_append"})
           for p in NOTE_PROMPTS]
        + [(p, "required", {"calculator", "notes_append"}) for p in MIXED_PROMPTS])
    assert len(cases) >= 20
    conforming, failures = 0, []
    for prompt, choice, allowed in cases:
        response = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": prompt}], tools=offered,
            tool_choice=choice, max_tokens=160, temperature=0.7, seed=7)
        choice0 = response.choices[0]
        calls = choice0.message.tool_calls or []
        try:
            assert choice0.finish_reason == "tool_calls" and len(calls) == 1
            call = calls[0]
            assert call.type == "function" and call.id.startswith("call_")
            assert call.function.name in allowed and choice0.message.content is None
            jsonschema.validate(json.loads(call.function.arguments),
                                params[call.function.name])
            conforming += 1
        except (AssertionError, jsonschema.ValidationError, json.JSONDecodeError) as exc:
            failures.append((prompt, choice0.finish_reason, choice0.message.content, repr(exc)))
    rate = conforming / len(cases)
    assert rate >= 0.95, f"conformance {rate:.0%}; failures: {failures}"
    with tools_server.http() as http:
        metrics = http.get("/metrics").text
    assert 'warden_tool_calls_total{outcome="valid",source="chat",tool="calculator"}' in metrics
    assert "warden_tool_call_conformance_ratio" in metrics


def test_streamed_tool_call_parses_with_the_client(tools_server: ToolServer,
                                                   offered: list[dict[str, Any]]) -> None:
    stream = tools_server.client().chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "What is 12 * 12?"}], tools=offered,
        tool_choice={"type": "function", "function": {"name": "calculator"}}, max_tokens=96,
        stream=True, stream_options={"include_usage": True}, temperature=0)
    chunks = list(stream)
    assert len({c.id for c in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    names, arguments, ids = {}, {}, {}
    finishes = []
    for chunk in chunks:
        if not chunk.choices:
            continue
        finishes.append(chunk.choices[0].finish_reason)
        for delta in chunk.choices[0].delta.tool_calls or []:
            if delta.id:
                ids[delta.index] = delta.id
            if delta.function and delta.function.name:
                names[delta.index] = delta.function.name
            if delta.function and delta.function.arguments:
                arguments[delta.index] = arguments.get(delta.index, "") + delta.function.arguments
    assert finishes[-1] == "tool_calls" and all(f is None for f in finishes[:-1])
    assert names == {0: "calculator"} and ids[0].startswith("call_")
    jsonschema.validate(json.loads(arguments[0]), schemas(offered)["calculator"])
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def test_history_with_tool_turns_and_auto(tools_server: ToolServer,
                                          offered: list[dict[str, Any]]) -> None:
    client = tools_server.client()
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "What is 6 times 7?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_abc", "type": "function",
             "function": {"name": "calculator", "arguments": '{"expression": "6*7"}'}}]},
        {"role": "tool", "tool_call_id": "call_abc", "content": '{"value": 42}'},
    ]
    answer = client.chat.completions.create(model=MODEL, messages=messages, tools=offered,
                                            tool_choice="none", max_tokens=24, temperature=0)
    assert answer.choices[0].message.content and not answer.choices[0].message.tool_calls
    auto = client.chat.completions.create(model=MODEL, messages=messages, tools=offered,
                                          max_tokens=48, temperature=0)
    message = auto.choices[0].message
    if message.tool_calls:  # auto: a call only if the whole reply is one, and it conforms
        assert auto.choices[0].finish_reason == "tool_calls"
        call = message.tool_calls[0].function
        jsonschema.validate(json.loads(call.arguments), schemas(offered)[call.name])
    else:
        assert message.content is not None and auto.choices[0].finish_reason in ("stop",
                                                                                  "length")


def test_registry_tools_follow_the_tier_and_client_tools_the_tier_policy(
        tools_server: ToolServer, offered: list[dict[str, Any]]) -> None:
    with pytest.raises(openai.PermissionDeniedError) as denied:
        tools_server.client(tools_server.free_key).chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "1+1?"}], tools=offered[:1],
            tool_choice="required", max_tokens=32)
    assert denied.value.code == "tool_not_allowed" and "calculator" in denied.value.message
    assert "'free'" in denied.value.message
    # The client's own function (OpenAI semantics: the client runs it): decoded under its
    # schema and returned as a call; Warden never executes it.
    shell = {"type": "function", "function": {"name": "shell", "parameters": {
        "type": "object", "properties": {"cmd": {"type": "string", "maxLength": 16}},
        "required": ["cmd"]}}}
    # maxLength: the decoder bounds the argument, so the call ends within max_tokens (an
    # unbounded string let the sampled 135M model ramble past 32 tokens, cut mid-call).
    reply = tools_server.client().chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "ls"}], tools=[shell],
        tool_choice="required", max_tokens=32, temperature=0)
    assert reply.choices[0].message.tool_calls, reply.model_dump_json()[:600]
    [call] = reply.choices[0].message.tool_calls
    assert call.function.name == "shell" and "cmd" in json.loads(call.function.arguments)
    # A registry name with another schema is the client's function too, not the registry's.
    changed = json.loads(json.dumps(offered[0]))
    changed["function"]["parameters"]["properties"]["expression"]["maxLength"] = 5000
    assert tools_server.client().chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "1+1"}], tools=[changed],
        max_tokens=8).choices[0].finish_reason in ("stop", "length", "tool_calls")
    with pytest.raises(openai.PermissionDeniedError) as forbidden:
        tools_server.client(tools_server.free_key).chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "ls"}], tools=[shell],
            max_tokens=8)
    assert forbidden.value.code == "client_tools_not_allowed"
    broken = {"type": "function", "function": {"name": "bad", "parameters": {
        "type": "object", "properties": {"x": {"type": "nonsense"}}}}}
    with pytest.raises(openai.BadRequestError) as invalid:
        tools_server.client().chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "x"}], tools=[broken],
            max_tokens=8)
    assert invalid.value.code == "invalid_tool_schema"
    assert invalid.value.param == "tools.0.function.parameters"
    with tools_server.http(tools_server.free_key) as http:
        assert http.get("/v1/tools").json()["data"] == []
        response = http.post("/v1/tools/calculator/execute",
                             json={"arguments": {"expression": "1+1"}})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "tool_not_allowed"


def test_execute_read_only_tool(tools_server: ToolServer) -> None:
    with tools_server.http() as http:
        response = http.post("/v1/tools/calculator/execute",
                             json={"arguments": {"expression": "(2 + 3) * 4"}})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["result"] == {"expression": "(2 + 3) * 4", "value": 20}
        assert body["mode"] == "real" and body["request_id"] == response.headers["x-request-id"]
        bad = http.post("/v1/tools/calculator/execute",
                        json={"arguments": {"expression": "open('/etc/passwd')"}})
        assert bad.status_code == 400
        assert bad.json()["error"]["code"] == "tool_arguments_invalid"
        assert http.post("/v1/tools/calculator/execute", json={"arguments": {}}).status_code \
            == 400
        assert http.post("/v1/tools/nope/execute",
                         json={"arguments": {}}).json()["error"]["code"] == "tool_not_found"
    with tools_server.server.client() as anonymous:
        assert anonymous.post("/v1/tools/calculator/execute",
                              json={"arguments": {"expression": "1"}}).status_code == 401


def test_mutating_tool_needs_dry_run_then_confirmation(tools_server: ToolServer) -> None:
    notes = tools_server.server.workdir / ".warden" / NOTES_FILE
    before = notes.read_text().splitlines() if notes.exists() else []
    note = {"title": "Release", "text": "v2 ships Friday"}
    with tools_server.http() as http:
        url = "/v1/tools/notes_append/execute"
        dry = http.post(url, json={"arguments": note, "purpose": "release log"})
        assert dry.status_code == 200, dry.text
        body = dry.json()
        assert body["mode"] == "dry_run" and body["dry_run_result"]["would_append"] == note
        assert body["expires_at"] and body["confirmation_token"].startswith("wct1.")
        assert (notes.read_text().splitlines() if notes.exists() else []) == before
        token = body["confirmation_token"]

        altered = http.post(url, json={"arguments": {**note, "text": "v3 ships Friday"},
                                       "confirmation_token": token})
        assert altered.status_code == 409
        assert altered.json()["error"]["code"] == "confirmation_arguments_changed"

        real = http.post(url, json={"arguments": note, "confirmation_token": token})
        assert real.status_code == 200, real.text
        assert real.json()["mode"] == "real"
        after = notes.read_text().splitlines()
        assert len(after) == len(before) + 1 and json.loads(after[-1])["text"] == note["text"]

        replay = http.post(url, json={"arguments": note, "confirmation_token": token})
        assert replay.status_code == 409
        assert replay.json()["error"]["code"] == "confirmation_token_used"
        tampered = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
        forged = http.post(url, json={"arguments": note, "confirmation_token": tampered})
        assert forged.status_code == 403
        assert len(notes.read_text().splitlines()) == len(before) + 1

    exported = tools_server.server.cli("audit", "export").stdout.splitlines()
    records = [json.loads(line) for line in exported if line.strip()]
    intents = [r["payload"] for r in records if r["kind"] == "tool.intent"]
    modes = [(i["tool"], i["mode"]) for i in intents]
    assert ("notes_append", "dry_run") in modes and ("notes_append", "real") in modes
    assert any(i["purpose"] == "release log" for i in intents)
    assert not any("v2 ships" in json.dumps(r) for r in records)
    assert any(r["kind"] == "tool.invalid_call" for r in records)  # the bad calculator call
    tools_server.server.cli("audit", "verify")
