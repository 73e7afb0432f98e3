"""Tools in the prompt: the system text that describes the offered tools, and the rendering
of tool turns (assistant tool_calls, role "tool" results) as plain chat messages.

Warden renders tool history itself instead of handing `tool_calls` to the model's chat
template, because most templates (SmolLM2's included) know only role and content: an
assistant call becomes an assistant turn whose content is the call JSON, exactly the form
the model is asked to write; a tool result becomes a "tool" turn naming the tool and call id.
The same text therefore reaches an in-process model and an upstream one.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from warden.safety.tools.registry import OfferedTool

Choice = Literal["auto", "required", "named"]


def tools_system_text(tools: Sequence[OfferedTool], choice: Choice) -> str:
    lines = ["You can call these tools. Each takes JSON arguments that match its schema."]
    for tool in tools:
        schema = json.dumps(tool.parameters, separators=(",", ":"))
        lines.append(f"- {tool.name}: {tool.description} Arguments schema: {schema}")
    lines.append('To call a tool, reply with only a JSON object: '
                 '{"name": "<tool name>", "arguments": {...}}.')
    if choice == "auto":
        lines.append("If no tool is needed, reply in plain text instead.")
    else:
        lines.append("Reply now with a tool call.")
    return "\n".join(lines)


def with_system_text(messages: Sequence[Mapping[str, Any]], text: str
                     ) -> tuple[dict[str, Any], ...]:
    """`text` added to the first system message, or as a new first system message."""
    out = [dict(m) for m in messages]
    if out and out[0].get("role") == "system":
        out[0]["content"] = f"{out[0].get('content') or ''}\n\n{text}".lstrip()
    else:
        out.insert(0, {"role": "system", "content": text})
    return tuple(out)


def call_text(name: str, arguments: Any) -> str:
    """How a past call appears in the prompt (the form the model is asked to write)."""
    if isinstance(arguments, str):
        with contextlib.suppress(json.JSONDecodeError):
            arguments = json.loads(arguments)
    return json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False)


def render_turns(messages: Iterable[Mapping[str, Any]]) -> tuple[dict[str, Any], ...]:
    """Messages with `tool_calls` / role "tool" as plain {role, content} turns.

    Input messages are dicts {role, content, tool_calls?, tool_call_id?}; content is text.
    """
    names: dict[str, str] = {}
    out: list[dict[str, Any]] = []
    for message in messages:
        role, content = message["role"], message.get("content") or ""
        calls = message.get("tool_calls") or []
        if role == "assistant" and calls:
            parts = [content] if content else []
            for call in calls:
                names[call["id"]] = call["name"]
                parts.append(call_text(call["name"], call["arguments"]))
            out.append({"role": "assistant", "content": "\n".join(parts)})
        elif role == "tool":
            call_id = message.get("tool_call_id") or ""
            name = names.get(call_id, "tool")
            out.append({"role": "tool",
                        "content": f"Result of {name} (call {call_id}): {content}"})
        else:
            out.append({"role": role, "content": content})
    return tuple(out)
