"""`warden drill kill-switch`: a switch the drill could not observe is not a switch that passed.

The CLI runs against an in-process fake of the admin and probe routes (httpx.MockTransport):
switches flip at once, and the user key may use only the tools the fake lists, so the other
tool switches cannot be observed, which is exactly the case the verdicts are about."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

import warden.redteam.drill as drill_module
from warden.cli.main import app
from warden.redteam.drill import Check, KillSwitchDrill, switch_verdicts

ALL_STEPS = ("baseline", "switch_off", "verify_off", "restore", "verify_restored")


def checks(target: str, **outcomes: str) -> list[Check]:
    return [Check(target, step, outcomes.get(step, "ok"), f"{step} detail")  # type: ignore[arg-type]
            for step in ALL_STEPS]


def test_verdicts_per_switch() -> None:
    verdicts = switch_verdicts([
        *checks("retrieval"),
        *checks("tools", verify_off="failed"),
        *checks("tool:x", verify_off="not_verifiable"),
        Check("tool:y", "baseline", "not_verifiable", "already off (ops: incident)"),
        Check("tool:z", "baseline", "ok", "on"),
    ])
    assert [(v.name, v.verdict) for v in verdicts] == [
        ("retrieval", "passed"), ("tools", "failed"), ("tool:x", "unverifiable"),
        ("tool:y", "unverifiable"), ("tool:z", "unverifiable")]
    assert verdicts[1].reason == "verify_off: verify_off detail"
    assert verdicts[3].reason == "baseline: already off (ops: incident)"
    assert verdicts[4].reason.startswith("never reached switch_off")


class FakeGateway:
    """Switch state plus the probes' answers, as the real routes give them."""

    def __init__(self, switches: list[str], usable_tools: list[str]) -> None:
        self.on = dict.fromkeys(switches, True)
        self.usable_tools = usable_tools
        self.drill_record: dict[str, Any] | None = None

    def _tool_on(self, tool: str) -> bool:
        return self.on.get("tools", True) and self.on.get(f"tool:{tool}", True)

    def handle(self, request: httpx.Request) -> httpx.Response:  # noqa: PLR0911 -- a router
        path, body = request.url.path, json.loads(request.content or b"null")
        if path == "/admin/switches":
            return httpx.Response(200, json={"data": [
                {"name": n, "on": on, "effective_on": on if not n.startswith("tool:") else
                 on and self.on.get("tools", True), "actor": "default", "reason": None}
                for n, on in self.on.items()]})
        if path.startswith("/admin/switches/"):
            self.on[path.removeprefix("/admin/switches/")] = body["on"]
            return httpx.Response(200, json={"on": body["on"]})
        if path == "/v1/tools":
            return httpx.Response(200, json={"data": [{"function": {"name": t}}
                                                      for t in self.usable_tools]})
        if path == "/v1/generate":
            if not self.on["retrieval"]:
                return httpx.Response(200, json={"retrieval": {"skipped": "switched_off"}})
            return httpx.Response(200, json={"retrieval": {"corpus": "c", "version": 1}})
        if match := re.fullmatch(r"/v1/tools/(.+)/execute", path):
            if not self._tool_on(match.group(1)):
                return httpx.Response(503, json={"error": {"code": "tool_switched_off"}})
            return httpx.Response(400, json={"error": {"code": "invalid_arguments"}})
        if path == "/admin/drills":
            self.drill_record = body
            return httpx.Response(201, json={"seq": 42})
        return httpx.Response(404, json={"error": {"code": "not_found"}})


def run_drill(monkeypatch: pytest.MonkeyPatch, gateway: FakeGateway, *extra: str
              ) -> tuple[int, str]:
    class FakeDrill(KillSwitchDrill):
        def __init__(self, url: str, admin_key: str, user_key: str | None = None,
                     **kwargs: Any) -> None:
            client = httpx.Client(base_url=url, transport=httpx.MockTransport(gateway.handle))
            super().__init__(url, admin_key, user_key, client=client,
                             sleep=lambda _s: None, **kwargs)

    monkeypatch.setattr(drill_module, "KillSwitchDrill", FakeDrill)
    result = CliRunner().invoke(app, ["drill", "kill-switch", "--url", "http://gw",
                                      "--admin-key", "wk_admin", *extra])
    return result.exit_code, result.output


SIX = ["retrieval", "tools", "tool:a", "tool:b", "tool:c", "tool:d"]


def test_five_unverifiable_switches_fail_the_drill(monkeypatch: pytest.MonkeyPatch) -> None:
    gateway = FakeGateway(SIX, usable_tools=[])  # the key may use no tool: only retrieval
    code, out = run_drill(monkeypatch, gateway)
    assert code == 1
    assert "drill FAILED" in out and "drill PASSED" not in out
    assert re.search(r"retrieval\s+│\s+passed", out), out
    for name in SIX[1:]:
        assert re.search(rf"{name}\s+│\s+unverifiable", out), (name, out)
    assert "1 of 6 switches passed, 0 failed, 5 could not be verified" in out
    assert gateway.drill_record is not None and gateway.drill_record["passed"] is False
    assert all(gateway.on.values())  # everything it flipped is back on


def test_json_reports_each_switch_with_its_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    gateway = FakeGateway(["retrieval", "tools", "tool:a", "tool:b"], usable_tools=["a"])
    code, out = run_drill(monkeypatch, gateway, "--json")
    assert code == 1
    report = json.loads(out[:out.rindex("}") + 1])
    verdicts = {s["name"]: s for s in report["switches"]}
    assert {n: v["verdict"] for n, v in verdicts.items()} == {
        "retrieval": "passed", "tools": "passed", "tool:a": "passed", "tool:b": "unverifiable"}
    assert "tool 'b' is not allowed for the key's tier" in verdicts["tool:b"]["reason"]
    assert report["passed"] is False and report["audit_seq"] == 42


def test_drill_passes_only_when_every_switch_passed(monkeypatch: pytest.MonkeyPatch) -> None:
    gateway = FakeGateway(["retrieval", "tools", "tool:a"], usable_tools=["a"])
    code, out = run_drill(monkeypatch, gateway)
    assert code == 0 and "drill PASSED" in out
    assert gateway.drill_record is not None and gateway.drill_record["passed"] is True
