"""Chat completions with tools, without a model: what the plan does with a reply's text.

The text stands in for model output (constrained decoding makes the forced cases valid in
practice; "auto" and truncated outputs are where invalid calls really come from).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from tests.support.tool_registry import builtin_tools

from warden.api.errors import APIError
from warden.api.pipeline.tools import ToolPlan
from warden.api.protocol import NamedToolChoice, ToolDef
from warden.config.tools import ToolConfig
from warden.engine.base import Finished, GenerationRequest, SamplingParams, Usage
from warden.safety.tools.factory import build_tool_service
from warden.safety.tools.service import Caller, ToolService
from warden.store.audit import AuditLog
from warden.store.db import Database

CALLER = Caller("k1", "default", "req_1")
STOP = Finished("stop", Usage(10, 5))


@pytest.fixture()
def service(db: Database, data_dir: Path) -> ToolService:
    tools = [ToolConfig.model_validate(t) for t in builtin_tools()]
    return build_tool_service(tools, db=db, audit=AuditLog(db), registry=CollectorRegistry(),
                              data_dir=data_dir, environ={})


def offer(*names: str) -> list[ToolDef]:
    return [ToolDef.model_validate({"type": "function", "function": {"name": n}})
            for n in names]


def request(**changes: Any) -> GenerationRequest:
    return GenerationRequest(request_id="req_1", model="m", sampling=SamplingParams(),
                             messages=({"role": "user", "content": "hi"},), **changes)


def kinds(db: Database) -> list[str]:
    return [r["kind"] for r in AuditLog(db).export()]


def test_named_choice_decodes_under_that_tools_envelope(service: ToolService) -> None:
    choice = NamedToolChoice.model_validate({"type": "function",
                                             "function": {"name": "calculator"}})
    plan = ToolPlan.from_body(offer("calculator", "notes_append"), choice, service, CALLER,
                              client_tools=True)
    applied = plan.apply(request())
    assert applied.json_schema["properties"]["name"] == {"const": "calculator"}
    assert applied.messages[0]["role"] == "system" and "calculator" in \
        applied.messages[0]["content"] and "notes_append" not in applied.messages[0]["content"]
    required = ToolPlan.from_body(offer("calculator", "notes_append"), "required", service,
                                  CALLER, client_tools=True).apply(request())
    assert len(required.json_schema["anyOf"]) == 2
    auto = ToolPlan.from_body(offer("calculator"), None, service, CALLER,
                              client_tools=True).apply(request())
    assert auto.json_schema is None and "plain text" in auto.messages[0]["content"]


def test_conflicts_are_named(service: ToolService) -> None:
    plan = ToolPlan.from_body(offer("calculator"), "required", service, CALLER,
                              client_tools=True)
    with pytest.raises(APIError) as err:
        plan.apply(request(json_schema={"type": "object"}))
    assert err.value.param == "response_format"
    with pytest.raises(APIError) as err:
        ToolPlan.from_body(offer("calculator"), NamedToolChoice.model_validate(
            {"type": "function", "function": {"name": "notes_append"}}), service, CALLER,
                              client_tools=True)
    assert err.value.param == "tool_choice"
    with pytest.raises(APIError) as err:
        ToolPlan.from_body(offer("calculator", "calculator"), None, service, CALLER,
                              client_tools=True)
    assert err.value.param == "tools.1.function.name"


def test_valid_call_becomes_openai_tool_calls(service: ToolService) -> None:
    plan = ToolPlan.from_body(offer("calculator"), "required", service, CALLER,
                              client_tools=True)
    reply = asyncio.run(plan.reply('{"name": "calculator", "arguments": {"expression": "1+1"}}',
                                   STOP))
    assert reply.finish_reason == "tool_calls" and reply.message["content"] is None
    [call] = reply.message["tool_calls"]
    assert call["function"] == {"name": "calculator", "arguments": '{"expression":"1+1"}'}


def test_nonconforming_call_is_text_and_recorded(service: ToolService, db: Database) -> None:
    plan = ToolPlan.from_body(offer("calculator"), "auto", service, CALLER,
                              client_tools=True)
    text = '{"name": "calculator", "arguments": {"expression": "rm -rf /"}}'
    reply = asyncio.run(plan.reply(text, STOP))
    assert reply.finish_reason == "stop" and reply.message["content"] == text
    assert reply.tool_call_invalid and "tool_calls" not in reply.message
    [record] = [r["payload"] for r in AuditLog(db).export() if r["kind"] == "tool.invalid_call"]
    assert record["problems"] == [{"path": "/expression", "keyword": "pattern"}]
    assert "rm -rf" not in json.dumps(record)


def test_auto_text_stays_text_and_truncated_required_call_is_invalid(
        service: ToolService, db: Database) -> None:
    auto = ToolPlan.from_body(offer("calculator"), "auto", service, CALLER,
                              client_tools=True)
    reply = asyncio.run(auto.reply("Two plus two is four.", STOP))
    assert reply.message["content"] == "Two plus two is four." and not reply.tool_call_invalid
    assert kinds(db) == []
    required = ToolPlan.from_body(offer("calculator"), "required", service, CALLER,
                              client_tools=True)
    cut = asyncio.run(required.reply('{"name": "calculator", "arguments": {"expr',
                                     Finished("length", Usage(10, 16))))
    assert cut.finish_reason == "length" and cut.tool_call_invalid
    assert kinds(db) == ["tool.invalid_call"]
    assert service.metrics.calls.labels("_unparsed", "invalid", "chat")._value.get() == 1


def test_none_offers_but_never_calls(service: ToolService) -> None:
    plan = ToolPlan.from_body(offer("calculator"), "none", service, CALLER,
                              client_tools=True)
    assert plan.apply(request()) == request()
    text = '{"name": "calculator", "arguments": {"expression": "1"}}'
    assert asyncio.run(plan.reply(text, STOP)).message["content"] == text


PERSON = {"type": "object", "properties": {"name": {"type": "string"},
                                           "age": {"type": "integer"}},
          "required": ["name", "age"], "additionalProperties": False}


def client_tool(name: str, parameters: Any) -> ToolDef:
    return ToolDef.model_validate({"type": "function", "function": {
        "name": name, "description": "Extract a person.", "parameters": parameters}})


def test_client_tools_are_decoded_checked_returned_and_audited(
        service: ToolService, db: Database) -> None:
    plan = ToolPlan.from_body([client_tool("Person", PERSON)], "required", service, CALLER,
                              client_tools=True)
    applied = plan.apply(request())
    assert applied.json_schema["properties"]["arguments"] == PERSON
    assert "Extract a person." in applied.messages[0]["content"]
    reply = asyncio.run(plan.reply('{"name": "Person", "arguments": {"name": "Ada", "age": 36}}',
                                   STOP))
    assert reply.finish_reason == "tool_calls"
    assert reply.message["tool_calls"][0]["function"]["name"] == "Person"
    bad = asyncio.run(plan.reply('{"name": "Person", "arguments": {"name": "Ada"}}', STOP))
    assert bad.tool_call_invalid and bad.finish_reason == "stop"
    assert kinds(db) == ["tool.call", "tool.invalid_call"]
    records = [r["payload"] for r in AuditLog(db).export()]
    assert all(r["client_tool"] for r in records) and "Ada" not in json.dumps(records)
    assert service.metrics.calls.labels("_client", "valid", "chat")._value.get() == 1


def test_a_registry_name_with_other_parameters_is_the_clients_own_function(
        service: ToolService) -> None:
    mine = {"type": "object", "properties": {"a": {"type": "number"}}, "required": ["a"]}
    plan = ToolPlan.from_body([client_tool("calculator", mine)], "required", service, CALLER,
                              client_tools=True)
    assert plan.apply(request()).json_schema["properties"]["arguments"] == mine


def test_client_tool_schemas_must_be_valid_and_enforceable(service: ToolService) -> None:
    from warden.safety.tools.errors import ToolProblem

    for broken in ({"type": "object", "properties": {"a": {"type": "nonsense"}}},
                   {"type": "string"}):
        with pytest.raises(ToolProblem) as err:
            ToolPlan.from_body([client_tool("Thing", broken)], "auto", service, CALLER,
                               client_tools=True)
        assert err.value.status == 400 and err.value.code == "invalid_tool_schema"
        assert err.value.param == "tools.0.function.parameters"


def test_a_tier_can_forbid_client_tools(service: ToolService) -> None:
    from warden.safety.tools.errors import ToolProblem

    with pytest.raises(ToolProblem) as err:
        ToolPlan.from_body([client_tool("Person", PERSON)], "auto", service, CALLER,
                           client_tools=False)
    assert err.value.status == 403 and err.value.code == "client_tools_not_allowed"
    registry_only = ToolPlan.from_body(offer("calculator"), "auto", service, CALLER,
                                       client_tools=False)
    assert registry_only is not None
