"""Refreshing the pool from reviewer corrections and activating a variant (back to shadow)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.unit.policy.test_control import make, record

from warden.policy import variants
from warden.policy.decision import Decision, Mode
from warden.policy.feedback import RefreshRefused
from warden.policy.rules import load_rules
from warden.store.audit import AuditLog
from warden.store.db import Database


def test_refresh_then_activate_starts_over_in_shadow(db: Database, tmp_path: Path) -> None:
    control, _ = make(db, min_corrections=3)
    ids = record(control, 4, mode=Mode.ADVISORY, advisor="allow")
    control.decide(ids[0], "r", Decision.DENY, "needs approval", None)
    control.decide(ids[1], "r", Decision.DENY, None, None)
    control.decide(ids[2], "r", Decision.ALLOW, None, None)  # agreement, not a correction
    with pytest.raises(RefreshRefused, match="2 corrections"):
        variants.refresh(control, load_rules(), tmp_path, None, "admin-key")
    control.decide(ids[3], "r", Decision.REQUIRE_ATTESTATION, None, None)
    made = variants.refresh(control, load_rules(), tmp_path, None, "admin-key")
    assert made["name"] == "v4-hybrid.r1" and made["corrections"] == 3
    assert control.active_variant() == "v4-hybrid"  # refreshed, not yet active

    control.store.set_mode("read", Mode.ENFORCE, kind="promote", actor="t", reason=None,
                           evidence={})
    activated = variants.activate(control, load_rules(), tmp_path, "v4-hybrid.r1", "admin-key")
    assert activated["previous"] == "v4-hybrid"
    assert control.active_variant() == "v4-hybrid.r1"
    assert control.modes(fresh=True)["read"].mode is Mode.SHADOW
    kinds = [r.kind for r in AuditLog(db).records()]
    assert kinds.count("advisory.variant") == 2 and "advisory.rollback" in kinds
