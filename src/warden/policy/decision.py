"""The advisory vocabulary: decisions and their strictness, modes, override categories."""

from __future__ import annotations

from enum import StrEnum


class Decision(StrEnum):
    ALLOW = "allow"
    REQUIRE_ATTESTATION = "require_attestation"
    DENY = "deny"

    @property
    def strictness(self) -> int:
        """allow < require_attestation < deny."""
        return _STRICTNESS[self]

    @classmethod
    def parse(cls, value: object, field: str = "decision") -> Decision:
        try:
            return cls(str(value))
        except ValueError:
            raise ValueError(f"{field} must be one of allow, deny, require_attestation; "
                             f"got {value!r}") from None


_STRICTNESS = {Decision.ALLOW: 0, Decision.REQUIRE_ATTESTATION: 1, Decision.DENY: 2}
DECISIONS: tuple[Decision, ...] = (Decision.ALLOW, Decision.REQUIRE_ATTESTATION, Decision.DENY)


def strictest(*decisions: Decision) -> Decision:
    if not decisions:
        raise ValueError("strictest() needs at least one decision")
    return max(decisions, key=lambda d: d.strictness)


class Mode(StrEnum):
    SHADOW = "shadow"      # the current engine decides; the advisor is logged and compared
    ADVISORY = "advisory"  # a human decides, seeing the advisor's recommendation
    ENFORCE = "enforce"    # the advisor decides (with the fail-safe on high-risk actions)

    @property
    def rank(self) -> int:
        return _RANK[self]

    def next(self) -> Mode | None:
        return {Mode.SHADOW: Mode.ADVISORY, Mode.ADVISORY: Mode.ENFORCE}.get(self)


_RANK = {Mode.SHADOW: 0, Mode.ADVISORY: 1, Mode.ENFORCE: 2}


class OverrideCategory(StrEnum):
    FALSE_POSITIVE = "false_positive"  # the advisor was too strict
    FALSE_NEGATIVE = "false_negative"  # the advisor was too permissive
    UNCLEAR = "unclear"                # the reviewer is unsure


def override_category(advisor: Decision, human: Decision) -> OverrideCategory | None:
    """None when the human agreed; else which way the advisor erred."""
    if advisor == human:
        return None
    if advisor.strictness > human.strictness:
        return OverrideCategory.FALSE_POSITIVE
    return OverrideCategory.FALSE_NEGATIVE


class ErrorKind(StrEnum):
    """Why the advisor gave no decision (the current engine's decision then stands)."""

    TIMEOUT = "timeout"
    ENGINE = "engine"        # the generation failed (engine, quota, guard block, ...)
    PARSE = "parse"          # output that does not validate (never expected: constrained)
    FILTERED = "filtered"    # the output guard withheld it or the output was cut off
