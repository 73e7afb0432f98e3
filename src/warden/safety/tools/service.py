"""Governed tool use: who may offer or run which tool, schema checks on every call, the
dry-run/confirm protocol for mutating tools, and the evidence (audit, metrics, log).

    execute(name, arguments, ...)
      registry: exists (404) and allowed for the tier (403)
      gate: "tools" and "tool:<name>" switches on (503)
      schema: arguments valid (400 + audit tool.invalid_call + warden_tool_calls_total)
      read-only tool:  run                                      -> result
      mutating tool:   no token  -> run with dry_run=True      -> dry_run_result + token
                       token     -> verify (key, tool, expiry, exact arguments: 403/409)
                                    -> mark used in the ledger (replay: 409) -> run for real
      every run: audit tool.intent before, tool.result after; metrics; gate.on_result(ok)

Audit records hold the SHA-256 of the canonical arguments, never their values.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from warden.safety.tools.arguments import sha256_of
from warden.safety.tools.confirm import ConfirmationTokens
from warden.safety.tools.errors import ToolProblem
from warden.safety.tools.executor import ToolContext, ToolExecutor
from warden.safety.tools.gate import ToolGate
from warden.safety.tools.ledger import TokenLedger
from warden.safety.tools.metrics import CallSource, ToolMetrics
from warden.safety.tools.registry import ClientTool, OfferedTool, RegisteredTool, ToolRegistry
from warden.safety.tools.validation import ArgumentProblem, CallValidator
from warden.store.audit import AuditLog
from warden.telemetry.tracing import span

log = logging.getLogger(__name__)

MAX_PURPOSE_CHARS = 200
UNPARSED = "_unparsed"  # metric label for required calls that did not parse as any call
CLIENT = "_client"  # metric label for client-defined tools: their names are unbounded
Mode = Literal["dry_run", "real"]


@dataclass(frozen=True)
class Caller:
    key_id: str
    tier: str
    request_id: str


@dataclass(frozen=True)
class ExecuteCall:
    tool: str
    arguments: dict[str, Any]
    dry_run: bool = False
    confirmation_token: str | None = None
    purpose: str | None = None


class ToolService:
    def __init__(self, registry: ToolRegistry, tokens: ConfirmationTokens, ledger: TokenLedger,
                 executor: ToolExecutor, *, audit: AuditLog, metrics: ToolMetrics,
                 data_dir: Path, gate: ToolGate | None = None) -> None:
        self.registry = registry
        self.tokens = tokens
        self.ledger = ledger
        self.executor = executor
        self.audit = audit
        self.metrics = metrics
        self.data_dir = Path(data_dir)
        self.gate = gate or ToolGate()

    async def close(self) -> None:
        await self.executor.close()

    # offering tools to the model ---------------------------------------------------------
    def check_offer(self, name: str, tier: str, param: str) -> RegisteredTool:
        """A tool a chat request may offer the model: registered, allowed, switched on."""
        tool = self.registry.require(name, tier, param)
        self._gate(tool)
        return tool

    def check_client_offer(self, name: str, description: str | None,
                           parameters: dict[str, Any] | None, *, allowed: bool,
                           param: str) -> ClientTool:
        """A tool the client defines (and will run itself): its schema must be a valid JSON
        schema the decoder can enforce, and the caller's tier must allow client tools."""
        if not allowed:
            raise ToolProblem(403, "client_tools_not_allowed",
                              f"This key's tier does not allow client-defined tools, and "
                              f"'{name}' is not a registry tool with that schema. Offer only "
                              "registry tools (GET /v1/tools lists them, without 'parameters'"
                              "), or ask an admin to set client_tools: true on the tier.",
                              param=param)
        schema = parameters if parameters is not None else {"type": "object", "properties": {}}
        from warden.constraints.tool_schema import check_parameters_schema

        try:
            check_parameters_schema(name, schema)
        except ValueError as exc:
            raise ToolProblem(400, "invalid_tool_schema", f"{param}.parameters {exc}",
                              param=f"{param}.parameters") from exc
        return ClientTool(name, description or "", dict(schema), CallValidator(schema))

    async def check_generated(self, tool: OfferedTool, arguments: Any,
                              caller: Caller) -> list[ArgumentProblem]:
        """Validate a call the model wrote; count it; audit it if it does not conform."""
        return await self._check(tool, arguments, caller, "chat")

    async def record_unparsed(self, expected: Sequence[str], caller: Caller) -> None:
        """A required call came out as something that is not a call at all (cut off by
        max_tokens, say). Counted under the tool label UNPARSED, since no tool can be told."""
        self.metrics.call_checked(UNPARSED, False, "chat")
        await self._append("tool.invalid_call", {
            "tool": None, "expected": list(expected), "source": "chat",
            "key_id": caller.key_id, "request_id": caller.request_id,
            "problems": [{"path": "", "keyword": "json"}]})
        log.warning("tool.invalid_call tool=%s source=chat request_id=%s problems=not a call",
                    UNPARSED, caller.request_id)

    # governed execution ------------------------------------------------------------------
    async def execute(self, call: ExecuteCall, caller: Caller) -> dict[str, Any]:
        # GenAI semantic conventions: `execute_tool {gen_ai.tool.name}`, the name only when
        # it is a registered tool's (a caller's unknown name may be anything); no arguments.
        known = self.registry.get(call.tool)
        name = known.name if known is not None else None
        with span(f"execute_tool {name}" if name else "execute_tool",
                  {"gen_ai.operation.name": "execute_tool", "warden.tool.dry_run": call.dry_run,
                   **({"gen_ai.tool.name": name} if name else {})}):
            return await self._execute(call, caller)

    async def _execute(self, call: ExecuteCall, caller: Caller) -> dict[str, Any]:
        tool = self.registry.require(call.tool, caller.tier)
        self._gate(tool)
        problems = await self._check(tool, call.arguments, caller, "execute")
        if problems:
            raise ToolProblem(400, "tool_arguments_invalid",
                              f"The arguments do not match the parameters schema of "
                              f"'{tool.name}': " + "; ".join(p.describe() for p in problems)
                              + ". GET /v1/tools shows the schema.", param="arguments")
        if call.dry_run and call.confirmation_token:
            raise self._refuse(tool, ToolProblem(
                400, "invalid_value", "Send either dry_run: true (to get a confirmation_token)"
                " or a confirmation_token (to run for real), not both.", param="dry_run"))
        if call.confirmation_token and not tool.mutating:
            raise self._refuse(tool, ToolProblem(
                400, "invalid_value", f"The tool '{tool.name}' is read-only and needs no "
                "confirmation_token; remove it.", param="confirmation_token"))
        if tool.mutating and not call.confirmation_token:
            return await self._dry_run(tool, call, caller, confirm=True)
        if call.dry_run:
            return await self._dry_run(tool, call, caller, confirm=False)
        token_id = None
        if tool.mutating:
            assert call.confirmation_token is not None
            try:
                claims = self.tokens.verify(call.confirmation_token, key_id=caller.key_id,
                                            tool=tool.name, arguments=call.arguments)
                await asyncio.to_thread(self.ledger.claim, claims, caller.request_id)
            except ToolProblem as problem:
                raise self._refuse(tool, problem) from None
            token_id = claims.token_id
        result = await self._run(tool, call, caller, "real", token_id=token_id)
        return {"object": "tool.execution", "tool": tool.name, "mode": "real",
                "dry_run": False, "result": result,
                "arguments_sha256": sha256_of(call.arguments), "request_id": caller.request_id}

    async def _dry_run(self, tool: RegisteredTool, call: ExecuteCall, caller: Caller, *,
                       confirm: bool) -> dict[str, Any]:
        result = await self._run(tool, call, caller, "dry_run")
        body: dict[str, Any] = {
            "object": "tool.execution", "tool": tool.name, "mode": "dry_run", "dry_run": True,
            "dry_run_result": result, "arguments_sha256": sha256_of(call.arguments),
            "request_id": caller.request_id}
        if confirm:
            token, claims = self.tokens.issue(key_id=caller.key_id, tool=tool.name,
                                              arguments=call.arguments, dry_run_result=result,
                                              ttl_s=tool.config.confirm_ttl_s)
            body["confirmation_token"] = token
            body["expires_at"] = datetime.fromtimestamp(claims.expires_at, UTC).isoformat()
        return body

    async def _run(self, tool: RegisteredTool, call: ExecuteCall, caller: Caller, mode: Mode,
                   token_id: str | None = None) -> Any:
        arguments_sha256 = sha256_of(call.arguments)
        intent = {"tool": tool.name, "purpose": self._purpose(tool, call.purpose),
                  "mutating": tool.mutating, "mode": mode, "key_id": caller.key_id,
                  "request_id": caller.request_id, "arguments_sha256": arguments_sha256,
                  "confirmation_token_id": token_id}
        # Intent first: if the tool hangs or the process dies, the record of the attempt stays.
        await self._append("tool.intent", intent)
        log.info("tool.intent tool=%s mode=%s mutating=%s key_id=%s request_id=%s "
                 "arguments_sha256=%s", tool.name, mode, tool.mutating, caller.key_id,
                 caller.request_id, arguments_sha256,
                 extra={"tool": tool.name, "tool_mode": mode, "key_id": caller.key_id})
        context = ToolContext(dry_run=mode == "dry_run", data_dir=self.data_dir,
                              key_id=caller.key_id, request_id=caller.request_id)
        try:
            result = await self.executor.run(tool.config, call.arguments, context)
        except ToolProblem as problem:
            # A tool refusing its input is the tool working; anything else is an error.
            outcome = "rejected" if problem.status < 500 else "error"
            self.metrics.executions.labels(tool.name, mode, outcome).inc()
            self.gate.on_result(outcome != "error")
            await self._append("tool.result", {"tool": tool.name, "mode": mode, "ok": False,
                                               "code": problem.code,
                                               "request_id": caller.request_id})
            log.warning("tool.result tool=%s mode=%s ok=false code=%s request_id=%s",
                        tool.name, mode, problem.code, caller.request_id)
            raise
        self.metrics.executions.labels(tool.name, mode, "ok").inc()
        self.gate.on_result(True)
        await self._append("tool.result", {"tool": tool.name, "mode": mode, "ok": True,
                                           "result_sha256": sha256_of(result),
                                           "request_id": caller.request_id})
        return result

    # shared --------------------------------------------------------------------------------
    async def _check(self, tool: OfferedTool, arguments: Any, caller: Caller,
                     source: CallSource) -> list[ArgumentProblem]:
        problems = tool.problems(arguments)
        client = isinstance(tool, ClientTool)
        self.metrics.call_checked(CLIENT if client else tool.name, not problems, source)
        if problems:
            payload = {"tool": tool.name, "client_tool": client, "source": source,
                       "key_id": caller.key_id,
                       "request_id": caller.request_id,
                       "arguments_sha256": _safe_sha256(arguments),
                       "problems": [p.as_dict() for p in problems]}
            await self._append("tool.invalid_call", payload)
            log.warning("tool.invalid_call tool=%s source=%s request_id=%s problems=%s",
                        tool.name, source, caller.request_id,
                        [p.describe() for p in problems])
        elif source == "chat":  # a call returned to the client: evidence of what was asked
            await self._append("tool.call", {
                "tool": tool.name, "client_tool": client, "source": source,
                "key_id": caller.key_id, "request_id": caller.request_id,
                "arguments_sha256": _safe_sha256(arguments)})
        return problems

    def _gate(self, tool: RegisteredTool) -> None:
        try:
            self.gate.check(tool.name)
        except ToolProblem as problem:
            raise self._refuse(tool, problem) from None

    def _refuse(self, tool: RegisteredTool, problem: ToolProblem) -> ToolProblem:
        self.metrics.refusals.labels(tool.name, problem.code).inc()
        return problem

    @staticmethod
    def _purpose(tool: RegisteredTool, purpose: str | None) -> str:
        text = (purpose or "").strip()[:MAX_PURPOSE_CHARS]
        if not text:
            return tool.config.description[:MAX_PURPOSE_CHARS]
        return _without_pii(text)

    async def _append(self, kind: str, payload: dict[str, Any]) -> None:
        await asyncio.to_thread(self.audit.append, kind, "tools", payload)


def _safe_sha256(value: Any) -> str | None:
    try:
        return sha256_of(value)
    except ValueError:
        return None


def _without_pii(text: str) -> str:
    """The caller's purpose with pattern-detected PII (emails, phones, cards, secrets...)
    replaced by its label: it is stored verbatim in the audit log otherwise."""
    from warden.safety.detectors.pii_patterns import find_pii

    out, last = [], 0
    for finding in sorted(find_pii(text), key=lambda f: f.start):
        if finding.start < last:
            continue
        out.append(text[last:finding.start])
        out.append(f"<{finding.label}>")
        last = finding.end
    out.append(text[last:])
    return "".join(out)
