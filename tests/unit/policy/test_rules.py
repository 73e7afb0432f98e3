"""The YAML rules engine: first-match base, strictest floors, matchers, and loud errors."""

from __future__ import annotations

import pytest
from tests.unit.policy.helpers import situation

from warden.policy.decision import Decision
from warden.policy.rules import RulesEngine, RulesError, load_rules, parse_rules
from warden.policy.suite import load_suite

RULES = """
version: 1
name: t
roles: {known: [admin, member, guest], unknown_as: guest}
base:
  - {id: public, description: public read, when: {action_type: read, context.visibility: public},
     decision: allow}
  - {id: guest, description: guest, when: {role: guest}, decision: deny}
  - {id: low, description: low trust, when: {trust_level: low}, decision: require_attestation}
  - {id: read, description: read, when: {action_type: read}, decision: allow}
default: deny
floors:
  - {id: bulk, description: bulk, when: {context.bulk: true}, decision: require_attestation}
  - id: branch
    description: protected branch
    when: {action_type: commit}
    any: [{context.branch: main}, {context.branch: {prefix: release/}}]
    unless: {role: admin}
    decision: require_attestation
  - {id: integrity, description: integrity, when: {t3.integrity: {lt: 0.3}}, decision: deny}
"""


def engine() -> RulesEngine:
    return parse_rules(RULES, "test")


def test_first_base_rule_wins_and_default_applies() -> None:
    rules = engine()
    assert rules.decide(situation(role="guest", visibility="public")).decision is Decision.ALLOW
    assert rules.decide(situation(role="guest")).base_rule == "guest"
    assert rules.decide(situation(trust=0.3)).decision is Decision.REQUIRE_ATTESTATION
    made = rules.decide(situation(action="write"))
    assert (made.decision, made.base_rule) == (Decision.DENY, "default")


def test_floors_only_make_it_stricter_and_all_apply() -> None:
    rules = engine()
    made = rules.decide(situation(bulk=True, integrity=0.2))
    assert made.decision is Decision.DENY
    assert made.floors == ("bulk", "integrity")
    assert rules.decide(situation(bulk=True)).decision is Decision.REQUIRE_ATTESTATION


def test_any_prefix_and_unless() -> None:
    rules = engine()
    for branch, protected in (("release/2.1", True), ("main", True), ("feature/x", False)):
        made = rules.decide(situation("commit", "member", branch=branch))
        assert ("branch" in made.floors) is protected
    assert "branch" not in rules.decide(situation(action="commit", role="admin",
                                                  branch="main")).floors


def test_unknown_roles_map_and_true_is_not_one() -> None:
    rules = engine()
    assert rules.role_of(situation(role="contractor")) == "guest"
    assert rules.decide(situation(bulk=1)).floors == ()  # only the JSON true is true


def test_trust_is_the_weakest_dimension_with_inclusive_thresholds() -> None:
    scale = engine().scale
    assert scale.level(0.7).value == "high"
    assert scale.level(0.69).value == "medium"
    assert scale.level(0.4).value == "medium"
    assert scale.level(0.39).value == "low"
    assert situation(trust=0.9, integrity=0.5).trust_score == 0.5


@pytest.mark.parametrize(("text", "fragment"), [
    ("version: 1\nname: t\nroles: {known: [a], unknown_as: a}\nbase:\n"
     "  - {id: x, description: d, when: {colour: red}, decision: allow}\n", "unknown field"),
    ("version: 1\nname: t\nroles: {known: [a], unknown_as: a}\nbase:\n"
     "  - {id: x, description: d, when: {trust: {about: 1}}, decision: allow}\n", "operators"),
    ("version: 1\nname: t\nroles: {known: [a], unknown_as: a}\nbase:\n"
     "  - {id: x, description: d, decision: perhaps}\n", "base.0.decision"),
    ("version: 1\nname: t\nroles: {known: [a], unknown_as: b}\nbase:\n"
     "  - {id: x, description: d, decision: allow}\n", "unknown_as 'b'"),
    ("version: 1\nname: t\nroles: {known: [a], unknown_as: a}\nbase:\n"
     "  - {id: x, description: d, decision: allow}\n  - {id: x, description: d, decision: deny}"
     "\n", "repeated"),
    ("[not, a, mapping]", "must be a mapping"),
])
def test_bad_rules_files_name_the_problem(text: str, fragment: str) -> None:
    with pytest.raises(RulesError, match="test") as caught:
        parse_rules(text, "test")
    assert fragment in str(caught.value)


def test_shipped_rules_decide_every_suite_case_as_the_written_policy() -> None:
    """A floor: the default current engine encodes POLICY.md, which the suite was written
    from by hand; a disagreement is a bug in one of them."""
    rules = load_rules()
    wrong = [case.id for case in load_suite()
             if rules.decide(case.situation).decision is not case.expected]
    assert wrong == []


def test_summary_for_an_action_leaves_out_rules_that_cannot_apply() -> None:
    rules = load_rules()
    deploy = rules.summary("deploy")
    assert "deploying" in deploy.lower() and "Reading" not in deploy
    assert "Integrity below 0.3" in deploy  # floors without an action type always apply
    assert len(rules.summary()) > len(deploy)
