"""Release state rides along in backups: rollouts and advisory modes come back as they were."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from warden.backup.archive import SECTIONS
from warden.policy.tables import AdvisoryModeEventRow, AdvisoryModeRow
from warden.rollout.tables import RolloutEventRow, RolloutStateRow
from warden.store.db import Database, open_database

AT = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)


def _populate(db: Database) -> None:
    with db.session() as session:
        session.add(RolloutStateRow(
            name="chat", mode="ab", share=0.1, status="rolled_back",
            champion={"model": "a", "hash": "h1"}, challenger=None,
            previous={"model": "b", "hash": "h2"}, started_at=None, generation=7,
            updated_at=AT, updated_by="canary", reason="groundedness fell", incident_id=None))
        session.add(RolloutEventRow(rollout="chat", kind="rollback", actor="canary", at=AT,
                                    detail={"verdict": "fail"}))
        session.add(AdvisoryModeRow(action_type="read", mode="advisory", since=AT,
                                    actor="admin:k1", reason="gate passed"))
        session.add(AdvisoryModeEventRow(action_type="read", kind="promote", from_mode="shadow",
                                         to_mode="advisory", actor="admin:k1", reason=None,
                                         at=AT, evidence={"lower": 0.83}))
        session.commit()


def test_rollout_and_advisory_state_survive_a_restore(db: Database, tmp_path: Path) -> None:
    _populate(db)
    sections = {s.name: s for s in SECTIONS}
    dumped = {name: sections[name].dump(db) for name in ("rollouts", "advisory")}
    assert dumped["rollouts"]["tables"]["rollout_state"][0]["generation"] == 7
    target = open_database(f"sqlite:///{tmp_path}/restored.db")
    try:
        for name, data in dumped.items():
            sections[name].restore(target, data)
        assert {n: sections[n].dump(target) for n in dumped} == dumped
        with target.session() as session:  # ids continue after the restored ones
            session.add(RolloutEventRow(rollout="chat", kind="promote", actor="cli", at=AT,
                                        detail={}))
            session.commit()
        with target.session() as session:
            state = session.get(RolloutStateRow, "chat")
            assert state is not None and state.updated_at.replace(tzinfo=UTC) == AT
    finally:
        target.dispose()
