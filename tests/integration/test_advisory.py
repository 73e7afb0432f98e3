"""Policy advisory end to end with the real built-in model: answers always parse and
validate, shadow never changes the enforced decision, admin promotion is refused, a reviewer
override moves the override rate, and a shifted replay fires the distribution-shift alert.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from tests.conftest import RunningWarden
from tests.support.warden_server import WardenServer
from warden.policy.rules import load_rules
from warden.policy.situation import Situation
from warden.policy.suite import load_suite

pytestmark = pytest.mark.integration

RESPONSE_SCHEMA = {
    "type": "object",
    "required": ["advisory_id", "decision", "reasoning", "risk_tier", "mode",
                 "enforced_decision", "requires_human", "model", "prompt_variant",
                 "prompt_hash", "latency_ms"],
    "additionalProperties": False,
    "properties": {
        "advisory_id": {"type": "string", "pattern": "^adv_[0-9a-f]{24}$"},
        "decision": {"enum": ["allow", "deny", "require_attestation"]},
        "reasoning": {"type": "string", "minLength": 1},
        "risk_tier": {"enum": ["low", "medium", "high", "critical"]},
        "mode": {"enum": ["shadow", "advisory", "enforce"]},
        "enforced_decision": {"enum": ["allow", "deny", "require_attestation"]},
        "requires_human": {"type": "boolean"},
        "model": {"const": "smollm2-135m-instruct"},
        "prompt_variant": {"type": "string"},
        "prompt_hash": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "latency_ms": {"type": "number", "minimum": 0},
    },
}
# One suite case per action type and several roles and trust levels.
SAMPLE = ["read-01", "read-05", "write-02", "commit-02", "deploy-02", "deploy-05", "admin-01"]


def suite_situations(ids: list[str]) -> list[Situation]:
    cases = {c.id: c for c in load_suite()}
    return [cases[i].situation for i in ids]


def advise(http: httpx.Client, situation: Situation,
           current: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"situation": situation.plain()}
    if current:
        body["current_decision"] = current
    response = http.post("/v1/advisory", json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    jsonschema.validate(answer, RESPONSE_SCHEMA)
    return answer


def test_answers_parse_validate_and_shadow_enforces_the_current_engine(
        warden: RunningWarden) -> None:
    """On the shared server (guard on): every answer has the issue's shape and an advisor
    decision (no parse errors), and in shadow the enforced decision is the current
    engine's: the rules' when the caller sends none, the caller's when it does."""
    rules = load_rules()
    with httpx.Client(base_url=warden.base_url, timeout=300,
                      headers={"authorization": f"Bearer {warden.user_key}"}) as http:
        for situation in suite_situations(SAMPLE):
            answer = advise(http, situation)
            record = http.get(f"/v1/advisory/{answer['advisory_id']}").json()
            assert record["error"] is None, record  # decoded under the schema: it parsed
            assert record["decision"] == answer["decision"]
            if situation.action_type == "admin":
                assert answer["mode"] == "advisory" and answer["requires_human"]
                continue
            assert answer["mode"] == "shadow" and not answer["requires_human"]
            assert answer["enforced_decision"] == rules.decide(situation).decision.value
        for current in ("allow", "deny"):
            answer = advise(http, suite_situations(["write-01"])[0], current)
            assert answer["enforced_decision"] == current
        bad = http.post("/v1/advisory", json={"situation": {"action_type": "launch"}})
        assert bad.status_code == 400 and "situation" in bad.json()["error"]["param"]


@pytest.fixture(scope="module")
def server() -> Iterator[WardenServer]:
    """Small gates and a small shift baseline, so a test can walk through them."""
    config = {
        "batch": {"enabled": False},
        "advisory": {
            "actions": {"write": {"risk_tier": "medium", "to_advisory": {
                "min_samples": 3, "min_days": 0, "min_agreement": 0.05}}},
            "shift": {"baseline_size": 10, "min_samples": 8, "recompute_every": 1},
        },
    }
    with WardenServer(config) as running:
        yield running


@pytest.fixture(scope="module")
def admin_key(server: WardenServer) -> str:
    return server.create_key("advisory-admin", role="admin")


@pytest.fixture(scope="module")
def admin(server: WardenServer, admin_key: str) -> Iterator[httpx.Client]:
    with server.client(admin_key, timeout=300) as http:
        yield http


def test_admin_promotion_is_refused(server: WardenServer, admin: httpx.Client) -> None:
    refused = admin.post("/admin/advisory/promote/admin")
    assert refused.status_code == 409
    assert "admin actions always stay with a human" in refused.json()["error"]["message"]
    cli = server.cli("advisory", "promote", "admin", check=False)
    assert cli.returncode == 1 and "admin actions always stay" in cli.stderr
    status = admin.get("/admin/advisory/status").json()
    modes = {row["action_type"]: row["mode"] for row in status["actions"]}
    assert modes["admin"] == "advisory" and modes["read"] == "shadow"


