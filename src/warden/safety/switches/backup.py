"""Kill-switch state in backups: the backup module stores what `dump` returns as
sections/switches.json and hands it back to `restore` on an empty store."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, text

from warden.safety.switches.tables import SwitchEventRow, SwitchStateRow
from warden.store.db import Database

_STATE = ("name", "on", "reason", "actor", "changed_at", "incident_id", "event_id")
_EVENT = ("id", "name", "on", "reason", "actor", "at", "incident_id")
_TIMES = ("changed_at", "at")


def _plain(row: Any, columns: tuple[str, ...]) -> dict[str, Any]:
    out = {}
    for column in columns:
        value = getattr(row, column)
        out[column] = value.isoformat() if isinstance(value, datetime) else value
    return out


def _typed(raw: dict[str, Any]) -> dict[str, Any]:
    return {k: datetime.fromisoformat(v) if k in _TIMES and v else v for k, v in raw.items()}


def dump(db: Database) -> dict[str, Any]:
    with db.session() as session:
        state = [_plain(r, _STATE) for r in session.scalars(
            select(SwitchStateRow).order_by(SwitchStateRow.name))]
        events = [_plain(e, _EVENT) for e in session.scalars(
            select(SwitchEventRow).order_by(SwitchEventRow.id))]
    return {"format": 1, "state": state, "events": events}


def restore(db: Database, data: dict[str, Any]) -> None:
    """Replace the switch state and history with the backup's (one transaction)."""
    with db.session() as session:
        session.execute(delete(SwitchStateRow))
        session.execute(delete(SwitchEventRow))
        session.add_all(SwitchEventRow(**_typed(e)) for e in data.get("events", []))
        session.flush()
        session.add_all(SwitchStateRow(**_typed(s)) for s in data.get("state", []))
        if session.get_bind().dialect.name == "postgresql" and data.get("events"):
            # Rows came with their ids: move the sequence past them or the next flip collides.
            session.execute(text("SELECT setval(pg_get_serial_sequence('switch_events', 'id'), "
                                 "(SELECT max(id) FROM switch_events))"))
        session.commit()
