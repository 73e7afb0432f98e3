"""Why a tool request is refused, as data the HTTP layer turns into an OpenAI error.

The tools package knows nothing of FastAPI: it raises ToolProblem with the status, code,
param and a message that names the problem and the fix; warden.api maps it to APIError.
"""

from __future__ import annotations


class ToolProblem(Exception):
    def __init__(self, status: int, code: str, message: str, *,
                 param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.param = param


def unknown_tool(name: str, available: list[str], param: str | None = None) -> ToolProblem:
    listed = ", ".join(available) if available else "none"
    return ToolProblem(400 if param else 404, "tool_not_found",
                       f"The tool '{name}' is not in this server's tool registry. Tools your "
                       f"key may use: {listed} (GET /v1/tools). An admin adds tools under "
                       "'tools:' in warden.yaml.", param=param)


def tool_not_allowed(name: str, tier: str, param: str | None = None) -> ToolProblem:
    return ToolProblem(403, "tool_not_allowed",
                       f"The tool '{name}' is not allowed for this key's tier '{tier}'. Use a "
                       f"key of a tier listed in the tool's 'tiers', or ask an admin to add "
                       f"'{tier}' to tools[name={name}].tiers in warden.yaml.", param=param)
