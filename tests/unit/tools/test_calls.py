"""Chat tool calls: decode schemas, reading calls back, OpenAI shapes, history rendering."""

from __future__ import annotations

import json

from tests.support.tool_registry import builtin_tools

from warden.config.tools import ToolConfig
from warden.constraints.limits import check_schema
from warden.safety.tools.calls import (
    decode_schema,
    may_be_call,
    new_call_id,
    parse_call,
    tool_call,
    tool_call_delta,
)
from warden.safety.tools.prompt import render_turns, tools_system_text, with_system_text
from warden.safety.tools.registry import ToolRegistry
from warden.safety.tools.validation import CallValidator

REGISTRY = ToolRegistry([ToolConfig.model_validate(t) for t in builtin_tools()])
CALC, NOTES = REGISTRY.get("calculator"), REGISTRY.get("notes_append")
OFFERED = {"calculator": CALC, "notes_append": NOTES}


def test_single_tool_schema_fixes_the_name() -> None:
    schema = decode_schema([CALC])
    check_schema(schema)
    validator = CallValidator(schema)
    assert validator.is_valid({"name": "calculator", "arguments": {"expression": "1+1"}})
    assert not validator.is_valid({"name": "notes_append",
                                   "arguments": {"title": "a", "text": "b"}})


def test_several_tools_schema_is_a_union() -> None:
    schema = decode_schema([CALC, NOTES])
    check_schema(schema)
    validator = CallValidator(schema)
    assert validator.is_valid({"name": "calculator", "arguments": {"expression": "1+1"}})
    assert validator.is_valid({"name": "notes_append", "arguments": {"title": "a",
                                                                     "text": "b"}})
    assert not validator.is_valid({"name": "calculator", "arguments": {"title": "a",
                                                                       "text": "b"}})


def test_parse_call() -> None:
    text = '{"name": "calculator", "arguments": {"expression": "2*3"}}'
    assert parse_call(text, OFFERED).arguments == {"expression": "2*3"}
    assert parse_call(f"  ```json\n{text}\n```  ", OFFERED).name == "calculator"
    quoted = json.dumps({"name": "calculator", "arguments": '{"expression": "1"}'})
    assert parse_call(quoted, OFFERED).arguments == {"expression": "1"}
    assert parse_call("The answer is 6.", OFFERED) is None
    assert parse_call('{"name": "shell", "arguments": {}}', OFFERED) is None
    assert parse_call('{"name": "calculator"}', OFFERED) is None
    assert parse_call(text + " and more", OFFERED) is None
    assert parse_call('{"name": "calculator", "arguments": {', OFFERED) is None


def test_may_be_call() -> None:
    assert may_be_call("") and may_be_call("  ") and may_be_call(' {"na')
    assert may_be_call("`") and may_be_call("``") and may_be_call("```js")
    assert not may_be_call("The") and not may_be_call("`x") and not may_be_call("1")


def test_openai_shapes() -> None:
    call_id = new_call_id()
    assert call_id.startswith("call_") and len(call_id) == 29 and new_call_id() != call_id
    call = tool_call(call_id, "calculator", {"expression": "1+1"})
    assert call == {"id": call_id, "type": "function",
                    "function": {"name": "calculator", "arguments": '{"expression":"1+1"}'}}
    assert tool_call_delta(call_id, "calculator", {"expression": "1"}, 0)["index"] == 0


def test_system_text_lists_tools_and_merges_into_system() -> None:
    text = tools_system_text([CALC], "required")
    assert "calculator" in text and "notes_append" not in text and "expression" in text
    merged = with_system_text([{"role": "system", "content": "Be brief."},
                               {"role": "user", "content": "hi"}], text)
    assert merged[0]["content"].startswith("Be brief.\n\n") and len(merged) == 2
    added = with_system_text([{"role": "user", "content": "hi"}], text)
    assert added[0] == {"role": "system", "content": text} and len(added) == 2


def test_history_with_tool_turns_renders_as_plain_turns() -> None:
    turns = render_turns([
        {"role": "user", "content": "What is 6*7?"},
        {"role": "assistant", "content": "",
         "tool_calls": [{"id": "call_1", "name": "calculator",
                         "arguments": '{"expression": "6*7"}'}]},
        {"role": "tool", "content": '{"value": 42}', "tool_call_id": "call_1"},
    ])
    assert all(set(t) == {"role", "content"} for t in turns)
    assert json.loads(turns[1]["content"]) == {"name": "calculator",
                                               "arguments": {"expression": "6*7"}}
    assert turns[2] == {"role": "tool",
                        "content": 'Result of calculator (call call_1): {"value": 42}'}
