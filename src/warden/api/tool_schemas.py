"""Request bodies for tools: OpenAI's `tools`, `tool_choice` and `tool_calls` fields on chat
completions, and the body of POST /v1/tools/{name}/execute. Unknown fields are rejected."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from warden.safety.tools.config import TOOL_NAME_PATTERN

MAX_TOOLS = 64


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FunctionDef(_Body):
    name: str = Field(..., pattern=TOOL_NAME_PATTERN)
    description: str | None = None
    # Optional: the registry's schema is the one used. If sent, it must equal the registry's.
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ToolDef(_Body):
    type: Literal["function"]
    function: FunctionDef


class NamedFunction(_Body):
    name: str = Field(..., min_length=1, max_length=64)


class NamedToolChoice(_Body):
    type: Literal["function"]
    function: NamedFunction


ToolChoice = Literal["auto", "none", "required"] | NamedToolChoice


class FunctionCallIn(_Body):
    name: str = Field(..., min_length=1, max_length=64)
    arguments: str


class ToolCallIn(_Body):
    id: str = Field(..., min_length=1, max_length=128)
    type: Literal["function"]
    function: FunctionCallIn


class ToolExecuteRequest(_Body):
    arguments: dict[str, Any] = Field(..., description="The tool's arguments (a JSON object).")
    dry_run: bool = Field(False, description="Run without side effects; mutating tools also "
                          "return a confirmation_token.")
    confirmation_token: str | None = Field(None, min_length=1, max_length=2048)
    purpose: str | None = Field(None, max_length=200, description="Why the call is made; "
                                "recorded in the audit log (PII patterns are masked).")