def test_shifted_replay_fires_the_shift_alert(server: WardenServer, admin: httpx.Client,
                                              admin_key: str, tmp_path: Path) -> None:
    """Runs before the review test (the module's server records every advisory, and the
    baseline is the variant's first 10 advisor decisions). A replay of situations the
    advisor decides differently then moves the distribution: the alert fires, in the stats
    and on /metrics. Which situations the 135M model decides differently is found first."""
    candidates = suite_situations(["read-01", "read-05", "commit-04", "deploy-01", "admin-06",
                                   "write-11", "deploy-13", "read-16"])
    said: dict[str, Situation] = {}
    for situation in candidates:
        decision = admin.post("/admin/advisory/evaluate",
                              json={"situation": situation.plain()}).json()["decision"]
        said.setdefault(decision, situation)
    assert len(said) >= 2, f"the advisor gave one decision for every candidate: {said}"
    (first, base), (second, shifted) = list(said.items())[:2]
    stats = admin.get("/admin/advisory/stats", params={"window": "all"}).json()
    filled = stats["shift"]["n_baseline"]
    for _ in range(10 - filled):  # the rest of the baseline: one kind of situation
        advise(admin, base)
    replay = tmp_path / "shifted.jsonl"
    replay.write_text("".join(json.dumps({"situation": shifted.plain(), "decision": "deny"})
                              + "\n" for _ in range(8)))
    result = server.cli("advisory", "replay", str(replay), "--record", "--url",
                        server.base_url, "--key", admin_key)
    report = json.loads(result.stdout)
    assert report["rows"] == 8 and report["errors"] == 0
    shift = report["server_shift"]
    assert shift["verdict"] == "alert", shift
    assert shift["current"][second] > shift["baseline"][second] + 0.2
    metrics = admin.get("/metrics").text
    assert "warden_advisory_distribution_shift_alert 1.0" in metrics
    assert first != second


def test_reviewer_override_changes_the_override_rate(server: WardenServer,
                                                     admin: httpx.Client) -> None:
    situation = suite_situations(["write-02"])[0]
    advisor_says = admin.post("/admin/advisory/evaluate",
                              json={"situation": situation.plain()}).json()["decision"]
    # Shadow traffic that agrees (the caller's current decision is the advisor's): the gate
    # opens on its Wilson lower bound with the test's small minimums.
    for _ in range(3):
        assert advise(admin, situation, advisor_says)["mode"] == "shadow"
    promoted = admin.post("/admin/advisory/promote/write")
    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["mode"]["mode"] == "advisory"
    first, second = advise(admin, situation), advise(admin, situation)
    assert first["requires_human"] and first["enforced_decision"] == "require_attestation"
    pending = admin.get("/admin/advisory/reviews", params={"status": "pending"}).json()["data"]
    assert {r["advisory_id"] for r in pending} >= {first["advisory_id"], second["advisory_id"]}

    agree = admin.post(f"/admin/advisory/reviews/{first['advisory_id']}",
                       json={"decision": first["decision"]})
    assert agree.status_code == 200 and agree.json()["override"] is False
    before = admin.get("/admin/advisory/stats").json()["by_action"]["write"]["override_rate"]
    other = "deny" if second["decision"] != "deny" else "allow"
    overridden = admin.post(f"/admin/advisory/reviews/{second['advisory_id']}",
                            json={"decision": other, "notes": "needs a second look"})
    assert overridden.status_code == 200 and overridden.json()["override"] is True
    after = admin.get("/admin/advisory/stats").json()["by_action"]["write"]["override_rate"]
    assert (before["successes"], before["n"]) == (0, 1)
    assert (after["successes"], after["n"]) == (1, 2)
    record = admin.get(f"/v1/advisory/{second['advisory_id']}").json()
    assert record["enforced_decision"] == other and record["review"]["status"] == "decided"
    again = admin.post(f"/admin/advisory/reviews/{second['advisory_id']}",
                       json={"decision": "allow"})
    assert again.status_code == 409
    metrics = admin.get("/metrics").text
    assert re.search(r'warden_advisory_overrides_total\{action_type="write",category="'
                     r'(false_positive|false_negative)"\} 1\.0', metrics)
    # Rollback is instant, and the audit log has the whole story without any reasoning text.
    rolled = admin.post("/admin/advisory/rollback", json={"action_types": ["write"],
                                                          "reason": "test"})
    assert rolled.json()["data"][0]["to"] == "shadow"
    audit = [json.loads(line) for line in server.cli("audit", "export").stdout.splitlines()]
    kinds = [r["kind"] for r in audit]
    for kind in ("advisory.decision", "advisory.promote", "advisory.review",
                 "advisory.rollback"):
        assert kind in kinds
    decision = next(r for r in audit if r["kind"] == "advisory.decision")
    assert re.fullmatch("[0-9a-f]{64}", decision["payload"]["reasoning_sha256"])
    assert "reasoning" not in decision["payload"]
    assert server.cli("audit", "verify").returncode == 0
