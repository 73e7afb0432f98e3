"""Metrics that live in the store, not in this process: read at scrape time, or by a watcher.

- `warden_incidents_open{kind}`: incidents not yet resolved (every replica reports the same
  store-wide number: aggregate with `max`, not `sum`).
- `warden_retrieval_quarantined_chunks_total{corpus}`: chunks quarantined as poisoned at
  ingest, over every version of the corpus (ingest runs in the CLI, so no server process
  sees it happen; the store remembers).
- `warden_audit_chain_intact`: 1 when the last periodic verification of the hash chain passed,
  0 when it found a break (the AuditChainBroken alert). Verifying reads every record, so it
  runs every `interval_s` in a worker thread, not on each scrape.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from warden.retrieval.tables import RetrievalVersion
from warden.store.audit import AuditLog
from warden.store.db import Database
from warden.store.models import Incident

log = logging.getLogger(__name__)


class StoreCollector(Collector):
    def __init__(self, db: Database) -> None:
        self._db = db

    def collect(self) -> Iterator[Metric]:
        incidents = GaugeMetricFamily("warden_incidents_open", "Incidents not yet resolved "
                                      "(store-wide).", labels=["kind"])
        quarantined = CounterMetricFamily("warden_retrieval_quarantined_chunks", "Chunks "
                                          "quarantined as poisoned at ingest, all versions.",
                                          labels=["corpus"])
        try:
            with self._db.session() as session:
                open_by_kind = session.execute(
                    select(Incident.kind, func.count()).where(Incident.status == "open")
                    .group_by(Incident.kind)).all()
                by_corpus = session.execute(
                    select(RetrievalVersion.corpus, func.sum(RetrievalVersion.quarantined_count))
                    .group_by(RetrievalVersion.corpus)).all()
        except Exception:  # a scrape must not fail because the store is down (readyz says so)
            log.warning("store metrics unavailable: the store did not answer")
            return
        for kind, count in open_by_kind:
            incidents.add_metric([kind], float(count))
        for corpus, count in by_corpus:
            quarantined.add_metric([corpus], float(count or 0))
        yield incidents
        yield quarantined


class AuditChainWatch:
    """Verifies the audit chain now and then every `interval_s`; the gauge holds the result."""

    def __init__(self, audit: AuditLog, registry: CollectorRegistry,
                 interval_s: float = 600.0) -> None:
        self._audit = audit
        self._interval_s = interval_s
        self.intact = Gauge("warden_audit_chain_intact", "1 when the last periodic audit "
                            "chain verification passed, 0 when it found a break.",
                            registry=registry)
        self._task: asyncio.Task[None] | None = None

    def check(self) -> bool:
        checked, problem = self._audit.verify()
        self.intact.set(0.0 if problem is not None else 1.0)
        if problem is not None:
            log.error("audit chain broken after %d records: %s", checked, problem)
        return problem is None

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.check)
            except Exception:  # the store is down: keep the last result, try again later
                log.warning("audit chain verification could not run; retrying later")
            await asyncio.sleep(self._interval_s)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
