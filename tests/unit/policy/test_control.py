"""The store and the rollout control on a real (migrated) SQLite database: review queue,
timeouts, promotion refusals, rollback, audit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from tests.unit.policy.helpers import situation

from warden.config.advisory import AdvisoryConfig
from warden.policy.control import AdvisoryControl, PromotionRefused
from warden.policy.decision import Decision, Mode, OverrideCategory
from warden.policy.store import AdvisoryConflict, AdvisoryNotFound, AdvisoryStore
from warden.policy.tables import AdvisoryDecisionRow
from warden.store.audit import AuditLog
from warden.store.db import Database


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 2, 9, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def make(db: Database, **overrides: object) -> tuple[AdvisoryControl, Clock]:
    clock = Clock()
    config = AdvisoryConfig.model_validate(overrides)
    return AdvisoryControl(config, AdvisoryStore(db, clock), AuditLog(db)), clock


def record(control: AdvisoryControl, n: int, *, mode: Mode, advisor: str = "allow",
           current: str = "allow", action: str = "read") -> list[str]:
    ids = []
    for _ in range(n):
        advisory_id = f"adv_{len(control.store.facts()):06d}"
        row = AdvisoryDecisionRow(
            id=advisory_id, created_at=control.store.clock(), action_type=action,
            actor_role="member", risk_tier="low", mode=mode.value,
            prompt_variant=control.active_variant(), prompt_hash="h", model="m",
            advisor_decision=advisor, reasoning="r", reasoning_hash="x",
            current_decision=current, current_source="rules",
            enforced_decision="require_attestation" if mode is Mode.ADVISORY else current,
            requires_human=mode is Mode.ADVISORY, fail_safe=False, error=None,
            latency_ms=10.0, situation=situation(action).plain(), key_id="k", request_id="r")
        control.store.record(row, 3600 if mode is Mode.ADVISORY else None)
        ids.append(advisory_id)
    return ids


def kinds(db: Database) -> list[str]:
    return [r.kind for r in AuditLog(db).records()]


def test_defaults_shadow_and_admin_advisory(db: Database) -> None:
    control, _ = make(db)
    modes = control.modes(fresh=True)
    assert {a: s.mode for a, s in modes.items()} == {
        "read": Mode.SHADOW, "write": Mode.SHADOW, "commit": Mode.SHADOW,
        "deploy": Mode.SHADOW, "admin": Mode.ADVISORY}


def test_promotion_refused_without_evidence_and_admin_never(db: Database) -> None:
    control, _ = make(db)
    with pytest.raises(PromotionRefused, match="need >= 100"):
        control.promote("read", "tester")
    with pytest.raises(PromotionRefused, match="admin actions always stay"):
        control.promote("admin", "tester")
    assert control.modes(fresh=True)["read"].mode is Mode.SHADOW
    assert "advisory.promote" not in kinds(db)


def test_promotion_after_the_gates_pass_is_audited(db: Database) -> None:
    control, clock = make(db, actions={"read": {"risk_tier": "low", "to_advisory": {
        "min_samples": 20, "min_days": 1}}})
    record(control, 20, mode=Mode.SHADOW)
    with pytest.raises(PromotionRefused, match="days in shadow"):
        control.promote("read", "tester")
    clock.now += timedelta(days=1, minutes=1)
    state, gate = control.promote("read", "tester")
    assert state.mode is Mode.ADVISORY and gate.passed
    assert kinds(db)[-1] == "advisory.promote"
    # Evidence restarts in the new mode: nothing reviewed yet.
    assert control.gate("read").evidence["rate"]["n"] == 0  # type: ignore[index]


def test_disagreement_keeps_the_gate_closed(db: Database) -> None:
    control, _ = make(db, actions={"read": {"risk_tier": "low", "to_advisory": {
        "min_samples": 20, "min_days": 0}}})
    record(control, 15, mode=Mode.SHADOW)
    record(control, 5, mode=Mode.SHADOW, advisor="deny")  # 75% agreement
    with pytest.raises(PromotionRefused, match=r"agreement 75\.0%"):
        control.promote("read", "tester")


def test_rollback_is_instant_audited_and_keeps_admin_advisory(db: Database) -> None:
    control, _ = make(db)
    control.store.set_mode("read", Mode.ENFORCE, kind="promote", actor="t", reason=None,
                           evidence={})
    changes = control.rollback(["read", "write", "admin"], "tester", "bad allows")
    assert [(c["action_type"], c["to"], c["changed"]) for c in changes] == [
        ("read", "shadow", True), ("write", "shadow", False), ("admin", "advisory", False)]
    assert control.modes()["read"].mode is Mode.SHADOW
    assert kinds(db).count("advisory.rollback") == 1
    payload = next(r.payload for r in AuditLog(db).records() if r.kind == "advisory.rollback")
    assert "bad allows" not in str(payload)  # the reason is hashed, never stored in clear


def test_review_override_changes_the_override_rate(db: Database) -> None:
    control, _ = make(db)
    ids = record(control, 3, mode=Mode.ADVISORY, advisor="allow")
    control.decide(ids[0], "reviewer-1", Decision.ALLOW, None, None)
    control.decide(ids[1], "reviewer-1", Decision.ALLOW, "fine", None)
    before = control.stats()["by_action"]["read"]["override_rate"]
    review = control.decide(ids[2], "reviewer-1", Decision.DENY, "customer data", None)
    after = control.stats()["by_action"]["read"]["override_rate"]
    assert (before["successes"], before["n"]) == (0, 2)
    assert (after["successes"], after["n"]) == (1, 3)
    assert review.override and review.category == OverrideCategory.FALSE_NEGATIVE.value
    assert control.record(ids[2])[0]["enforced_decision"] == "deny"  # type: ignore[index]
    assert kinds(db).count("advisory.review") == 3


def test_reviews_are_final_and_must_exist(db: Database) -> None:
    control, _ = make(db)
    [advisory_id] = record(control, 1, mode=Mode.ADVISORY)
    control.decide(advisory_id, "r", Decision.DENY, None, OverrideCategory.UNCLEAR)
    with pytest.raises(AdvisoryConflict, match="already resolved"):
        control.decide(advisory_id, "r", Decision.ALLOW, None, None)
    with pytest.raises(AdvisoryNotFound):
        control.decide("adv_nope", "r", Decision.ALLOW, None, None)
    [agreeing] = record(control, 1, mode=Mode.ADVISORY)
    with pytest.raises(AdvisoryConflict, match="only for overrides"):
        control.decide(agreeing, "r", Decision.ALLOW, None, OverrideCategory.UNCLEAR)


def test_overdue_reviews_resolve_to_the_safe_decision(db: Database) -> None:
    control, clock = make(db)
    [advisory_id] = record(control, 1, mode=Mode.ADVISORY)
    assert len(control.reviews("pending")) == 1
    clock.now += timedelta(hours=2)  # the test records use a one-hour timeout
    assert control.reviews("pending") == []
    [timed_out] = control.reviews("timed_out")
    assert timed_out["human_decision"] == "deny" and timed_out["reviewer"] == "timeout"
    assert control.record(advisory_id)[0]["enforced_decision"] == "deny"  # type: ignore[index]
    # A timeout is not a human judgment: no override sample.
    assert control.stats()["overall"]["override_rate"]["n"] == 0


def test_shift_uses_the_first_decisions_as_baseline(db: Database) -> None:
    control, clock = make(db, shift={"baseline_size": 30, "min_samples": 30})
    record(control, 30, mode=Mode.SHADOW, advisor="allow")
    clock.now += timedelta(minutes=1)
    record(control, 30, mode=Mode.SHADOW, advisor="allow")
    assert control.shift().verdict.value == "ok"
    clock.now += timedelta(minutes=1)
    record(control, 30, mode=Mode.SHADOW, advisor="deny")
    shifted = control.shift()
    assert shifted.verdict.value == "alert" and shifted.largest in ("allow", "deny")
    stats = control.stats()
    assert stats["shift"]["verdict"] == "alert"
    assert stats["overall"]["decisions"] == 90
