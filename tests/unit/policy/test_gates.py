"""Promotion gates: the conservative end of the Wilson interval, samples, days, order."""

from __future__ import annotations

from warden.config.advisory import AdvisoryConfig
from warden.policy.decision import Mode
from warden.policy.gates import Evidence, GateResult, promotion_gate
from warden.policy.measurement import Rate

CONFIG = AdvisoryConfig()
SHADOW_ALL = {a: Mode.SHADOW for a in ("read", "write", "commit", "deploy")}


def checks(result: GateResult) -> dict[str, bool]:
    return {c.name: c.passed for c in result.checks}


def test_agreement_gate_uses_the_lower_bound_not_the_point() -> None:
    # 86/100 = 86% > 80%, but its Wilson lower bound is 77.9%: not yet.
    result = promotion_gate("read", Mode.SHADOW, Evidence(Rate.of(86, 100, 0.95), 10),
                            CONFIG.action_policy("read"), SHADOW_ALL)
    assert not result.passed and checks(result)["agreement_lower_bound"] is False
    assert "lower bound 77.9%" in " ".join(result.reasons())
    # 92/100: lower bound 85.0% > 80%.
    result = promotion_gate("read", Mode.SHADOW, Evidence(Rate.of(92, 100, 0.95), 10),
                            CONFIG.action_policy("read"), SHADOW_ALL)
    assert result.passed and result.to_mode is Mode.ADVISORY


def test_samples_and_days_are_required() -> None:
    perfect_but_few = promotion_gate("read", Mode.SHADOW, Evidence(Rate.of(60, 60, 0.95), 10),
                                     CONFIG.action_policy("read"), SHADOW_ALL)
    assert checks(perfect_but_few) == {"min_samples": False, "min_days": True,
                                       "agreement_lower_bound": True}
    too_soon = promotion_gate("read", Mode.SHADOW, Evidence(Rate.of(200, 200, 0.95), 6.9),
                              CONFIG.action_policy("read"), SHADOW_ALL)
    assert checks(too_soon)["min_days"] is False and not too_soon.passed


def test_unmeasured_agreement_never_passes() -> None:
    result = promotion_gate("read", Mode.SHADOW, Evidence(Rate.of(0, 0, 0.95), 30),
                            CONFIG.action_policy("read"), SHADOW_ALL)
    assert not result.passed and "unmeasured" in " ".join(result.reasons())


def test_enforce_gate_uses_the_override_upper_bound_per_risk() -> None:
    modes = dict(SHADOW_ALL, read=Mode.ADVISORY)
    # 0 overrides in 100: upper bound 3.7% < 5% (read passes).
    zero = Evidence(Rate.of(0, 100, 0.95), 4)
    assert promotion_gate("read", Mode.ADVISORY, zero, CONFIG.action_policy("read"),
                          modes).passed
    # 2 in 100: 2% point, upper bound 7.0%: read (< 5%) refuses, write (< 10%) passes.
    two = Evidence(Rate.of(2, 100, 0.95), 4)
    assert not promotion_gate("read", Mode.ADVISORY, two, CONFIG.action_policy("read"),
                              modes).passed
    assert promotion_gate("write", Mode.ADVISORY, two, CONFIG.action_policy("write"),
                          dict(modes, write=Mode.ADVISORY)).passed


def test_deploy_enforces_only_after_the_others() -> None:
    evidence = Evidence(Rate.of(0, 500, 0.95), 30)
    waiting = promotion_gate("deploy", Mode.ADVISORY, evidence, CONFIG.action_policy("deploy"),
                             {"read": Mode.ENFORCE, "write": Mode.ENFORCE,
                              "commit": Mode.ADVISORY, "deploy": Mode.ADVISORY})
    assert checks(waiting)["requires_enforced"] is False
    assert "commit not yet" in " ".join(waiting.reasons())
    ready = promotion_gate("deploy", Mode.ADVISORY, evidence, CONFIG.action_policy("deploy"),
                           {"read": Mode.ENFORCE, "write": Mode.ENFORCE,
                            "commit": Mode.ENFORCE, "deploy": Mode.ADVISORY})
    assert ready.passed


def test_admin_is_refused_whatever_the_evidence() -> None:
    result = promotion_gate("admin", Mode.ADVISORY, Evidence(Rate.of(0, 10_000, 0.95), 365),
                            CONFIG.action_policy("admin"), SHADOW_ALL)
    assert not result.passed and "admin actions always stay" in result.refusal  # type: ignore[operator]


def test_enforced_has_nowhere_to_go() -> None:
    result = promotion_gate("read", Mode.ENFORCE, Evidence(Rate.of(0, 100, 0.95), 9),
                            CONFIG.action_policy("read"), SHADOW_ALL)
    assert not result.passed and result.to_mode is None


def test_config_keeps_admin_unpromotable_and_fills_defaults() -> None:
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="admin actions always stay"):
        AdvisoryConfig.model_validate({"actions": {"admin": {"risk_tier": "critical",
                                                             "to_enforce": {}}}})
    partial = AdvisoryConfig.model_validate({"actions": {"read": {"risk_tier": "medium"}}})
    assert partial.action_policy("read").risk_tier == "medium"
    assert partial.action_policy("deploy").risk_tier == "high"
