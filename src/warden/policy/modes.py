"""What a mode does with a decision: pure functions, no I/O.

    shadow    the current engine's decision is enforced; the advisor's is only compared
    advisory  a human reviewer decides; until then the answer is require_attestation
    enforce   the advisor's decision is enforced, through the fail-safe

The fail-safe (seed 004: "zero wrong allows on high-risk actions"): on a high-risk action an
advisor `allow` that the current engine does not allow becomes `require_attestation`. When
the advisor failed (timeout, engine error), the current engine's decision stands.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from warden.config.advisory import PINNED_ADVISORY
from warden.policy.decision import Decision, Mode


@dataclass(frozen=True)
class Enforcement:
    decision: Decision
    requires_human: bool
    fail_safe: bool = False  # the fail-safe replaced the advisor's allow


def fail_safe(advisor: Decision, current: Decision, risk_tier: str,
              fail_safe_tiers: Collection[str]) -> tuple[Decision, bool]:
    """The advisor's decision after the fail-safe, and whether the fail-safe changed it."""
    if (risk_tier in fail_safe_tiers and advisor is Decision.ALLOW
            and current is not Decision.ALLOW):
        return Decision.REQUIRE_ATTESTATION, True
    return advisor, False


def enforce(mode: Mode, advisor: Decision | None, current: Decision, risk_tier: str,
            fail_safe_tiers: Collection[str]) -> Enforcement:
    if mode is Mode.SHADOW:
        return Enforcement(current, requires_human=False)
    if mode is Mode.ADVISORY:
        return Enforcement(Decision.REQUIRE_ATTESTATION, requires_human=True)
    if advisor is None:
        return Enforcement(current, requires_human=False)
    decision, changed = fail_safe(advisor, current, risk_tier, fail_safe_tiers)
    return Enforcement(decision, requires_human=False, fail_safe=changed)


def effective_mode(action_type: str, stored: Mode) -> Mode:
    """Admin actions always wait for a human, whatever a store row says."""
    return Mode.ADVISORY if action_type == PINNED_ADVISORY else stored


def initial_mode(action_type: str) -> Mode:
    return Mode.ADVISORY if action_type == PINNED_ADVISORY else Mode.SHADOW
