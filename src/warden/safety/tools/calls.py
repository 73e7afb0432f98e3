"""Tool calls in chat completions: the schema a required call is decoded under, reading a
call back out of the model's text, and OpenAI's `tool_calls` shape. Pure functions.

The model writes one call as `{"name": "<tool>", "arguments": {...}}`:
- a named tool_choice decodes under that tool's envelope (the name is a const, so it is
  forced; only the arguments are the model's);
- tool_choice "required" decodes under anyOf of every offered tool's envelope;
- "auto" decodes freely; the reply is a call only if all of it parses as such an object
  naming an offered tool (see docs/tools.md).
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from warden.constraints.tool_schema import call_envelope
from warden.safety.tools.arguments import ArgumentsError, as_wire_string, parse_arguments
from warden.safety.tools.registry import OfferedTool

_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


@dataclass(frozen=True)
class ParsedCall:
    name: str
    arguments: Any  # a dict when well-formed; whatever the model wrote otherwise


def decode_schema(tools: Sequence[OfferedTool]) -> dict[str, Any]:
    """The JSON schema a required call is decoded under."""
    if not tools:
        raise ValueError("at least one tool is needed")
    envelopes = [call_envelope(t.name, t.parameters) for t in tools]
    return envelopes[0] if len(envelopes) == 1 else {"anyOf": envelopes}


def parse_call(text: str, offered: Mapping[str, OfferedTool]) -> ParsedCall | None:
    """The call in `text` if all of it is `{"name": <offered tool>, "arguments": ...}`
    (optionally in a ```json fence); None if it is anything else (i.e. plain text)."""
    body = text.strip()
    fenced = _FENCE.match(body)
    if fenced:
        body = fenced.group(1)
    if not body.startswith("{"):
        return None
    try:
        value = json.loads(body)
    except json.JSONDecodeError:
        return None
    if not isinstance(value, dict) or set(value) != {"name", "arguments"}:
        return None
    name, arguments = value["name"], value["arguments"]
    if not isinstance(name, str) or name not in offered:
        return None
    if isinstance(arguments, str):  # some models quote the arguments like OpenAI's wire form
        with contextlib.suppress(ArgumentsError):
            arguments = parse_arguments(arguments)
    return ParsedCall(name, arguments)


def may_be_call(prefix: str) -> bool:
    """Could text starting with `prefix` still turn out to be a call? (auto mode streaming:
    text is held back while this is true and released as soon as it is false)."""
    head = prefix.lstrip()
    return head.startswith(("{", "```")) or "```".startswith(head)


def new_call_id() -> str:
    return f"call_{secrets.token_hex(12)}"


def tool_call(call_id: str, name: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """One entry of OpenAI's message.tool_calls."""
    return {"id": call_id, "type": "function",
            "function": {"name": name, "arguments": as_wire_string(dict(arguments))}}


def tool_call_delta(call_id: str, name: str, arguments: Mapping[str, Any],
                    index: int = 0) -> dict[str, Any]:
    """The same call as one streamed delta entry (OpenAI's chunk format, with `index`)."""
    return {"index": index, **tool_call(call_id, name, arguments)}
