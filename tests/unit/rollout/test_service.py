"""Start, promote and roll back against a real store, real index versions, the real audit
chain and real incidents. Only the engine is a stand-in (a real one cannot be asked to have
or lack clear_prefix_cache on demand)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from warden.retrieval.service import Retrieval
from warden.rollout.arms import Arm, RolloutError
from warden.rollout.service import ChallengerRequest, RolloutService
from warden.rollout.state import Status
from warden.store.db import Database
from warden.store.models import AuditRecord

from .conftest import CORPUS, MODEL, ClearableEngine


def audit_kinds(db: Database) -> list[str]:
    with db.session() as session:
        return [r.kind for r in session.query(AuditRecord).order_by(AuditRecord.seq)]


def test_start_pins_the_champion_to_the_versions_it_serves(
        service: RolloutService, versions: tuple[int, int], db: Database) -> None:
    v1, v2 = versions
    state = service.start("assistant", ChallengerRequest(indexes={CORPUS: v2}), share=0.5,
                          mode="ab", actor="admin1", reason="new index")
    assert state.status is Status.RUNNING and state.share == 0.5
    assert state.champion.indexes == {CORPUS: v1}
    assert state.challenger == Arm(MODEL, None, None, {CORPUS: v2})
    assert service.view.get("assistant") == state  # this replica uses it at once
    assert "rollout.start" in audit_kinds(db)


def test_start_refuses_what_cannot_be_served(service: RolloutService,
                                             versions: tuple[int, int]) -> None:
    _, v2 = versions
    with pytest.raises(RolloutError, match="the challenger is the champion"):
        service.start("assistant", ChallengerRequest(), share=0.5, mode="ab", actor="a")
    with pytest.raises(RolloutError, match="version 99 is unknown"):
        service.start("assistant", ChallengerRequest(indexes={CORPUS: 99}), share=0.5,
                      mode="ab", actor="a")
    with pytest.raises(RolloutError, match=f"version {v2} belongs to corpus '{CORPUS}'"):
        service.start("assistant", ChallengerRequest(indexes={"other": v2}), share=0.5,
                      mode="ab", actor="a")
    with pytest.raises(RolloutError, match="'nope' is not a configured model"):
        service.start("assistant", ChallengerRequest(model="nope"), share=0.5, mode="ab",
                      actor="a")
    with pytest.raises(RolloutError, match="no rollout 'other'"):
        service.start("other", None, share=None, mode=None, actor="a")
    service.start("assistant", ChallengerRequest(prompt="terse"), share=0.1, mode="ab",
                  actor="a")
    with pytest.raises(RolloutError, match="already has a running challenger"):
        service.start("assistant", ChallengerRequest(indexes={CORPUS: v2}), share=0.1,
                      mode="ab", actor="a")


def test_rollback_routes_to_the_champion_flips_pointers_clears_caches_opens_an_incident(
        service: RolloutService, versions: tuple[int, int], retrieval: Retrieval,
        engine: ClearableEngine, db: Database) -> None:
    v1, v2 = versions
    service.start("assistant", ChallengerRequest(indexes={CORPUS: v2}), share=0.5,
                  mode="ab", actor="admin1")
    retrieval.activate(v2, "operator")  # someone pointed the corpus at the candidate
    state, steps = service.rollback("assistant", "canary", reason="canary fail: oracle",
                                    evidence={"verdict_id": 7}, automatic=True)
    assert state.status is Status.ROLLED_BACK and state.live_challenger is None
    assert retrieval.versions.active(CORPUS) == v1
    by_step = {s["step"]: s for s in steps.steps}
    assert by_step["pointer"]["outcome"] == "flipped"
    assert by_step["pointer"]["detail"] == {"corpus": CORPUS, "from": v2, "to": v1}
    caches = by_step["caches"]["detail"]
    assert caches["retrieval_pointer"]["outcome"] == "cleared"
    assert caches["prefix_cache:m"]["outcome"] == "cleared" and engine.cleared == 1
    assert caches["prefix_cache:old"]["outcome"] == "unsupported"
    incident = service.incidents.get(state.incident_id or "")
    assert incident.kind == "rollout.rollback" and incident.severity == "high"
    assert incident.events[0]["detail"]["evidence"] == {"verdict_id": 7}
    assert audit_kinds(db)[-1] == "rollout.rollback"
    assert steps.ok
    seq = service.record_verification("assistant", "canary", {"matches_baseline": True})
    assert audit_kinds(db)[-1] == "rollout.rollback.verified" and seq > 0
    assert service.incidents.get(incident.id).events[-1]["kind"] == "smoke_rerun"
    with pytest.raises(RolloutError, match="nothing to roll back"):
        service.rollback("assistant", "admin1", reason="again")


def test_promotion_waits_for_the_canary_and_keeps_the_old_champion(
        service: RolloutService, versions: tuple[int, int], retrieval: Retrieval) -> None:
    v1, v2 = versions
    started = service.start("assistant", ChallengerRequest(indexes={CORPUS: v2}), share=0.5,
                            mode="ab", actor="admin1")
    assert started.challenger is not None
    with pytest.raises(RolloutError, match="no canary verdict yet"):
        service.promote("assistant", "admin1")
    service.verdicts.add("assistant", verdict="pass", score=100.0, action="continue",
                         champion_hash=started.champion.hash,
                         challenger_hash=started.challenger.hash, actor="canary", evidence={})
    with pytest.raises(RolloutError, match="passing for 0 s of the required 172800 s"):
        service.promote("assistant", "admin1")
    later = datetime.now(UTC) + timedelta(hours=49)
    service._clock = lambda: later  # 49 hours on: passing long enough
    promoted, steps = service.promote("assistant", "admin1", reason="passed 48 h")
    assert promoted.champion.indexes == {CORPUS: v2} and promoted.previous is not None
    assert retrieval.versions.active(CORPUS) == v2  # everyone else's traffic follows
    assert steps.steps[-1]["detail"] == {"corpus": CORPUS, "from": v1, "to": v2}
    back, _ = service.rollback("assistant", "admin1", reason="instant rollback")
    assert back.champion.indexes == {CORPUS: v1} and back.previous is None
    assert retrieval.versions.active(CORPUS) == v1


def test_forced_promotion_is_allowed_and_audited(service: RolloutService, db: Database
                                                 ) -> None:
    service.start("assistant", ChallengerRequest(prompt="terse"), share=0.2, mode="shadow",
                  actor="admin1")
    promoted, _ = service.promote("assistant", "admin1", force=True)
    assert promoted.champion.prompt == "terse"
    with db.session() as session:
        record = session.query(AuditRecord).order_by(AuditRecord.seq.desc()).first()
    assert record is not None and record.kind == "rollout.promote"
    assert record.payload["forced"] is True
