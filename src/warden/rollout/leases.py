"""Job leases and runs in the store: one replica runs a scheduled job at a time.

A lease is a row (job, holder, expires_at). Taking it succeeds when there is none, when it
expired, or when the taker already holds it (a renewal); the write is serialised across
replicas (PostgreSQL advisory lock; SQLite's single writer), so two replicas never both
believe they hold it. A holder that dies leaves a lease that expires after `lease_s`.
Every run is recorded (job, holder, start, end, status, detail, incident).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from warden.rollout.tables import ScheduleLeaseRow, ScheduleRunRow
from warden.store.db import Database
from warden.store.retry import write_retrying

_PG_LEASE_LOCK = 0x57A2D8  # any constant: lease writes queue on it across replicas


def _aware(ts: datetime | None) -> datetime | None:
    if ts is None:
        return None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


@dataclass(frozen=True)
class RunView:
    id: int
    job: str
    holder: str
    started_at: datetime
    finished_at: datetime | None
    status: str  # running | ok | failed | error
    detail: dict[str, Any]
    incident_id: str | None

    def plain(self) -> dict[str, Any]:
        return {"id": self.id, "job": self.job, "holder": self.holder,
                "started_at": self.started_at.isoformat(),
                "finished_at": self.finished_at.isoformat() if self.finished_at else None,
                "status": self.status, "detail": self.detail, "incident_id": self.incident_id}

    @classmethod
    def of(cls, row: ScheduleRunRow) -> RunView:
        started = _aware(row.started_at)
        assert started is not None
        return cls(row.id, row.job, row.holder, started, _aware(row.finished_at), row.status,
                   dict(row.detail or {}), row.incident_id)


class JobStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # leases ------------------------------------------------------------------------------
    def acquire(self, job: str, holder: str, lease_s: float,
                now: datetime | None = None) -> bool:
        def work(session: Session) -> bool:
            at = now or datetime.now(UTC)
            row = session.get(ScheduleLeaseRow, job)
            if row is not None and row.holder != holder and \
                    (_aware(row.expires_at) or at) > at:
                return False
            expires = at + timedelta(seconds=lease_s)
            if row is None:
                session.add(ScheduleLeaseRow(job=job, holder=holder, acquired_at=at,
                                             expires_at=expires))
            else:
                if row.holder != holder:
                    row.holder, row.acquired_at = holder, at
                row.expires_at = expires
            return True

        return write_retrying(self.db, work, pg_lock=_PG_LEASE_LOCK)

    def release(self, job: str, holder: str) -> None:
        def work(session: Session) -> None:
            row = session.get(ScheduleLeaseRow, job)
            if row is not None and row.holder == holder:
                session.delete(row)

        write_retrying(self.db, work, pg_lock=_PG_LEASE_LOCK)

    def leases(self) -> list[dict[str, Any]]:
        with self.db.session() as session:
            return [{"job": r.job, "holder": r.holder,
                     "expires_at": (_aware(r.expires_at) or r.expires_at).isoformat()}
                    for r in session.scalars(select(ScheduleLeaseRow))]

    # runs --------------------------------------------------------------------------------
    def start_run(self, job: str, holder: str) -> int:
        with self.db.session() as session:
            row = ScheduleRunRow(job=job, holder=holder, started_at=datetime.now(UTC),
                                 status="running", detail={})
            session.add(row)
            session.commit()
            return row.id

    def finish_run(self, run_id: int, status: str, detail: dict[str, Any],
                   incident_id: str | None = None) -> None:
        with self.db.session() as session:
            row = session.get(ScheduleRunRow, run_id)
            if row is None:
                return
            row.status, row.detail, row.incident_id = status, detail, incident_id
            row.finished_at = datetime.now(UTC)
            session.commit()

    def last_started(self, job: str) -> datetime | None:
        with self.db.session() as session:
            return _aware(session.scalar(select(func.max(ScheduleRunRow.started_at))
                                         .where(ScheduleRunRow.job == job)))

    def runs(self, job: str | None = None, limit: int = 50) -> list[RunView]:
        query = select(ScheduleRunRow).order_by(ScheduleRunRow.id.desc()).limit(limit)
        if job is not None:
            query = query.where(ScheduleRunRow.job == job)
        with self.db.session() as session:
            return [RunView.of(r) for r in session.scalars(query)]

    def latest_per_job(self) -> list[RunView]:
        with self.db.session() as session:
            newest = select(func.max(ScheduleRunRow.id)).group_by(ScheduleRunRow.job)
            rows = session.scalars(select(ScheduleRunRow).where(ScheduleRunRow.id.in_(newest))
                                   .order_by(ScheduleRunRow.job))
            return [RunView.of(r) for r in rows]
