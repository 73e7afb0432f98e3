"""Promotion gates (pure): may an action type move one step up, shadow -> advisory -> enforce?

Every gate judges the evidence gathered since the action type entered its current mode, with
the active prompt variant, and uses the conservative end of the Wilson interval, never the
point estimate:

    shadow -> advisory    agreement's lower bound > min_agreement
    advisory -> enforce   override rate's upper bound < max_override_rate (the same as the
                          reviewers' agreement having its lower bound above 1 - max)

plus a minimum number of samples and of days in the mode, and for enforce the action types
that must be enforced first (deploy after read, write and commit). Admin never promotes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from warden.config.advisory import PINNED_ADVISORY, ActionPolicyConfig
from warden.policy.decision import Mode
from warden.policy.measurement import Rate


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str

    def plain(self) -> dict[str, object]:
        return {"name": self.name, "passed": self.passed, "detail": self.detail}


@dataclass(frozen=True)
class Evidence:
    """What an action type gathered in its current mode."""

    rate: Rate          # agreement (in shadow) or override rate (in advisory)
    days_in_mode: float


@dataclass(frozen=True)
class GateResult:
    action_type: str
    from_mode: Mode
    to_mode: Mode | None
    checks: tuple[Check, ...] = ()
    refusal: str | None = None  # a promotion that can never happen from here
    evidence: dict[str, object] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.refusal is None and self.to_mode is not None and all(
            c.passed for c in self.checks)

    def reasons(self) -> list[str]:
        if self.refusal:
            return [self.refusal]
        return [c.detail for c in self.checks if not c.passed]

    def plain(self) -> dict[str, object]:
        return {"action_type": self.action_type, "from": self.from_mode.value,
                "to": self.to_mode.value if self.to_mode else None, "passed": self.passed,
                "refusal": self.refusal, "checks": [c.plain() for c in self.checks],
                "evidence": self.evidence}


def _samples(rate: Rate, minimum: int, what: str) -> Check:
    return Check("min_samples", rate.n >= minimum,
                 f"{rate.n} {what} (need >= {minimum})")


def _days(days: float, minimum: float, mode: Mode) -> Check:
    return Check("min_days", days >= minimum,
                 f"{days:.2f} days in {mode.value} (need >= {minimum:g})")


def promotion_gate(action_type: str, mode: Mode, evidence: Evidence,
                   policy: ActionPolicyConfig, modes: Mapping[str, Mode]) -> GateResult:
    facts: dict[str, object] = {"rate": evidence.rate.plain(),
                                "days_in_mode": round(evidence.days_in_mode, 3)}
    target = mode.next()
    if action_type == PINNED_ADVISORY:
        return GateResult(action_type, mode, target, refusal="admin actions always stay "
                          "with a human reviewer (advisory); they are never promoted",
                          evidence=facts)
    if target is None:
        return GateResult(action_type, mode, None, refusal=f"{action_type} is already "
                          "enforced; there is no further mode", evidence=facts)
    rate = evidence.rate
    if target is Mode.ADVISORY:
        gate = policy.to_advisory
        interval = rate.interval
        checks: tuple[Check, ...] = (
            _samples(rate, gate.min_samples, "shadow decisions"),
            _days(evidence.days_in_mode, gate.min_days, mode),
            Check("agreement_lower_bound", False, "agreement unmeasured (no shadow decisions)")
            if interval is None else
            Check("agreement_lower_bound", interval.low > gate.min_agreement,
                  f"agreement {interval.point:.1%}, lower bound {interval.low:.1%} "
                  f"(need > {gate.min_agreement:.0%})"),
        )
        return GateResult(action_type, mode, target, checks, evidence=facts)
    enforce_gate = policy.to_enforce
    if enforce_gate is None:
        return GateResult(action_type, mode, target, refusal=f"{action_type} has no enforce "
                          "gate (advisory.actions.{action_type}.to_enforce is null)",
                          evidence=facts)
    interval = rate.interval
    waiting = [a for a in enforce_gate.requires_enforced if modes.get(a) is not Mode.ENFORCE]
    checks = (
        _samples(rate, enforce_gate.min_samples, "reviewed decisions"),
        _days(evidence.days_in_mode, enforce_gate.min_days, mode),
        Check("override_upper_bound", False, "override rate unmeasured (no reviews)")
        if interval is None else
        Check("override_upper_bound", interval.high < enforce_gate.max_override_rate,
              f"override rate {interval.point:.1%}, upper bound {interval.high:.1%} "
              f"(need < {enforce_gate.max_override_rate:.0%})"),
        Check("requires_enforced", not waiting,
              "enforced first: " + (", ".join(waiting) + " not yet" if waiting else "all")),
    )
    return GateResult(action_type, mode, target, checks, evidence=facts)
