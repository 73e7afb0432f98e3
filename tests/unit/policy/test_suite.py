"""The shipped semantic suite: size and coverage the issue asks for, and the scorer."""

from __future__ import annotations

from tests.unit.policy.helpers import situation

from warden.policy.decision import Decision
from warden.policy.rules import load_rules
from warden.policy.suite import CaseResult, SuiteCase, load_suite, score


def test_suite_size_and_coverage() -> None:
    cases = load_suite()
    rules = load_rules()
    assert len(cases) >= 60
    assert {c.situation.action_type for c in cases} == {"read", "write", "commit", "deploy",
                                                        "admin"}
    assert {c.situation.actor_role for c in cases} >= {"admin", "maintainer", "developer",
                                                        "member", "guest", "service"}
    levels = {rules.scale.level(c.situation.trust_score).value for c in cases}
    assert levels == {"high", "medium", "low"}
    assert {c.expected for c in cases} == set(Decision)
    assert min(sum(c.situation.action_type == a for c in cases)
               for a in ("read", "write", "commit", "deploy", "admin")) >= 10


def test_score_counts_wrong_allows_on_high_risk() -> None:
    deploy = SuiteCase("d", situation("deploy", "developer"), Decision.REQUIRE_ATTESTATION)
    read = SuiteCase("r", situation(), Decision.ALLOW)
    results = [CaseResult(deploy, Decision.ALLOW, Decision.REQUIRE_ATTESTATION,
                          Decision.REQUIRE_ATTESTATION, 10.0),
               CaseResult(read, None, Decision.ALLOW, Decision.ALLOW, 10.0, "timeout")]
    report = score(results, level=0.95, risk_tiers={"deploy": "high", "read": "low"},
                   high_risk=["high", "critical"])
    assert report["advisor"]["successes"] == 0 and report["hybrid"]["successes"] == 2
    assert report["wrong_allows_high_risk"] == {"advisor": 1, "hybrid": 0}
    assert report["errors"] == 1 and report["confusion"]["allow"] == {"error": 1}
