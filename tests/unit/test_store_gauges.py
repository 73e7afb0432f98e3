"""Store-wide gauges: open incidents, quarantined chunks, and the audit chain watch."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry, generate_latest

from warden.api.store_gauges import AuditChainWatch, StoreCollector
from warden.rollout.metrics import RolloutMetrics
from warden.store.audit import AuditLog
from warden.store.db import Database
from warden.store.incidents import Incidents
from warden.store.models import AuditRecord


def _scrape(registry: CollectorRegistry) -> str:
    return generate_latest(registry).decode()


def test_open_incidents_are_counted_by_kind(db: Database) -> None:
    registry = CollectorRegistry()
    registry.register(StoreCollector(db))
    incidents = Incidents(db)
    first = incidents.open("safety.crisis", "high", "a", actor="guard")
    incidents.open("safety.crisis", "high", "b", actor="guard")
    incidents.open("rollout.rollback", "high", "c", actor="canary")
    assert 'warden_incidents_open{kind="safety.crisis"} 2.0' in _scrape(registry)
    incidents.resolve(first, "ops", "handled")
    text = _scrape(registry)
    assert 'warden_incidents_open{kind="safety.crisis"} 1.0' in text
    assert 'warden_incidents_open{kind="rollout.rollback"} 1.0' in text
    assert "# TYPE warden_retrieval_quarantined_chunks_total counter" in text


def test_the_watch_reports_a_broken_chain(db: Database) -> None:
    registry = CollectorRegistry()
    audit = AuditLog(db)
    for i in range(3):
        audit.append("test", "t", {"i": i})
    watch = AuditChainWatch(audit, registry)
    assert watch.check() and "warden_audit_chain_intact 1.0" in _scrape(registry)
    with db.session() as session:
        row = session.get(AuditRecord, 2)
        assert row is not None
        row.payload = {"i": "forged"}
        session.commit()
    assert not watch.check() and "warden_audit_chain_intact 0.0" in _scrape(registry)


def test_the_watch_runs_in_the_background_and_stops(db: Database) -> None:
    async def run() -> str:
        registry = CollectorRegistry()
        watch = AuditChainWatch(AuditLog(db), registry, interval_s=0.05)
        watch.start()
        await asyncio.sleep(0.3)
        await watch.stop()
        return _scrape(registry)

    assert "warden_audit_chain_intact 1.0" in asyncio.run(run())


def test_arm_weights_follow_the_routed_share() -> None:
    registry = CollectorRegistry()
    metrics = RolloutMetrics(registry)
    metrics.set_weights("docs", challenger_share=0.1)
    text = _scrape(registry)
    assert 'warden_rollout_arm_weight{arm="champion",rollout="docs"} 0.9' in text
    assert 'warden_rollout_arm_weight{arm="challenger",rollout="docs"} 0.1' in text
