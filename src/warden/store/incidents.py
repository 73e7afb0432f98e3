"""Incidents: opened by safety escalations (and later by automatic triggers), each with a
timeline of events. Summaries never hold raw user text."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from warden.store.db import Database
from warden.store.models import Incident, IncidentEvent


@dataclass(frozen=True)
class IncidentView:
    id: str
    opened_at: datetime
    kind: str
    severity: str
    status: str
    summary: str
    request_id: str | None
    key_id: str | None
    resolved_at: datetime | None
    events: tuple[dict[str, Any], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, as the admin API and `warden incidents --json` show it."""
        return {"id": self.id, "opened_at": self.opened_at.isoformat(), "kind": self.kind,
                "severity": self.severity, "status": self.status, "summary": self.summary,
                "request_id": self.request_id, "key_id": self.key_id,
                "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
                "events": list(self.events)}


def _view(row: Incident, events: list[IncidentEvent] | None = None) -> IncidentView:
    return IncidentView(row.id, row.opened_at, row.kind, row.severity, row.status, row.summary,
                        row.request_id, row.key_id, row.resolved_at,
                        tuple({"ts": e.ts.isoformat(), "kind": e.kind, "actor": e.actor,
                               "detail": e.detail} for e in events or ()))


class IncidentNotFound(LookupError):
    pass


class Incidents:
    def __init__(self, db: Database) -> None:
        self._db = db

    @staticmethod
    def new_id() -> str:
        return f"inc_{secrets.token_hex(6)}"

    def open(self, kind: str, severity: str, summary: str, *, actor: str,
             request_id: str | None = None, key_id: str | None = None,
             detail: dict[str, Any] | None = None, incident_id: str | None = None) -> str:
        """Open an incident; `incident_id` (from `new_id`) when the caller had to name it
        first, e.g. on the switch it turned off."""
        incident_id = incident_id or self.new_id()
        now = datetime.now(UTC)
        with self._db.session() as session:
            session.add(Incident(id=incident_id, opened_at=now, kind=kind, severity=severity,
                                 status="open", summary=summary, request_id=request_id,
                                 key_id=key_id))
            session.add(IncidentEvent(incident_id=incident_id, ts=now, kind="opened",
                                      actor=actor, detail=detail or {}))
            session.commit()
        return incident_id

    def add_event(self, incident_id: str, kind: str, actor: str,
                  detail: dict[str, Any] | None = None) -> None:
        with self._db.session() as session:
            if session.get(Incident, incident_id) is None:
                raise IncidentNotFound(incident_id)
            session.add(IncidentEvent(incident_id=incident_id, ts=datetime.now(UTC), kind=kind,
                                      actor=actor, detail=detail or {}))
            session.commit()

    def resolve(self, incident_id: str, actor: str, note: str) -> IncidentView:
        with self._db.session() as session:
            row = session.get(Incident, incident_id)
            if row is None:
                raise IncidentNotFound(incident_id)
            row.status, row.resolved_at = "resolved", datetime.now(UTC)
            session.add(IncidentEvent(incident_id=incident_id, ts=row.resolved_at,
                                      kind="resolved", actor=actor, detail={"note": note}))
            session.commit()
        return self.get(incident_id)

    def get(self, incident_id: str) -> IncidentView:
        with self._db.session() as session:
            row = session.get(Incident, incident_id)
            if row is None:
                raise IncidentNotFound(incident_id)
            events = list(session.scalars(select(IncidentEvent).where(
                IncidentEvent.incident_id == incident_id).order_by(IncidentEvent.id)))
            return _view(row, events)

    def list(self, status: str | None = None, limit: int = 100) -> list[IncidentView]:
        with self._db.session() as session:
            query = select(Incident).order_by(Incident.opened_at.desc()).limit(limit)
            if status:
                query = query.where(Incident.status == status)
            return [_view(r) for r in session.scalars(query)]
