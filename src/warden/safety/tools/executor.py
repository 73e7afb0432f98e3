"""Running one tool: a Python function in-process, or an HTTP endpoint.

Python tools are called as `function(arguments, context)` (sync functions in a worker thread,
async ones awaited). They raise ToolError for "cannot do that as asked" (the caller gets a
400 with the tool's message); any other exception is the tool's own bug (500, logged).

HTTP tools get `POST url` with JSON {tool, arguments, dry_run, request_id} and must answer
2xx with a JSON body, which is the result. Timeouts, connection errors, non-2xx answers and
non-JSON bodies are all a 502 whose message says which of these happened; the upstream's
body is logged at debug level at most, never relayed (it may hold internals).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from warden.config.tools import HttpExecutorConfig, ToolConfig, resolve_python
from warden.safety.tools.arguments import ArgumentsError, canonical
from warden.safety.tools.errors import ToolProblem

log = logging.getLogger(__name__)

MAX_RESULT_BYTES = 256 * 1024


class ToolError(Exception):
    """Raised by a tool when the call cannot be done as asked; the message goes to the caller,
    so it must not hold secrets."""


@dataclass(frozen=True)
class ToolContext:
    dry_run: bool
    data_dir: Path
    key_id: str
    request_id: str


class ToolExecutor:
    def __init__(self, transport: httpx.AsyncBaseTransport | None = None) -> None:
        # One pooled client for every HTTP tool; per-call timeouts come from each tool.
        self._client = httpx.AsyncClient(transport=transport, follow_redirects=False)
        self._functions: dict[str, Callable[..., Any]] = {}

    async def close(self) -> None:
        await self._client.aclose()

    async def run(self, tool: ToolConfig, arguments: dict[str, Any],
                  context: ToolContext) -> Any:
        if tool.executor.python is not None:
            result = await self._run_python(tool, tool.executor.python, arguments, context)
        else:
            assert tool.executor.http is not None
            result = await self._run_http(tool, tool.executor.http, arguments, context)
        try:
            size = len(canonical(result).encode("utf-8"))
        except ArgumentsError as exc:
            raise ToolProblem(500, "tool_bad_result", f"The tool '{tool.name}' returned a "
                              "result that is not JSON-serialisable.") from exc
        if size > MAX_RESULT_BYTES:
            raise ToolProblem(502, "tool_result_too_large",
                              f"The tool '{tool.name}' returned {size} bytes; the limit is "
                              f"{MAX_RESULT_BYTES}.")
        return result

    async def _run_python(self, tool: ToolConfig, target: str, arguments: dict[str, Any],
                          context: ToolContext) -> Any:
        function = self._functions.get(target)
        if function is None:
            function = self._functions[target] = resolve_python(target)
        try:
            if inspect.iscoroutinefunction(function):
                return await function(dict(arguments), context)
            return await asyncio.to_thread(function, dict(arguments), context)
        except ToolError as exc:
            raise ToolProblem(400, "tool_rejected_arguments",
                              f"The tool '{tool.name}' could not run: {exc}",
                              param="arguments") from exc
        except Exception as exc:
            log.exception("tool %s (%s) failed", tool.name, target)
            raise ToolProblem(500, "tool_failed",
                              f"The tool '{tool.name}' failed; the server log has the details "
                              "under this request's x-request-id.") from exc

    async def _run_http(self, tool: ToolConfig, http: HttpExecutorConfig,
                        arguments: dict[str, Any], context: ToolContext) -> Any:
        payload = {"tool": tool.name, "arguments": arguments, "dry_run": context.dry_run,
                   "request_id": context.request_id}
        what = f"The tool '{tool.name}' (HTTP executor)"
        try:
            response = await self._client.post(http.url, json=payload,
                                               timeout=http.timeout_s,
                                               headers={"x-request-id": context.request_id})
        except httpx.TimeoutException as exc:
            raise ToolProblem(502, "tool_timeout", f"{what} did not answer within "
                              f"{http.timeout_s} s (executor.http.timeout_s).") from exc
        except httpx.HTTPError as exc:
            log.warning("tool %s: HTTP executor unreachable: %s", tool.name, exc)
            raise ToolProblem(502, "tool_unreachable", f"{what} is unreachable; the server "
                              "log has the details.") from exc
        if not 200 <= response.status_code < 300:
            log.warning("tool %s: HTTP executor answered %d", tool.name, response.status_code)
            log.debug("tool %s: executor body: %.500s", tool.name, response.text)
            raise ToolProblem(502, "tool_upstream_error", f"{what} answered HTTP "
                              f"{response.status_code}; its body is not relayed. The server "
                              "log has the details.")
        try:
            return response.json()
        except ValueError as exc:
            raise ToolProblem(502, "tool_bad_result",
                              f"{what} answered with a body that is not JSON.") from exc
