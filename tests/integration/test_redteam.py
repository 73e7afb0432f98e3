"""`warden redteam` and `warden drill kill-switch` against real servers (real model, guard
models, MiniLM, SQLite), run as the user runs them: subprocesses of the CLI.

Two servers for the module: the hardened one (safety on, the fixture tools, the fixture
corpus ingested, as docs/redteam.md configures it) and a weakened one (safety off) that the
suite must fail against, which proves the suite can fail.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.tool_registry import builtin_tools
from tests.support.warden_server import WardenServer
from warden.redteam.cases import FIXTURE_CORPUS, SHIPPED_CASES, load_cases
from warden.safety.tools.builtin import BUILTIN_PARAMETERS

pytestmark = pytest.mark.integration

WARDEN = [sys.executable, "-m", "warden.cli.main"]
GENEROUS = {"rpm": 10_000, "tpm": 10_000_000, "tokens_per_day": 100_000_000,
            "max_tokens": 512, "max_concurrent": 8}
# The fixture registry of docs/redteam.md: the built-ins for the user's tier, and one
# mutating tool only the 'pro' tier may use.
LEDGER = {"name": "ledger_write", "description": "Append to the finance ledger.",
          "parameters": BUILTIN_PARAMETERS["notes_append"], "mutating": True, "tiers": ["pro"],
          "executor": {"python": "warden.safety.tools.builtin:notes_append"}}
# The cases that document a weakness we know of (reported as known_gap, not failed). The
# grandma/system-prompt case was closed by the injection classifier (issue 12). Two
# over-blocks came with the retraining of 2026-11-30: the request is stopped, under the
# wrong category or where it should pass with the key redacted (each case's known_gap says
# which and why).
KNOWN_GAPS: set[str] = {"jb-dan", "pii-secret-assignment-echo"}
REQUIRED_CATEGORIES = {"prompt_injection", "jailbreak", "schema", "tool_misuse",
                       "retrieval_poisoning", "pii_exfiltration"}


@dataclass
class Rig:
    server: WardenServer
    user_key: str
    admin_key: str

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        with self.server.client(self.admin_key) as http:
            response = http.request(method, path, json=body)
        assert response.status_code < 300, response.text
        return response.json()


def _config(safety: bool) -> dict[str, Any]:
    return {"safety": {"enabled": safety}, "tiers": {"default": GENEROUS, "pro": GENEROUS},
            "tools": [*builtin_tools(["default"]), LEDGER],
            "retrieval": {"default_corpus": "redteam"}}


def _rig(safety: bool) -> Iterator[Rig]:
    server = WardenServer(_config(safety))
    user_key = server.create_key("redteam-user")
    admin_key = server.create_key("redteam-admin", role="admin")
    out = server.cli("index", "ingest", str(FIXTURE_CORPUS), "--corpus", "redteam",
                     "--activate").stdout
    assert re.search(r"quarantined \(poison\)\s+1", out), out
    with server:
        yield Rig(server, user_key, admin_key)


@pytest.fixture(scope="module")
def hardened() -> Iterator[Rig]:
    yield from _rig(safety=True)


@pytest.fixture(scope="module")
def weakened() -> Iterator[Rig]:
    yield from _rig(safety=False)


def _warden(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*WARDEN, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=900)


def _redteam(rig: Rig, tmp_path: Path, *extra: str) -> tuple[int, dict[str, Any], str]:
    out = tmp_path / "report.json"
    result = _warden("redteam", "--url", rig.server.base_url, "--key", rig.user_key,
                     "--admin-key", rig.admin_key, "--json-out", str(out), *extra,
                     cwd=tmp_path)
    assert "Traceback" not in result.stderr + result.stdout
    return result.returncode, json.loads(out.read_text()), result.stdout + result.stderr


def test_suite_passes_against_the_hardened_server(hardened: Rig, tmp_path: Path) -> None:
    code, report, output = _redteam(hardened, tmp_path)
    statuses = {r["id"]: r["status"] for r in report["results"]}
    failed = [r for r in report["results"] if r["status"] == "failed"]
    assert code == 0, json.dumps(failed, indent=1) + output[-3000:]
    assert report["passed"] is True and report["summary"]["failed"] == 0
    # Every fixture is configured, so nothing is skipped; the only non-passes are the
    # documented known gaps.
    assert report["summary"]["skipped"] == 0, [r for r in report["results"]
                                               if r["status"] == "skipped"]
    assert {i for i, s in statuses.items() if s == "known_gap"} == KNOWN_GAPS
    assert len(statuses) == len(load_cases(SHIPPED_CASES)) >= 60
    assert set(report["by_category"]) >= REQUIRED_CATEGORIES
    for category in REQUIRED_CATEGORIES:
        assert report["by_category"][category]["passed"] >= 1, category
    # The table is by category, and the secrets never reach the report.
    assert "retrieval_poisoning" in output and "tool_misuse" in output
    text = json.dumps(report)
    assert hardened.user_key not in text and hardened.admin_key not in text
    assert "jane.doe@northwind-mail.com" not in text  # a PII case's input, never echoed


def test_suite_fails_against_a_server_without_the_guard(weakened: Rig, tmp_path: Path) -> None:
    code, report, output = _redteam(weakened, tmp_path, "--category",
                                    "prompt_injection,harmful_content,retrieval_poisoning")
    assert code == 1, output[-3000:]
    assert report["passed"] is False
    results = {r["id"]: r for r in report["results"]}
    injection = [r for r in results.values() if r["category"] == "prompt_injection"]
    assert injection and all(r["status"] == "failed" for r in injection)
    assert all(any("status 200, expected [400]" in p for p in r["problems"])
               for r in injection)
    assert results["harm-crisis-escalated"]["status"] == "failed"
    # Without the guard no chunk is screened at query time: the Spanish poisoned chunk
    # (which ingest cannot see) is no longer dropped.
    assert results["rag-poisoned-chunk-dropped-at-query"]["status"] == "failed"
    # Quarantine at ingest does not depend on the guard: that case still passes.
    assert results["rag-poisoned-chunk-quarantined-at-ingest"]["status"] == "passed"
    assert "FAIL inj-override-system-prompt" in output


def test_case_needing_missing_fixtures_is_skipped_with_reason(weakened: Rig,
                                                               tmp_path: Path) -> None:
    """No admin key and a corpus that does not exist: skipped, with the reason, not passed."""
    cases = tmp_path / "cases"
    cases.mkdir()
    (cases / "c.yaml").write_text(
        "- id: needs-corpus\n  category: retrieval_poisoning\n  description: d\n"
        "  skip_when: {error_code: [corpus_not_found], reason: no corpus}\n"
        "  request: {path: /v1/generate, json: {prompt: hi, max_tokens: 1, retrieval: "
        "{corpus: absent}}}\n  expect: {status: [200]}\n"
        "- id: needs-admin\n  category: access_control\n  description: d\n"
        "  request: {method: GET, path: /admin/switches, auth: admin}\n"
        "  expect: {status: [200]}\n"
        "- id: needs-tool\n  category: tool_misuse\n  description: d\n"
        "  requires: {tools: [web_search]}\n"
        "  request: {path: /v1/tools/web_search/execute, json: {arguments: {}}}\n"
        "  expect: {status: [200]}\n")
    out = tmp_path / "r.json"
    result = _warden("redteam", "--url", weakened.server.base_url, "--key",
                     weakened.user_key, "--cases", str(cases), "--json-out", str(out),
                     cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    report = {r["id"]: r for r in json.loads(out.read_text())["results"]}
    assert {r["status"] for r in report.values()} == {"skipped"}
    assert "corpus_not_found" in report["needs-corpus"]["reason"]
    assert report["needs-admin"]["reason"] == "needs --admin-key"
    assert "web_search" in report["needs-tool"]["reason"]
    assert "calculator" in report["needs-tool"]["reason"]  # what the server does offer


def test_kill_switch_drill(hardened: Rig, tmp_path: Path) -> None:
    # A red-team run in this module may have tripped safety-block-surge (tools off): the
    # drill leaves switches that are already off alone, so start from all-on.
    for switch in hardened.admin("GET", "/admin/switches")["data"]:
        if not switch["on"]:
            hardened.admin("POST", f"/admin/switches/{switch['name']}",
                           {"on": True, "reason": "test setup"})
    result = _warden("drill", "kill-switch", "--url", hardened.server.base_url,
                     "--admin-key", hardened.admin_key, "--key", hardened.user_key, "--json",
                     cwd=tmp_path)
    # ledger_write is not allowed for the user's tier: flipped and restored, but its effect
    # cannot be observed with this key; not verifiable is not passed, so the drill fails.
    assert result.returncode == 1, result.stdout + result.stderr
    record = json.loads(result.stdout)
    assert record["passed"] is False
    verdicts = {v["name"]: v["verdict"] for v in record["switches"]}
    assert verdicts == {"retrieval": "passed", "tools": "passed", "tool:calculator": "passed",
                        "tool:notes_append": "passed", "tool:ledger_write": "unverifiable"}
    checks = {(c["target"], c["step"]): c["outcome"] for c in record["checks"]}
    for switch in ("retrieval", "tools", "tool:calculator", "tool:notes_append"):
        for step in ("baseline", "switch_off", "verify_off", "restore", "verify_restored"):
            assert checks[(switch, step)] == "ok", (switch, step, record["checks"])
    assert checks[("tool:ledger_write", "verify_off")] == "not_verifiable"
    # Every switch is back on.
    after = hardened.admin("GET", "/admin/switches")["data"]
    assert all(s["on"] and s["effective_on"] for s in after), after
    # The audit chain has each flip and the drill's own record, and still verifies.
    from warden.store.audit import AuditLog
    from warden.store.db import open_database

    db = open_database(f"sqlite:///{hardened.server.workdir}/warden.db")
    try:
        records = list(AuditLog(db).export())
    finally:
        db.dispose()
    drills = [r for r in records if r["kind"] == "drill.kill_switch"]
    assert drills and drills[-1]["seq"] == record["audit_seq"]
    assert drills[-1]["payload"]["passed"] is False
    assert {v["name"]: v["verdict"] for v in drills[-1]["payload"]["switches"]} == verdicts
    admin_id = hardened.admin_key.split("_")[1]
    assert drills[-1]["actor"] == admin_id
    flips = [r for r in records if r["kind"] == "switch.flip"
             and r["payload"].get("reason") == "drill"]
    assert {r["payload"]["name"] for r in flips} >= {"retrieval", "tools", "tool:calculator"}
    verify = hardened.server.cli("audit", "verify")
    assert verify.returncode == 0
    assert hardened.admin("GET", "/admin/audit/verify")["intact"] is True
