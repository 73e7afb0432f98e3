"""What each mode enforces, and the fail-safe on high-risk actions."""

from __future__ import annotations

import pytest

from warden.policy.decision import Decision, Mode, OverrideCategory, override_category
from warden.policy.modes import effective_mode, enforce, fail_safe

A, R, D = Decision.ALLOW, Decision.REQUIRE_ATTESTATION, Decision.DENY
HIGH = ("high", "critical")


@pytest.mark.parametrize("advisor", [A, R, D, None])
@pytest.mark.parametrize("current", [A, R, D])
def test_shadow_always_enforces_the_current_engine(advisor: Decision | None,
                                                   current: Decision) -> None:
    made = enforce(Mode.SHADOW, advisor, current, "high", HIGH)
    assert made.decision is current and not made.requires_human and not made.fail_safe


def test_advisory_waits_for_a_human() -> None:
    made = enforce(Mode.ADVISORY, A, A, "low", HIGH)
    assert made.decision is R and made.requires_human


def test_enforce_uses_the_advisor_and_falls_back_on_errors() -> None:
    assert enforce(Mode.ENFORCE, D, A, "low", HIGH).decision is D
    assert enforce(Mode.ENFORCE, A, D, "low", HIGH).decision is A  # low risk: no fail-safe
    assert enforce(Mode.ENFORCE, None, D, "low", HIGH).decision is D


@pytest.mark.parametrize("current", [R, D])
def test_fail_safe_turns_a_high_risk_allow_into_attestation(current: Decision) -> None:
    made = enforce(Mode.ENFORCE, A, current, "high", HIGH)
    assert made.decision is R and made.fail_safe


def test_fail_safe_leaves_agreeing_or_stricter_advice_alone() -> None:
    assert fail_safe(A, A, "high", HIGH) == (A, False)
    assert fail_safe(D, A, "high", HIGH) == (D, False)
    assert fail_safe(R, D, "high", HIGH) == (R, False)


def test_no_wrong_allow_on_high_risk_in_any_combination() -> None:
    for advisor in (A, R, D, None):
        for current in (R, D):
            made = enforce(Mode.ENFORCE, advisor, current, "high", HIGH)
            assert made.decision is not A


def test_admin_is_pinned_to_advisory() -> None:
    assert effective_mode("admin", Mode.ENFORCE) is Mode.ADVISORY
    assert effective_mode("admin", Mode.SHADOW) is Mode.ADVISORY
    assert effective_mode("read", Mode.ENFORCE) is Mode.ENFORCE


def test_override_categories_follow_strictness() -> None:
    assert override_category(D, A) is OverrideCategory.FALSE_POSITIVE  # advisor too strict
    assert override_category(A, D) is OverrideCategory.FALSE_NEGATIVE  # too permissive
    assert override_category(R, R) is None
