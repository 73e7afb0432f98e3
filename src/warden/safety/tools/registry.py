"""The configured tools, looked up by name and filtered by the caller's tier."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from warden.config.tools import ToolConfig
from warden.safety.tools.errors import tool_not_allowed, unknown_tool
from warden.safety.tools.validation import ArgumentProblem, CallValidator


class OfferedTool(Protocol):
    """A tool the model may call in a chat: a registry tool (Warden can also execute it,
    under governance) or a client tool (defined in the request; the client executes it)."""

    @property
    def name(self) -> str: ...

    @property
    def description(self) -> str: ...

    @property
    def parameters(self) -> dict[str, Any]: ...

    def problems(self, arguments: Any) -> list[ArgumentProblem]: ...


@dataclass(frozen=True)
class RegisteredTool:
    config: ToolConfig
    validator: CallValidator = field(repr=False, compare=False)

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def description(self) -> str:
        return self.config.description

    @property
    def parameters(self) -> dict[str, Any]:
        return self.config.parameters

    @property
    def mutating(self) -> bool:
        return self.config.mutating

    def problems(self, arguments: Any) -> list[ArgumentProblem]:
        return self.validator.problems(arguments)

    def openai_spec(self) -> dict[str, Any]:
        """The tool as an OpenAI `tools` entry (what GET /v1/tools lists)."""
        return {"type": "function",
                "function": {"name": self.name, "description": self.config.description,
                             "parameters": self.config.parameters}}


@dataclass(frozen=True)
class ClientTool:
    """A function the client defined on its request (OpenAI semantics: the server only
    returns calls; the client runs them). Its schema was checked when it was offered."""

    name: str
    description: str
    parameters: dict[str, Any]
    validator: CallValidator = field(repr=False, compare=False)

    def problems(self, arguments: Any) -> list[ArgumentProblem]:
        return self.validator.problems(arguments)


class ToolRegistry:
    def __init__(self, tools: Iterable[ToolConfig]) -> None:
        self._tools = {t.name: RegisteredTool(t, CallValidator(t.parameters)) for t in tools}

    def __len__(self) -> int:
        return len(self._tools)

    def get(self, name: str) -> RegisteredTool | None:
        return self._tools.get(name)

    def for_tier(self, tier: str) -> list[RegisteredTool]:
        return [t for t in self._tools.values() if tier in t.config.tiers]

    def require(self, name: str, tier: str, param: str | None = None) -> RegisteredTool:
        """The tool if it exists and `tier` may use it; ToolProblem naming the fix otherwise.

        A tool that exists but is not allowed for the tier gets 403 (not "not found"): the
        registry is configuration, not a secret, and the message says how to get access.
        """
        tool = self._tools.get(name)
        if tool is None:
            raise unknown_tool(name, [t.name for t in self.for_tier(tier)], param)
        if tier not in tool.config.tiers:
            raise tool_not_allowed(name, tier, param)
        return tool
