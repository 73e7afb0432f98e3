"""Governed execution end to end without a server: real SQLite store, audit chain, tools
(built-in Python ones and a real local HTTP executor)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from tests.support.procs import free_port
from tests.support.tool_registry import builtin_tools

from warden.config.tools import ToolConfig
from warden.safety.tools.builtin import NOTES_FILE
from warden.safety.tools.errors import ToolProblem
from warden.safety.tools.factory import build_tool_service
from warden.safety.tools.gate import ToolGate
from warden.safety.tools.service import Caller, ExecuteCall, ToolService
from warden.store.audit import AuditLog
from warden.store.db import Database

NOTE = {"title": "Deploy", "text": "Rolled out v2 to jane.doe@example.com's team"}


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        if self.path == "/echo":
            out, status = json.dumps({"echo": body["arguments"], "dry_run": body["dry_run"]}), 200
        elif self.path == "/fail":
            out, status = "Traceback: secret internal detail at /srv/app.py", 500
        elif self.path == "/slow":
            time.sleep(1.0)
            out, status = "{}", 200
        else:
            out, status = "not json", 200
        try:
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(out.encode())
        except (BrokenPipeError, ConnectionResetError):
            pass  # /slow: the client gave up (that is the point of that route)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture(scope="module")
def http_tool_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def http_tool(name: str, url: str, timeout_s: float = 5.0) -> dict[str, Any]:
    return {"name": name, "description": f"HTTP tool {name}.",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}},
                           "required": ["q"]},
            "mutating": False, "tiers": ["default"],
            "executor": {"http": {"url": url, "timeout_s": timeout_s}}}


def make_service(db: Database, data_dir: Path, extra: list[dict[str, Any]] = (),
                 gate: ToolGate | None = None) -> ToolService:
    tools = [ToolConfig.model_validate(t) for t in [*builtin_tools(), *extra]]
    return build_tool_service(tools, db=db, audit=AuditLog(db), registry=CollectorRegistry(),
                              data_dir=data_dir, gate=gate, environ={})


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def caller(key: str = "k1", tier: str = "default", rid: str = "req_1") -> Caller:
    return Caller(key_id=key, tier=tier, request_id=rid)


def audit(db: Database, kind: str) -> list[dict[str, Any]]:
    return [r["payload"] for r in AuditLog(db).export() if r["kind"] == kind]


def problem(coro: Any) -> ToolProblem:
    with pytest.raises(ToolProblem) as err:
        run(coro)
    return err.value


def test_read_only_tool_runs_directly(db: Database, data_dir: Path) -> None:
    service = make_service(db, data_dir)
    out = run(service.execute(ExecuteCall("calculator", {"expression": "6*7"}), caller()))
    assert out["mode"] == "real" and out["result"] == {"expression": "6*7", "value": 42}
    [intent] = audit(db, "tool.intent")
    assert intent["tool"] == "calculator" and intent["mode"] == "real"
    assert intent["purpose"] == "Evaluate an arithmetic expression."
    assert "6*7" not in json.dumps(intent) and len(intent["arguments_sha256"]) == 64


def test_mutating_protocol(db: Database, data_dir: Path) -> None:
    service = make_service(db, data_dir)
    notes = data_dir / NOTES_FILE
    dry = run(service.execute(ExecuteCall("notes_append", NOTE, purpose="log the deploy"),
                              caller()))
    assert dry["mode"] == "dry_run" and dry["dry_run_result"]["would_append"] == NOTE
    assert not notes.exists()
    token = dry["confirmation_token"]
    # Altered arguments with the old token: refused, nothing written.
    altered = problem(service.execute(ExecuteCall("notes_append", {**NOTE, "text": "x"},
                                                  confirmation_token=token), caller()))
    assert altered.status == 409 and altered.code == "confirmation_arguments_changed"
    other_key = problem(service.execute(ExecuteCall("notes_append", NOTE,
                                                    confirmation_token=token), caller("k2")))
    assert other_key.code == "confirmation_token_wrong_key"
    assert not notes.exists()
    real = run(service.execute(ExecuteCall("notes_append", NOTE, confirmation_token=token),
                               caller(rid="req_2")))
    assert real["mode"] == "real" and real["result"]["line"] == 1
    assert len(notes.read_text().splitlines()) == 1
    replay = problem(service.execute(ExecuteCall("notes_append", NOTE,
                                                 confirmation_token=token), caller()))
    assert replay.status == 409 and replay.code == "confirmation_token_used"
    assert len(notes.read_text().splitlines()) == 1
    intents = audit(db, "tool.intent")
    assert [i["mode"] for i in intents] == ["dry_run", "real"]
    assert intents[0]["purpose"] == "log the deploy" and intents[0]["mutating"] is True
    assert intents[1]["confirmation_token_id"] is not None
    assert "jane" not in json.dumps(intents) and "Rolled" not in json.dumps(intents)
    assert AuditLog(db).verify() == (len(list(AuditLog(db).export())), None)


def test_purpose_pii_is_masked(db: Database, data_dir: Path) -> None:
    service = make_service(db, data_dir)
    run(service.execute(ExecuteCall("calculator", {"expression": "1"},
                                    purpose="asked by jane.doe@gmail.com"), caller()))
    [intent] = audit(db, "tool.intent")
    assert "jane.doe" not in intent["purpose"] and "asked by <" in intent["purpose"]


def test_explicit_dry_run_of_read_only_tool_has_no_token(db: Database,
                                                        data_dir: Path) -> None:
    service = make_service(db, data_dir)
    out = run(service.execute(ExecuteCall("calculator", {"expression": "1"}, dry_run=True),
                              caller()))
    assert out["mode"] == "dry_run" and "confirmation_token" not in out


def test_invalid_arguments_are_never_executed(db: Database, data_dir: Path) -> None:
    service = make_service(db, data_dir)
    bad = problem(service.execute(ExecuteCall("calculator", {"expression": "os.system"}),
                                  caller()))
    assert bad.status == 400 and bad.code == "tool_arguments_invalid" and "pattern" in bad.message
    assert audit(db, "tool.intent") == []
    [record] = audit(db, "tool.invalid_call")
    assert record["problems"] == [{"path": "/expression", "keyword": "pattern"}]
    assert "os.system" not in json.dumps(record)
    sample = service.metrics.calls.labels("calculator", "invalid", "execute")._value.get()
    assert sample == 1


def test_tier_and_registry(db: Database, data_dir: Path) -> None:
    service = make_service(db, data_dir)
    missing = problem(service.execute(ExecuteCall("shell", {}), caller()))
    assert missing.status == 404 and "calculator" in missing.message
    denied = problem(service.execute(ExecuteCall("calculator", {"expression": "1"}),
                                     caller(tier="free")))
    assert denied.status == 403 and denied.code == "tool_not_allowed" and "'free'" in \
        denied.message


def test_kill_switch_and_observers(db: Database, data_dir: Path) -> None:
    off = {"tool:calculator"}
    seen: list[bool] = []
    service = make_service(db, data_dir, gate=ToolGate(is_on=lambda switch: switch not in off,
                                                       observers=[seen.append]))
    refused = problem(service.execute(ExecuteCall("calculator", {"expression": "1"}), caller()))
    assert refused.status == 503 and refused.code == "tool_switched_off"
    assert "tool:calculator" in refused.message and "warden switch tool:calculator on" in \
        refused.message
    run(service.execute(ExecuteCall("notes_append", NOTE), caller()))  # other tool still on
    off.add("tools")
    assert problem(service.execute(ExecuteCall("notes_append", NOTE), caller())).message \
        .count("'tools'") == 1
    off.clear()
    run(service.execute(ExecuteCall("calculator", {"expression": "1"}), caller()))
    bad = problem(service.execute(ExecuteCall("calculator", {"expression": "1/0"}), caller()))
    assert bad.status == 400 and "division by zero" in bad.message
    assert seen == [True, True, True]  # a tool refusing its input is not a tool error


def test_http_executor(db: Database, data_dir: Path, http_tool_url: str) -> None:
    seen: list[bool] = []
    service = make_service(db, data_dir, [
        http_tool("echo", f"{http_tool_url}/echo"), http_tool("fail", f"{http_tool_url}/fail"),
        http_tool("slow", f"{http_tool_url}/slow", timeout_s=0.2),
        http_tool("garbled", f"{http_tool_url}/garbled"),
        http_tool("down", f"http://127.0.0.1:{free_port()}/x")],
        gate=ToolGate(observers=[seen.append]))

    async def scenario() -> None:
        out = await service.execute(ExecuteCall("echo", {"q": "hi"}), caller())
        assert out["result"] == {"echo": {"q": "hi"}, "dry_run": False}
        for name, code in (("fail", "tool_upstream_error"), ("slow", "tool_timeout"),
                           ("garbled", "tool_bad_result"), ("down", "tool_unreachable")):
            with pytest.raises(ToolProblem) as err:
                await service.execute(ExecuteCall(name, {"q": "x"}), caller())
            assert err.value.status == 502 and err.value.code == code, name
            assert "secret internal" not in err.value.message
        await service.close()

    run(scenario())
    assert seen == [True, False, False, False, False]
    results = audit(db, "tool.result")
    assert [r["ok"] for r in results] == [True, False, False, False, False]
